"""Widget endpoints (issue 5): loader, frame and preview pages, visitor sessions, and the visitor API.

Covers: origins enforced on every request (allowed site, Beacon's own pages, other sites 403, CORS
preflight), visitor tokens (missing, expired, tampered, another bot's, origin removed), visitor
continuity across page loads, identity verification (valid, invalid, partial, no carry-over),
conversations and messages (JSON and SSE, public citations only), feedback, rate limits and the
plan's message limit (429 + Retry-After), visitor and organization isolation (404), and bad input.
Real PostgreSQL, Redis and the offline answerer; nothing mocked.
"""

import json
import time
from unittest import mock

import pytest
from django.utils.html import escapejs
from rest_framework.test import APIClient

from apps.bots.tests.factories import BotFactory
from apps.conversations.models import Conversation, Message
from apps.conversations.tests.utils import close_unread, ingest
from apps.documents.tests import samples
from apps.organizations.models import Plan, Role
from apps.organizations.tests.factories import MembershipFactory, OrganizationFactory
from apps.widget import services as widget
from conftest import client_for

pytestmark = pytest.mark.django_db

SITE = "https://shop.example.com"
EVIL = "https://evil.example.com"


@pytest.fixture
def offline(settings):
    """No language model configured: the offline extractive answerer replies (tested for real)."""
    settings.OPENAI_API_KEY = None
    settings.OPENAI_BASE_URL = None


@pytest.fixture
def bot(offline):
    bot = BotFactory(
        allowed_origins=[SITE],
        greeting="Hello from the shop!",
        suggested_questions=["How long do refunds take?"],
        widget_theme={"color": "#16a34a", "position": "left", "icon": "help", "title": "Shop help"},
        min_score=0.3,
    )
    ingest(bot, "guide.pdf", samples.pdf())
    return bot


def browser(origin: str | None = SITE) -> APIClient:
    client = APIClient()
    if origin:
        client.credentials(HTTP_ORIGIN=origin)
    return client


def session(bot, origin=SITE, **body):
    return browser(origin).post(f"/widget/{bot.public_id}/session/", body, format="json")


def visitor(bot, origin=SITE, **body) -> APIClient:
    """A client holding a fresh visitor token of `bot`, calling like the iframe (Beacon's own origin)."""
    response = session(bot, origin, **body)
    assert response.status_code == 200, response.content
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Visitor {response.json()['token']}")
    client.visitor_id = response.json()["visitor_id"]
    return client


def error_code(response) -> str:
    return response.json()["error"]["code"]


# --------------------------------------------------------------------------- pages


def test_loader_script(bot):
    """The loader is JavaScript naming the bot and Beacon's address, and no secret."""
    response = APIClient().get(f"/widget/{bot.public_id}.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")
    body = response.content.decode()
    assert f'var BOT = "{escapejs(bot.public_id)}"' in body
    assert 'var BASE = "http://testserver"' in body
    assert bot.identity_secret not in body
    assert "public" in response["Cache-Control"]


def test_unknown_widget_pages_are_404(db):
    """Unknown or malformed public ids: 404 for the loader, frame and session (JSON for the API)."""
    assert APIClient().get("/widget/bot_doesnotexist123.js").status_code == 404
    assert APIClient().get("/widget/bot_doesnotexist123/frame/").status_code == 404
    response = browser().post("/widget/bot_doesnotexist123/session/", {}, format="json")
    assert response.status_code == 404
    assert error_code(response) == "not_found"
    response = browser().post("/widget/%C2%84/session/", {}, format="json")
    assert response.status_code == 404 and error_code(response) == "not_found"


def test_frame_page_is_framed_only_by_allowed_origins(bot):
    """The iframe page: CSP frame-ancestors = Beacon + the allowed sites, no inline script, theme applied."""
    response = APIClient().get(f"/widget/{bot.public_id}/frame/?lang=fr")
    assert response.status_code == 200
    csp = response["Content-Security-Policy"]
    assert f"frame-ancestors 'self' {SITE}" in csp
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp
    assert "X-Frame-Options" not in response
    html = response.content.decode()
    assert '<html lang="fr">' in html
    assert 'data-color="#16a34a"' in html
    assert "Hello from the shop!" in html and "How long do refunds take?" in html
    assert "<script>" not in html  # only the external frame.js


def test_frame_page_carries_the_restore_wait(bot, settings):
    """The frame reads how long a question waits for the conversation being restored from its page."""
    settings.WIDGET_RESTORE_WAIT_SECONDS = 2.5
    html = APIClient().get(f"/widget/{bot.public_id}/frame/").content.decode()
    assert 'data-restore-wait="2500"' in html
    settings.WIDGET_RESTORE_WAIT_SECONDS = 0
    assert 'data-restore-wait="0"' in APIClient().get(f"/widget/{bot.public_id}/frame/").content.decode()


def test_frame_page_carries_the_answer_idle_bound(bot, settings):
    """The frame reads how long a question waits for a sign of life from Beacon from its page."""
    settings.WIDGET_ANSWER_IDLE_SECONDS = 1.5
    html = APIClient().get(f"/widget/{bot.public_id}/frame/").content.decode()
    assert 'data-answer-idle="1500"' in html


def test_frame_page_escapes_bot_texts(offline):
    """A bot name or greeting with markup is shown as text, never run."""
    bot = BotFactory(name="<script>alert(1)</script>", greeting='<img src=x onerror="alert(2)">')
    html = APIClient().get(f"/widget/{bot.public_id}/frame/").content.decode()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html and "&lt;img src=x" in html


def test_preview_page_access(bot):
    """Preview: sign-in required; members of the bot's organization see it with the snippet; others 404."""
    url = f"/widget/{bot.public_id}/preview/"
    anonymous = APIClient().get(url)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/widget/sign-in/?next=")

    member = MembershipFactory(organization=bot.organization, role=Role.MEMBER).user
    client = APIClient()
    client.force_login(member)
    response = client.get(url)
    assert response.status_code == 200
    assert (
        f"&lt;script src=&quot;http://testserver/widget/{bot.public_id}.js&quot; async&gt;" in response.content.decode()
    )

    outsider = MembershipFactory(role=Role.OWNER).user
    client = APIClient()
    client.force_login(outsider)
    assert client.get(url).status_code == 404


def test_an_organization_member_signs_in_to_the_preview(bot, settings):
    """The bot API gives owners and members `widget_preview_url`; the preview's sign-in takes any active account (the
    admin's login, where it used to send them, refuses everyone who is not staff) and comes back to the preview. A
    wrong password is refused with the same sentence as an unknown account, and the login throttles apply."""
    from django.test import Client

    member = MembershipFactory(organization=bot.organization, role=Role.OWNER).user
    member.set_password("a-long-preview-passphrase")
    member.save()
    assert not member.is_staff
    url = f"/widget/{bot.public_id}/preview/"
    client = Client(enforce_csrf_checks=True)
    sign_in = client.get(url, follow=True)
    assert sign_in.redirect_chain == [(f"/widget/sign-in/?next={url}", 302)]
    assert sign_in.status_code == 200 and sign_in["X-Frame-Options"] == "DENY"
    csrf = sign_in.context["csrf_token"]

    def attempt(email, password):
        body = {"username": email, "password": password, "next": url, "csrfmiddlewaretoken": str(csrf)}
        return client.post(f"/widget/sign-in/?next={url}", body)

    for email, password in ((member.email, "wrong"), ("ghost@example.com", "wrong")):
        refused = attempt(email, password)
        assert (
            refused.status_code == 200
            and "Please enter a correct e-mail address and password" in refused.content.decode()
        )
    assert "_auth_user_id" not in client.session

    signed_in = attempt(member.email, "a-long-preview-passphrase")
    assert signed_in.status_code == 302 and signed_in["Location"] == url
    assert client.get(url).status_code == 200
    assert client.get("/admin/").status_code == 302  # still no admin for a member who is not staff
    elsewhere = Client().post(
        "/widget/sign-in/",
        {"username": member.email, "password": "a-long-preview-passphrase", "next": "https://evil.example.com/"},
    )
    assert elsewhere.status_code == 302 and elsewhere["Location"] == "/widget/sign-in/"  # never off the site

    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "login_account": "1/min"},
    }
    client = Client()
    client.post("/widget/sign-in/", {"username": member.email, "password": "wrong"})
    throttled = client.post("/widget/sign-in/", {"username": member.email, "password": "a-long-preview-passphrase"})
    assert "Too many login attempts." in throttled.content.decode()
    assert "_auth_user_id" not in client.session


# --------------------------------------------------------------------------- sessions and origins


def test_session_for_an_allowed_origin(bot):
    """An allowed site gets a token, the widget's look, and CORS headers naming it."""
    response = session(bot)
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"token", "expires_in", "visitor_id", "identified", "config"}
    assert body["expires_in"] == 3600 and body["identified"] is False and body["visitor_id"].startswith("v_")
    assert body["config"] == {
        "name": bot.name,
        "title": "Shop help",
        "greeting": "Hello from the shop!",
        "suggested_questions": ["How long do refunds take?"],
        "color": "#16a34a",
        "position": "left",
        "icon": "help",
    }
    assert response["Access-Control-Allow-Origin"] == SITE
    assert bot.identity_secret not in response.content.decode()


@pytest.mark.parametrize("origin", [EVIL, None, "null", "http://shop.example.com"])
def test_session_from_another_origin_is_403(bot, origin):
    """Other sites, a missing Origin, 'null' and another scheme get 403 and no CORS grant."""
    response = session(bot, origin)
    assert response.status_code == 403
    assert error_code(response) == "origin_not_allowed"
    assert "Access-Control-Allow-Origin" not in response


def test_empty_allow_list_admits_only_beacon(bot):
    """No allowed origins: only Beacon's own pages (the preview) get a session, and only for a
    signed-in member of the organization (or staff); anonymous and other organizations' users 403."""
    bot.allowed_origins = []
    bot.save()
    assert session(bot, SITE).status_code == 403
    anonymous = session(bot, "http://testserver")
    assert anonymous.status_code == 403 and error_code(anonymous) == "preview_sign_in_required"

    outsider = browser("http://testserver")
    outsider.force_login(MembershipFactory(role=Role.OWNER).user)
    assert outsider.post(f"/widget/{bot.public_id}/session/", {}, format="json").status_code == 403
    member = browser("http://testserver")
    member.force_login(MembershipFactory(organization=bot.organization, role=Role.MEMBER).user)
    response = member.post(f"/widget/{bot.public_id}/session/", {}, format="json")
    assert response.status_code == 200, response.content
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Visitor {response.json()['token']}")
    assert client.get(f"/widget/{bot.public_id}/conversation/").status_code == 200


def test_cors_preflight(bot):
    """OPTIONS: allowed origins get the go-ahead for POST with JSON and Authorization; others 403."""
    ok = browser(SITE).options(f"/widget/{bot.public_id}/session/")
    assert ok.status_code == 204
    assert ok["Access-Control-Allow-Origin"] == SITE
    assert "POST" in ok["Access-Control-Allow-Methods"]
    assert "Authorization" in ok["Access-Control-Allow-Headers"]
    denied = browser(EVIL).options(f"/widget/{bot.public_id}/session/")
    assert denied.status_code == 403
    assert "Access-Control-Allow-Origin" not in denied


def test_returning_visitor_keeps_their_id(bot, settings):
    """An earlier token (even expired) of the same bot and site continues the visitor; others do not."""
    first = session(bot).json()
    again = session(bot, visitor_token=first["token"]).json()
    assert again["visitor_id"] == first["visitor_id"]

    with mock.patch("time.time", return_value=time.time() - settings.WIDGET_TOKEN_TTL_SECONDS - 60):
        old, old_visitor = widget.visitor_token_issue(bot=bot, origin=SITE)
    assert session(bot, visitor_token=old).json()["visitor_id"] == old_visitor.visitor_id

    tampered = first["token"][:-2] + ("AA" if first["token"][-2:] != "AA" else "BB")
    assert session(bot, visitor_token=tampered).json()["visitor_id"] != first["visitor_id"]
    other_bot = BotFactory(organization=bot.organization, allowed_origins=[SITE])
    other_token = session(other_bot).json()["token"]
    assert session(bot, visitor_token=other_token).json()["visitor_id"] != session(other_bot).json()["visitor_id"]

    bot.allowed_origins = [SITE, "https://blog.example.com"]
    bot.save()
    assert (
        session(bot, "https://blog.example.com", visitor_token=first["token"]).json()["visitor_id"]
        != first["visitor_id"]
    )


def test_session_bad_input(bot):
    """Malformed JSON and wrong types are 400 with a message; nothing is created."""
    client = browser()
    response = client.post(f"/widget/{bot.public_id}/session/", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert "JSON" in response.json()["error"]["message"]
    response = client.post(f"/widget/{bot.public_id}/session/", {"user_id": ["a"]}, format="json")
    assert response.status_code == 400
    assert "user_id" in response.json()["error"]["message"]


def test_per_ip_limits_behind_a_proxy(bot, settings, rate_clock):
    """Behind BEACON_TRUSTED_PROXIES=1, visitors are counted by the address the proxy saw, not the
    proxy's own; a forged X-Forwarded-For prefix changes nothing."""
    settings.WIDGET_RATE_TOKEN_IP = "1/60"
    settings.TRUSTED_PROXIES = 1
    client = browser()
    url = f"/widget/{bot.public_id}/session/"
    first = client.post(url, {}, format="json", HTTP_X_FORWARDED_FOR="203.0.113.7", REMOTE_ADDR="10.0.0.2")
    other = client.post(url, {}, format="json", HTTP_X_FORWARDED_FOR="198.51.100.9", REMOTE_ADDR="10.0.0.2")
    assert (first.status_code, other.status_code) == (200, 200)
    forged = client.post(url, {}, format="json", HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.7", REMOTE_ADDR="10.0.0.2")
    assert forged.status_code == 429


def test_session_rate_limited_per_ip(bot, settings, rate_clock):
    """The token endpoint itself is rate limited per IP (429 + Retry-After)."""
    settings.WIDGET_RATE_TOKEN_IP = "2/60"
    assert session(bot).status_code == 200
    assert session(bot).status_code == 200
    limited = session(bot)
    assert limited.status_code == 429
    assert 0 < int(limited["Retry-After"]) <= 60
    assert limited["Access-Control-Allow-Origin"] == SITE  # so the page can read the 429


# --------------------------------------------------------------------------- identity


@pytest.fixture
def crm_member(bot):
    return MembershipFactory(organization=bot.organization, role=Role.MEMBER, external_id="crm-42").user


def test_identity_links_the_member(bot, crm_member):
    """A valid user_id + HMAC identifies the member; their anonymous conversation joins their history."""
    anonymous = visitor(bot)
    conversation_id = anonymous.post(f"/widget/{bot.public_id}/conversations/", {}, format="json").json()["id"]
    previous = anonymous._credentials["HTTP_AUTHORIZATION"].split(" ", 1)[1]
    signature = widget.identity_signature(bot=bot, user_id="crm-42")
    response = session(bot, visitor_token=previous, user_id="crm-42", user_hash=signature)
    assert response.status_code == 200, response.content
    assert response.json()["identified"] is True
    assert response.json()["visitor_id"] == anonymous.visitor_id
    assert Conversation.objects.get(pk=conversation_id).user == crm_member

    identified = APIClient()
    identified.credentials(HTTP_AUTHORIZATION=f"Visitor {response.json()['token']}")
    created = identified.post(f"/widget/{bot.public_id}/conversations/", {}, format="json")
    assert Conversation.objects.get(pk=created.json()["id"]).user == crm_member


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"user_id": "crm-42", "user_hash": "0" * 64}, "identity_invalid"),
        ({"user_id": "crm-42"}, "identity_invalid"),
        ({"user_hash": "abc"}, "identity_invalid"),
        ({"user_id": "crm-404", "user_hash": "<computed>"}, "identity_unknown"),
    ],
)
def test_invalid_identity_is_refused(bot, crm_member, body, code):
    """A wrong, partial or unknown identity is 401, never trusted and never downgraded to anonymous."""
    if body.get("user_hash") == "<computed>":
        body["user_hash"] = widget.identity_signature(bot=bot, user_id=body["user_id"])
    response = session(bot, **body)
    assert response.status_code == 401
    assert error_code(response) == code


def test_identity_with_an_expiry(bot, crm_member):
    """A hash over "id:expires" works until then; expired, or with a changed expiry, it is refused."""
    future, past = int(time.time()) + 600, int(time.time()) - 5
    signed = widget.identity_signature(bot=bot, user_id="crm-42", expires=future)
    ok = session(bot, user_id="crm-42", user_hash=signed, user_expires=future)
    assert ok.status_code == 200 and ok.json()["identified"] is True
    stretched = session(bot, user_id="crm-42", user_hash=signed, user_expires=future + 3600)
    assert stretched.status_code == 401 and error_code(stretched) == "identity_invalid"
    without = session(bot, user_id="crm-42", user_hash=signed)
    assert without.status_code == 401 and error_code(without) == "identity_invalid"
    old = widget.identity_signature(bot=bot, user_id="crm-42", expires=past)
    expired = session(bot, user_id="crm-42", user_hash=old, user_expires=past)
    assert expired.status_code == 401 and error_code(expired) == "identity_expired"
    bad = session(bot, user_id="crm-42", user_hash=signed, user_expires="soon")
    assert bad.status_code == 400 and "user_expires" in bad.json()["error"]["message"]


def test_identity_never_carries_over(bot, crm_member):
    """A member's token does not continue as anonymous (signed out) or as another member."""
    signature = widget.identity_signature(bot=bot, user_id="crm-42")
    first = session(bot, user_id="crm-42", user_hash=signature).json()
    signed_out = session(bot, visitor_token=first["token"]).json()
    assert signed_out["visitor_id"] != first["visitor_id"] and signed_out["identified"] is False
    MembershipFactory(organization=bot.organization, role=Role.MEMBER, external_id="crm-43")
    other = session(
        bot,
        visitor_token=first["token"],
        user_id="crm-43",
        user_hash=widget.identity_signature(bot=bot, user_id="crm-43"),
    ).json()
    assert other["visitor_id"] != first["visitor_id"]


# --------------------------------------------------------------------------- visitor tokens on the API


def test_visitor_api_needs_a_valid_token(bot, settings):
    """Missing, malformed, expired, tampered and other-bot tokens are 401 with a reason."""
    url = f"/widget/{bot.public_id}/conversation/"
    assert error_code(APIClient().get(url)) == "visitor_token_missing"
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer something")
    assert client.get(url).status_code == 401

    with mock.patch("time.time", return_value=time.time() - settings.WIDGET_TOKEN_TTL_SECONDS - 5):
        old, _ = widget.visitor_token_issue(bot=bot, origin=SITE)
    client.credentials(HTTP_AUTHORIZATION=f"Visitor {old}")
    response = client.get(url)
    assert response.status_code == 401 and error_code(response) == "visitor_token_expired"

    token, _ = widget.visitor_token_issue(bot=bot, origin=SITE)
    client.credentials(HTTP_AUTHORIZATION=f"Visitor {token[:-3]}xyz")
    assert error_code(client.get(url)) == "visitor_token_invalid"

    other = BotFactory(organization=bot.organization, allowed_origins=[SITE])
    other_token, _ = widget.visitor_token_issue(bot=other, origin=SITE)
    client.credentials(HTTP_AUTHORIZATION=f"Visitor {other_token}")
    response = client.get(url)
    assert response.status_code == 401 and "another bot" in response.json()["error"]["message"]


def test_removing_the_site_cuts_open_widgets(bot):
    """A token stops working as soon as its site leaves the allow-list (403)."""
    client = visitor(bot)
    bot.allowed_origins = []
    bot.save()
    response = client.get(f"/widget/{bot.public_id}/conversation/")
    assert response.status_code == 403 and error_code(response) == "origin_not_allowed"


def test_token_used_from_another_site_is_403(bot):
    """A token issued for the shop, sent by a page of another origin, is refused."""
    client = visitor(bot)
    client.credentials(HTTP_AUTHORIZATION=client._credentials["HTTP_AUTHORIZATION"], HTTP_ORIGIN=EVIL)
    assert client.get(f"/widget/{bot.public_id}/conversation/").status_code == 403


# --------------------------------------------------------------------------- conversations


def test_conversation_round_trip(bot):
    """No conversation yet -> new one (widget channel) -> a question answered from the guide with its
    source (title and page, nothing internal) -> the latest conversation comes back with both messages."""
    client = visitor(bot)
    base = f"/widget/{bot.public_id}"
    assert client.get(f"{base}/conversation/").json() == {"conversation": None}

    created = client.post(f"{base}/conversations/", {}, format="json")
    assert created.status_code == 201
    conversation = Conversation.objects.get(pk=created.json()["id"])
    assert (conversation.channel, conversation.visitor_id, conversation.user) == ("widget", client.visitor_id, None)

    response = client.post(
        f"{base}/conversations/{conversation.pk}/messages/", {"content": "How long do refunds take?", "stream": False}
    )
    assert response.status_code == 201, response.content
    answer = response.json()["answer"]
    assert answer["status"] == "ok"
    assert "Refunds are processed within 14 days" in answer["content"]
    assert answer["citations"][0] == {
        "ref": answer["citations"][0]["ref"],
        "title": "Beacon Guide",
        "url": None,
        "page": 2,
        "heading_path": answer["citations"][0]["heading_path"],
    }
    assert set(answer) == {"id", "role", "content", "status", "citations", "feedback", "created_at"}

    current = client.get(f"{base}/conversation/").json()["conversation"]
    assert current["id"] == conversation.pk
    assert [m["role"] for m in current["messages"]] == ["user", "assistant"]
    assert current["messages"][1]["citations"] == answer["citations"]


def test_the_latest_conversation_is_the_one_last_used(bot):
    """Two tabs of one visitor: the second starts a new conversation, the first goes on asking in the earlier one. A
    page loaded next restores the one last used (the earlier, with the newest question), not the empty new one; a new
    conversation that nothing has been asked in since is still the latest."""
    client = visitor(bot)
    base = f"/widget/{bot.public_id}"
    earlier = client.post(f"{base}/conversations/", {}, format="json").json()["id"]
    first = client.post(f"{base}/conversations/{earlier}/messages/", {"content": "Hello?", "stream": False})
    assert first.status_code == 201
    newer = client.post(f"{base}/conversations/", {}, format="json").json()["id"]  # the second tab
    assert client.get(f"{base}/conversation/").json()["conversation"]["id"] == newer

    asked = client.post(f"{base}/conversations/{earlier}/messages/", {"content": "Anyone?", "stream": False})
    assert asked.status_code == 201  # the first tab, still in the earlier conversation
    current = client.get(f"{base}/conversation/").json()["conversation"]
    assert current["id"] == earlier
    assert [m["content"] for m in current["messages"] if m["role"] == "user"] == ["Hello?", "Anyone?"]


def test_streamed_answer(bot):
    """stream=true: an SSE comment first (the widget's idle bound hears at once that the question is stored, before
    the model's first token), then token events, then done with the message id, checked content and public sources."""
    client = visitor(bot)
    base = f"/widget/{bot.public_id}"
    conversation_id = client.post(f"{base}/conversations/", {}, format="json").json()["id"]
    response = client.post(
        f"{base}/conversations/{conversation_id}/messages/",
        {"content": "How long do refunds take?", "stream": True},
        HTTP_ACCEPT="text/event-stream",
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    parts = iter(response.streaming_content)
    assert next(parts) == b": ok\n\n"
    assert Message.objects.filter(conversation_id=conversation_id, role="user").count() == 1  # stored by then
    events = [block for block in b"".join(parts).decode().split("\n\n") if block]
    names = [block.split("\n")[0].removeprefix("event: ") for block in events]
    assert names[-1] == "done" and set(names[:-1]) == {"token"} and len(names) > 2
    done = json.loads(events[-1].split("\n")[1].removeprefix("data: "))
    assert set(done) == {"message_id", "question_id", "status", "content", "citations"}
    assert done["status"] == "ok" and done["citations"][0]["title"] == "Beacon Guide"
    assert Message.objects.get(pk=done["message_id"]).conversation_id == conversation_id


def test_a_stream_closed_before_it_was_read_still_answers_the_question(bot):
    """A visitor who leaves before the stream's first part was asked for finds the answer when they come back (the
    widget restores the conversation): closing the response unread answers and stores it."""
    client = visitor(bot)
    base = f"/widget/{bot.public_id}"
    conversation_id = client.post(f"{base}/conversations/", {}, format="json").json()["id"]
    response = client.post(
        f"{base}/conversations/{conversation_id}/messages/", {"content": "How long do refunds take?", "stream": True}
    )
    assert response.status_code == 200

    close_unread(response)

    restored = client.get(f"{base}/conversation/").json()["conversation"]
    assert [(m["role"], m["status"]) for m in restored["messages"]] == [("user", "ok"), ("assistant", "ok")]
    assert "14 days" in restored["messages"][1]["content"]


def test_unanswerable_question_gets_the_fallback(bot):
    """Nothing relevant: the bot's fallback message, status unanswered, no sources."""
    client = visitor(bot)
    base = f"/widget/{bot.public_id}"
    conversation_id = client.post(f"{base}/conversations/", {}, format="json").json()["id"]
    answer = client.post(
        f"{base}/conversations/{conversation_id}/messages/", {"content": "Who won the 1966 World Cup?", "stream": False}
    ).json()["answer"]
    assert answer["status"] == "unanswered"
    assert answer["content"] == bot.fallback_message and answer["citations"] == []


def test_visitors_and_organizations_are_isolated(bot):
    """Another visitor of the same bot, and a visitor of another organization's bot, get 404."""
    owner_client = visitor(bot)
    base = f"/widget/{bot.public_id}"
    conversation_id = owner_client.post(f"{base}/conversations/", {}, format="json").json()["id"]
    message = owner_client.post(
        f"{base}/conversations/{conversation_id}/messages/", {"content": "How long do refunds take?", "stream": False}
    ).json()["answer"]

    stranger = visitor(bot)
    assert stranger.get(f"{base}/conversation/").json() == {"conversation": None}
    response = stranger.post(f"{base}/conversations/{conversation_id}/messages/", {"content": "hi"}, format="json")
    assert response.status_code == 404
    assert stranger.post(f"{base}/messages/{message['id']}/feedback/", {"value": 1}).status_code == 404

    other_bot = BotFactory(organization=OrganizationFactory(), allowed_origins=[SITE])
    other = visitor(other_bot)
    other_base = f"/widget/{other_bot.public_id}"
    response = other.post(f"{other_base}/conversations/{conversation_id}/messages/", {"content": "hi"}, format="json")
    assert response.status_code == 404
    assert other.post(f"{other_base}/messages/{message['id']}/feedback/", {"value": 1}).status_code == 404
    assert Message.objects.filter(conversation_id=conversation_id).count() == 2
    assert Message.objects.get(pk=message["id"]).feedback is None


def test_feedback(bot):
    """Thumbs up then down on an answer; the question itself and bad values are 400."""
    client = visitor(bot)
    base = f"/widget/{bot.public_id}"
    conversation_id = client.post(f"{base}/conversations/", {}, format="json").json()["id"]
    turn = client.post(
        f"{base}/conversations/{conversation_id}/messages/", {"content": "How long do refunds take?", "stream": False}
    ).json()
    url = f"{base}/messages/{turn['answer']['id']}/feedback/"
    response = client.post(url, {"value": 1}, format="json")
    assert response.status_code == 200 and response.json()["feedback"] == 1
    assert client.post(url, {"value": -1}, format="json").json()["feedback"] == -1
    assert Message.objects.get(pk=turn["answer"]["id"]).feedback == -1
    bad = client.post(url, {"value": 5}, format="json")
    assert bad.status_code == 400 and "value" in bad.json()["error"]["message"]
    question = client.post(f"{base}/messages/{turn['question']['id']}/feedback/", {"value": 1}, format="json")
    assert question.status_code == 400 and error_code(question) == "not_an_answer"


def test_message_bad_input_loses_nothing(bot):
    """Empty, oversized and malformed messages are 400 and store nothing; unknown conversations 404."""
    client = visitor(bot)
    base = f"/widget/{bot.public_id}"
    conversation_id = client.post(f"{base}/conversations/", {}, format="json").json()["id"]
    url = f"{base}/conversations/{conversation_id}/messages/"
    assert client.post(url, {"content": ""}, format="json").status_code == 400
    assert client.post(url, {"content": "x" * 4001}, format="json").status_code == 400
    assert client.post(url, "{oops", content_type="application/json").status_code == 400
    assert client.post(url, {"content": 42, "stream": "maybe"}, format="json").status_code == 400
    assert client.post(f"{base}/conversations/999999999/messages/", {"content": "hi"}, format="json").status_code == 404
    assert Message.objects.filter(conversation_id=conversation_id).count() == 0


def test_rate_limits_answer_429(bot, settings, rate_clock):
    """Past the per-visitor limit: 429 with Retry-After and the scope; nothing stored for it."""
    settings.WIDGET_RATE_VISITOR = "2/60"
    client = visitor(bot)
    base = f"/widget/{bot.public_id}"
    conversation_id = client.post(f"{base}/conversations/", {}, format="json").json()["id"]  # 1
    url = f"{base}/conversations/{conversation_id}/messages/"
    assert client.post(url, {"content": "How long do refunds take?", "stream": False}).status_code == 201  # 2
    limited = client.post(url, {"content": "And installation?", "stream": False})
    assert limited.status_code == 429
    assert limited.json()["error"]["details"]["scope"] == "visitor"
    assert 0 < int(limited["Retry-After"]) <= 60
    assert Message.objects.filter(conversation_id=conversation_id).count() == 2


def test_plan_message_limit_applies_to_the_widget(bot):
    """The organization's monthly message limit stops widget traffic too (429 message_limit_exceeded)."""
    plan = Plan.objects.create(code="tiny", name="Tiny", max_monthly_messages=1)
    bot.organization.plan = plan
    bot.organization.save()
    client = visitor(bot)
    base = f"/widget/{bot.public_id}"
    conversation_id = client.post(f"{base}/conversations/", {}, format="json").json()["id"]
    url = f"{base}/conversations/{conversation_id}/messages/"
    assert client.post(url, {"content": "How long do refunds take?", "stream": False}).status_code == 201
    limited = client.post(url, {"content": "And installation?", "stream": False})
    assert limited.status_code == 429
    assert error_code(limited) == "message_limit_exceeded"
    assert "Retry-After" in limited


def test_bot_api_shows_snippet_and_preview(bot):
    """The bot API gives the exact snippet and the preview page's address."""
    owner = MembershipFactory(organization=bot.organization, role=Role.OWNER).user
    body = client_for(owner).get(f"/api/v1/orgs/{bot.organization.slug}/bots/{bot.pk}/").json()
    assert body["widget_snippet"] == f'<script src="http://testserver/widget/{bot.public_id}.js" async></script>'
    assert body["widget_preview_url"] == f"http://testserver/widget/{bot.public_id}/preview/"
