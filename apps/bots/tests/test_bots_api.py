"""Bots API: /api/v1/orgs/{org}/bots/ (list, create), .../{bot}/ (detail, PATCH, DELETE) and
.../{bot}/identity-secret/rotate/.

Coverage:
- create (admin): 201 with the whole body; `identity_secret` shown once, `public_id` "bot_…", the widget
  snippet holds the public id; defaults; settings given at creation are stored;
- list and detail (members too): whole bodies, ordered by name, document counts, never the identity secret;
  list query count does not grow with the number of bots;
- roles: members cannot create, PATCH, DELETE or rotate (403, nothing changed); anonymous 401;
- plan limit: plan "free" (max_bots 1) -> second create 403 plan_limit_exceeded, nothing created;
- validation (400 naming the field, nothing written): origin "ftp://x" or with a path, colour, more than 10
  suggested questions, temperature 3, blank name, unknown theme position;
- allowed_origins normalised: lower-case, de-duplicated (and a trailing slash removed);
- PATCH: partial update (other fields kept), whole body, invalid value 400 leaves the bot unchanged;
- language (issue 17): en by default (SEARCH_TEXT_CONFIG english); fr at creation gives the French default
  fallback and greeting; a PATCH to de moves default sentences to German but keeps the owner's own; an
  unknown language is a 400 that lists the valid codes;
- DELETE: the bot goes with its documents (chunks, vectors, file) and conversations (messages); other bots stay;
- identity secret rotation: a new value, different, stored, not visible afterwards; API key 403;
- tenancy: another organization's bot id under our slug 404 on every route and absent from the list; a slug
  we are not a member of 404.
"""

from __future__ import annotations

import os

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from apps.bots.models import DEFAULT_FALLBACK, Bot
from apps.bots.tests.factories import BotFactory
from apps.conversations.models import Conversation, Message
from apps.documents.models import Chunk, ChunkEmbedding, Document
from apps.documents.services.pipeline import document_ingest_now
from apps.documents.services.upload import IncomingFile, document_upload
from apps.documents.tests import samples
from apps.organizations.tests.factories import api_key_for, plan
from apps.organizations.tests.utils import error, iso
from conftest import client_for

pytestmark = pytest.mark.django_db


def list_url(organization) -> str:
    return f"/api/v1/orgs/{organization.slug}/bots/"


def detail_url(bot, organization=None) -> str:
    return f"{list_url(organization or bot.organization)}{bot.pk}/"


def rotate_url(bot, organization=None) -> str:
    return f"{detail_url(bot, organization)}identity-secret/rotate/"


def api_key_client(organization, scopes=("read", "write")) -> APIClient:
    _key, raw = api_key_for(organization, scopes=scopes)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return client


def bot_body(bot: Bot, *, document_count: int = 0) -> dict:
    """The API's body of a bot (BotOutputSerializer), from the stored row."""
    bot.refresh_from_db()
    return {
        "id": bot.pk,
        "name": bot.name,
        "description": bot.description,
        "public_id": bot.public_id,
        "system_prompt": bot.system_prompt,
        "llm_model": bot.llm_model,
        "temperature": bot.temperature,
        "max_answer_tokens": bot.max_answer_tokens,
        "top_k": bot.top_k,
        "min_score": bot.min_score,
        "effective_min_score": bot.effective_min_score,
        "calibration": {
            "value": bot.calibrated_min_score,
            "computed_at": iso(bot.calibrated_at) if bot.calibrated_at else None,
            "pending": bot.calibration_requested_at is not None,
            "target_false_answer_rate": bot.calibration.get("target_false_answer_rate"),
            "false_answer_rate": bot.calibration.get("false_answer_rate"),
            "in_domain_answered_rate": bot.calibration.get("in_domain_answered_rate"),
            "figures": bot.calibration,
        },
        "dense_weight": bot.dense_weight,
        "strict_grounding": bot.strict_grounding,
        "language": bot.language,
        "fallback_message": bot.fallback_message,
        "greeting": bot.greeting,
        "suggested_questions": bot.suggested_questions,
        "widget_theme": bot.widget_theme,
        "allowed_origins": bot.allowed_origins,
        "document_count": document_count,
        "widget_snippet": f'<script src="http://testserver/widget/{bot.public_id}.js" async></script>',
        "widget_preview_url": f"http://testserver/widget/{bot.public_id}/preview/",
        "created_at": iso(bot.created_at),
        "updated_at": iso(bot.updated_at),
    }


def ingest(bot, name: str, data: bytes) -> Document:
    document = document_upload(organization=bot.organization, bot=bot, files=[IncomingFile(name, data)], enqueue=False)[
        0
    ].document
    return document_ingest_now(document=document)


# --------------------------------------------------------------------------- create


def test_admin_creates_a_bot_with_defaults(admin_user, organization):
    """201 with the whole body: defaults, public_id "bot_…", the widget snippet and the identity secret once."""
    response = client_for(admin_user).post(list_url(organization), {"name": "Support"}, format="json")

    assert response.status_code == 201, response.content
    bot = Bot.objects.get()
    assert response.json() == bot_body(bot) | {"identity_secret": bot.identity_secret}
    body = response.json()
    assert body["public_id"].startswith("bot_") and len(body["public_id"]) > 20
    assert body["public_id"] in body["widget_snippet"]
    assert body["identity_secret"].startswith("bis_")
    assert (bot.organization, bot.created_by, bot.name) == (organization, admin_user, "Support")
    assert (body["llm_model"], body["temperature"], body["top_k"], body["fallback_message"]) == (
        "gpt-4o-mini",
        0.2,
        5,
        DEFAULT_FALLBACK,
    )
    assert (body["suggested_questions"], body["widget_theme"], body["allowed_origins"]) == ([], {}, [])
    # Issue 14: no owner cut-off on a new bot; the default is in force until a calibration runs.
    assert (body["min_score"], body["effective_min_score"], body["calibration"]["value"]) == (None, 0.3, None)


def test_admin_creates_a_bot_with_settings(owner, organization):
    """Every setting given at creation is stored and returned."""
    data = {
        "name": "Sales",
        "description": "Answers pricing questions.",
        "system_prompt": "You are the sales assistant.",
        "llm_model": "gpt-4o",
        "temperature": 0.7,
        "max_answer_tokens": 300,
        "top_k": 8,
        "min_score": 0.4,
        "dense_weight": 0.5,
        "fallback_message": "Ask sales@example.com.",
        "greeting": "Hello!",
        "suggested_questions": ["What does it cost?", "Is there a trial?"],
        "widget_theme": {"color": "#2563eb", "position": "left", "icon": "help", "title": "Sales"},
        "allowed_origins": ["https://www.example.com"],
    }

    response = client_for(owner).post(list_url(organization), data, format="json")

    assert response.status_code == 201, response.content
    bot = Bot.objects.get()
    assert {k: getattr(bot, k) for k in data} == data
    assert {k: response.json()[k] for k in data} == data


# --------------------------------------------------------------------------- list and detail


def test_list_and_detail_never_show_the_identity_secret(member, organization):
    """Members list (by name, with document counts) and read bots; no identity secret anywhere."""
    zeta = BotFactory(organization=organization, name="Zeta")
    alpha = BotFactory(organization=organization, name="Alpha")
    ingest(alpha, "guide.md", samples.md())
    client = client_for(member)

    listed = client.get(list_url(organization))
    detail = client.get(detail_url(alpha))

    assert listed.status_code == detail.status_code == 200
    assert listed.json() == {
        "count": 2,
        "next": None,
        "previous": None,
        "results": [bot_body(alpha, document_count=1), bot_body(zeta)],
    }
    assert detail.json() == bot_body(alpha, document_count=1)
    for bot in (alpha, zeta):
        assert bot.identity_secret not in listed.content.decode() + detail.content.decode()
    assert "identity_secret" not in detail.json()


def test_list_query_count_does_not_grow(member, organization):
    """Listing 1 or 6 bots costs the same number of queries."""
    client = client_for(member)
    BotFactory(organization=organization)
    with CaptureQueriesContext(connection) as one:
        assert client.get(list_url(organization)).status_code == 200
    BotFactory.create_batch(5, organization=organization)
    with CaptureQueriesContext(connection) as six:
        assert client.get(list_url(organization)).json()["count"] == 6

    assert len(six) == len(one)


# --------------------------------------------------------------------------- roles


def test_member_cannot_create_update_delete_or_rotate(member, organization):
    """Members get 403 on every write, and nothing changes."""
    bot = BotFactory(organization=organization, name="Kept")
    secret = bot.identity_secret
    client = client_for(member)

    responses = [
        client.post(list_url(organization), {"name": "New"}, format="json"),
        client.patch(detail_url(bot), {"name": "Renamed"}, format="json"),
        client.delete(detail_url(bot)),
        client.post(rotate_url(bot)),
    ]

    assert [r.status_code for r in responses] == [403, 403, 403, 403]
    assert responses[0].json() == error("permission_denied", "This action needs the admin role in this organization.")
    bot.refresh_from_db()
    assert (Bot.objects.count(), bot.name, bot.identity_secret) == (1, "Kept", secret)


def test_anonymous_is_401(organization):
    """No credentials: 401 on list, create and detail."""
    bot = BotFactory(organization=organization)
    client = APIClient()

    assert client.get(list_url(organization)).status_code == 401
    assert client.post(list_url(organization), {"name": "X"}, format="json").status_code == 401
    assert client.get(detail_url(bot)).status_code == 401
    assert Bot.objects.count() == 1


# --------------------------------------------------------------------------- plan limit


def test_plan_bot_limit(admin_user, organization):
    """Plan "free" allows one bot: the second create is 403 plan_limit_exceeded and nothing is created."""
    organization.plan = plan("free")
    organization.save()
    client = client_for(admin_user)
    assert client.post(list_url(organization), {"name": "First"}, format="json").status_code == 201

    response = client.post(list_url(organization), {"name": "Second"}, format="json")

    assert response.status_code == 403
    assert response.json() == error(
        "plan_limit_exceeded",
        "The Free plan allows 1 bots; this organization uses 1. Upgrade the plan or remove some first.",
        {"limit": "max_bots", "allowed": 1, "used": 1},
    )
    assert list(Bot.objects.values_list("name", flat=True)) == ["First"]


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"allowed_origins": ["ftp://x"]}, "allowed_origins"),
        ({"allowed_origins": ["https://example.com/path"]}, "allowed_origins"),
        ({"allowed_origins": ["example.com"]}, "allowed_origins"),
        ({"widget_theme": {"color": "blue"}}, "widget_theme"),
        ({"widget_theme": {"color": "#12345"}}, "widget_theme"),
        ({"widget_theme": {"position": "top"}}, "widget_theme"),
        ({"suggested_questions": [f"Question {i}?" for i in range(11)]}, "suggested_questions"),
        ({"temperature": 3}, "temperature"),
        ({"temperature": -0.1}, "temperature"),
        ({"top_k": 0}, "top_k"),
        ({"min_score": 1.5}, "min_score"),
        ({"max_answer_tokens": 8001}, "max_answer_tokens"),
        ({"language": "klingon"}, "language"),
    ],
)
def test_create_validation_names_the_field(admin_user, organization, data, field):
    """An invalid setting: 400 naming the field, no bot created."""
    response = client_for(admin_user).post(list_url(organization), {"name": "Bot"} | data, format="json")

    assert response.status_code == 400, response.content
    body = response.json()["error"]
    assert body["code"] == "invalid"
    assert list(body["details"]) == [field]
    assert body["message"].startswith(f"Invalid input. {field}")
    assert not Bot.objects.exists()


def test_create_without_a_name_is_400(admin_user, organization):
    """name is required and may not be blank."""
    client = client_for(admin_user)

    for data in ({}, {"name": ""}):
        response = client.post(list_url(organization), data, format="json")
        assert response.status_code == 400
        assert list(response.json()["error"]["details"]) == ["name"]
    assert not Bot.objects.exists()


def test_ten_suggested_questions_are_accepted(admin_user, organization):
    """The suggested-question limit is inclusive: 10 are fine."""
    questions = [f"Question {i}?" for i in range(10)]

    response = client_for(admin_user).post(
        list_url(organization), {"name": "Bot", "suggested_questions": questions}, format="json"
    )

    assert response.status_code == 201
    assert Bot.objects.get().suggested_questions == questions


def test_allowed_origins_are_lowercased_and_deduplicated(admin_user, organization):
    """Origins are stored lower-case and once each."""
    origins = ["https://Example.com", "HTTPS://EXAMPLE.COM", "http://localhost:3000", "https://example.com"]

    response = client_for(admin_user).post(
        list_url(organization), {"name": "Bot", "allowed_origins": origins}, format="json"
    )

    assert response.status_code == 201, response.content
    assert sorted(response.json()["allowed_origins"]) == ["http://localhost:3000", "https://example.com"]
    assert sorted(Bot.objects.get().allowed_origins) == ["http://localhost:3000", "https://example.com"]


def test_allowed_origins_trailing_slash_is_removed(admin_user, organization):
    """An origin pasted with a trailing slash is stored without it (and de-duplicated with its bare form)."""
    origins = ["https://Example.com/", "https://example.com"]

    response = client_for(admin_user).post(
        list_url(organization), {"name": "Bot", "allowed_origins": origins}, format="json"
    )

    assert response.status_code == 201, response.content
    assert Bot.objects.get().allowed_origins == ["https://example.com"]


# --------------------------------------------------------------------------- update


def test_patch_updates_only_the_given_fields(admin_user, organization):
    """PATCH changes the given settings, keeps the others, and returns the whole body (no secret)."""
    bot = BotFactory(organization=organization, name="Old", greeting="Hi", suggested_questions=["A?"])

    response = client_for(admin_user).patch(
        detail_url(bot),
        {"name": "New", "widget_theme": {"color": "#00FF00"}, "allowed_origins": ["https://A.example.com"]},
        format="json",
    )

    assert response.status_code == 200, response.content
    bot.refresh_from_db()
    assert (bot.name, bot.widget_theme, bot.allowed_origins) == ("New", {"color": "#00FF00"}, ["https://a.example.com"])
    assert (bot.greeting, bot.suggested_questions) == ("Hi", ["A?"])
    assert response.json() == bot_body(bot)


def test_patch_with_an_invalid_value_changes_nothing(admin_user, organization):
    """An invalid PATCH is a 400 naming the field; the bot is unchanged."""
    bot = BotFactory(organization=organization, name="Same", temperature=0.2)

    response = client_for(admin_user).patch(detail_url(bot), {"name": "Other", "temperature": 3}, format="json")

    assert response.status_code == 400
    assert list(response.json()["error"]["details"]) == ["temperature"]
    bot.refresh_from_db()
    assert (bot.name, bot.temperature) == ("Same", 0.2)


def test_strict_grounding_is_a_setting(admin_user, organization):
    """Off by default; PATCH turns it on (and returns it); a value that is not a boolean is a 400 naming the field."""
    client = client_for(admin_user)
    created = client.post(list_url(organization), {"name": "Strict"}, format="json")
    assert created.status_code == 201 and created.json()["strict_grounding"] is False
    bot = Bot.objects.get(pk=created.json()["id"])

    response = client.patch(detail_url(bot), {"strict_grounding": True}, format="json")

    assert response.status_code == 200 and response.json()["strict_grounding"] is True
    bot.refresh_from_db()
    assert bot.strict_grounding is True
    refused = client.patch(detail_url(bot), {"strict_grounding": "sometimes", "name": "Other"}, format="json")
    assert refused.status_code == 400
    assert list(refused.json()["error"]["details"]) == ["strict_grounding"]
    bot.refresh_from_db()
    assert (bot.strict_grounding, bot.name) == (True, "Strict")


def test_language_sets_the_default_sentences(admin_user, organization, settings):
    """en by default; fr at creation: French default fallback and greeting; PATCH to de: German ones, but an
    owner's own greeting stays; `auto` keeps the current ones (regression: issue 17)."""
    client = client_for(admin_user)
    assert client.post(list_url(organization), {"name": "Default"}, format="json").json()["language"] == "en"

    response = client.post(list_url(organization), {"name": "Support", "language": "fr"}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["language"] == "fr"
    assert body["fallback_message"].startswith("Désolé, je n'ai pas trouvé cela dans mes documents.")
    assert body["greeting"] == "Bonjour ! Comment puis-je vous aider ?"
    bot = Bot.objects.get(pk=body["id"])
    bot.greeting = "Salut, la team !"
    bot.save()

    response = client.patch(detail_url(bot), {"language": "de"}, format="json")

    assert response.status_code == 200, response.content
    bot.refresh_from_db()
    assert (bot.language, bot.greeting) == ("de", "Salut, la team !")
    assert bot.fallback_message.startswith("Das habe ich in meinen Dokumenten leider nicht gefunden.")
    assert response.json() == bot_body(bot)

    settings.SEARCH_TEXT_CONFIG = "german"  # a deployment indexing in German: new bots are German by default
    assert client.post(list_url(organization), {"name": "Neu"}, format="json").json()["language"] == "de"


def test_unknown_language_is_a_400_listing_the_codes(admin_user, organization):
    """An unknown language: 400 on `language`, with the valid codes in the message; nothing written."""
    bot = BotFactory(organization=organization, language="en")

    response = client_for(admin_user).patch(detail_url(bot), {"language": "english"}, format="json")

    assert response.status_code == 400
    details = response.json()["error"]["details"]
    assert list(details) == ["language"]
    assert "Unknown language 'english': use auto or one of" in details["language"][0]
    assert " fr, " in details["language"][0] and " de, " in details["language"][0]
    bot.refresh_from_db()
    assert bot.language == "en"


# --------------------------------------------------------------------------- delete


def test_delete_hides_the_bot_at_once_and_publishes_its_purge(
    admin_user, organization, django_capture_on_commit_callbacks
):
    """DELETE: 204 and the bot is gone for the API (detail 404, not listed) and the widget (its public id 404); its
    rows wait for the purge, published on the `bulk` queue with the bot's id (docs/bots.md#deleting-a-bot); the
    purge removes documents (chunks, vectors, stored file) and conversations (messages); another bot's stay."""
    from apps.bots.services import bot_purge
    from apps.core.purge import PURGE_DONE
    from apps.core.tests.broker import BULK_LIST, Published

    bot = BotFactory(organization=organization)
    other = BotFactory(organization=organization)
    document = ingest(bot, "guide.md", samples.md())
    kept = ingest(other, "guide.md", samples.md())
    path = document.file.path
    assert os.path.exists(path) and Chunk.objects.filter(document=document).exists()
    conversation = Conversation.objects.create(organization=organization, bot=bot)
    Message.objects.create(organization=organization, conversation=conversation, role="user", content="Hi")
    Conversation.objects.create(organization=organization, bot=other)
    published = Published(BULK_LIST)
    client = client_for(admin_user)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.delete(detail_url(bot))

    assert response.status_code == 204
    assert client.get(detail_url(bot)).status_code == 404
    assert [row["id"] for row in client.get(list_url(organization)).json()["results"]] == [other.pk]
    assert APIClient().get(f"/widget/{bot.public_id}.js").status_code == 404
    assert client.delete(detail_url(bot)).status_code == 404
    assert Document.objects.filter(pk=document.pk).exists() and os.path.exists(path)  # until the purge
    purges = published.find("bots.purge", lambda message: message.args == (bot.pk,))
    published.clear()
    assert len(purges) == 1

    with django_capture_on_commit_callbacks(execute=True):
        assert bot_purge(bot_id=bot.pk) == PURGE_DONE  # what the task does (a real worker: test_deletion.py)

    assert list(Bot.all_objects.values_list("pk", flat=True)) == [other.pk]
    assert list(Document.objects.values_list("pk", flat=True)) == [kept.pk]
    assert not Chunk.objects.filter(document_id=document.pk).exists()
    assert not ChunkEmbedding.objects.filter(chunk__bot_id=bot.pk).exists()
    assert ChunkEmbedding.objects.filter(chunk__document=kept).exists()
    assert list(Conversation.objects.values_list("bot_id", flat=True)) == [other.pk]
    assert not Message.objects.filter(conversation_id=conversation.pk).exists()
    assert not os.path.exists(path)
    assert os.path.exists(kept.file.path)


def test_a_deleted_bot_frees_its_place_in_the_plan_at_once(admin_user, organization):
    """Plan "free" allows one bot: after deleting it a new one can be created before the purge has run."""
    organization.plan = plan("free")
    organization.save()
    client = client_for(admin_user)
    first = client.post(list_url(organization), {"name": "First"}, format="json").json()
    assert client.delete(f"{list_url(organization)}{first['id']}/").status_code == 204

    response = client.post(list_url(organization), {"name": "Second"}, format="json")

    assert response.status_code == 201, response.content
    assert list(Bot.objects.values_list("name", flat=True)) == ["Second"]
    assert Bot.all_objects.filter(name="First", deleted_at__isnull=False).exists()


# --------------------------------------------------------------------------- identity secret


def test_rotate_identity_secret(admin_user, organization):
    """Rotation returns a new secret once; it is stored and never shown by detail or list."""
    bot = BotFactory(organization=organization)
    old = bot.identity_secret
    client = client_for(admin_user)

    response = client.post(rotate_url(bot))

    assert response.status_code == 200, response.content
    new = response.json()["identity_secret"]
    assert response.json() == {"identity_secret": new}
    assert new != old and new.startswith("bis_")
    bot.refresh_from_db()
    assert bot.identity_secret == new
    assert new not in client.get(detail_url(bot)).content.decode()
    assert new not in client.get(list_url(organization)).content.decode()


def test_rotate_identity_secret_with_an_api_key_is_403(organization):
    """API keys cannot rotate the secret (a person must), even with the write scope."""
    bot = BotFactory(organization=organization)
    old = bot.identity_secret

    response = api_key_client(organization).post(rotate_url(bot))

    assert response.status_code == 403
    assert response.json() == error("permission_denied", "API keys cannot use this endpoint; sign in as a person.")
    bot.refresh_from_db()
    assert bot.identity_secret == old


def test_api_key_read_scope_lists_but_cannot_create(organization):
    """A read-only API key lists bots but cannot create one."""
    BotFactory(organization=organization)
    client = api_key_client(organization, scopes=("read",))

    assert client.get(list_url(organization)).json()["count"] == 1
    assert client.post(list_url(organization), {"name": "X"}, format="json").status_code == 403
    assert Bot.objects.count() == 1


# --------------------------------------------------------------------------- tenancy


def test_other_organizations_bot_is_404_under_our_slug(admin_user, organization, other_organization):
    """Another organization's bot id under our slug: 404 on every route, absent from our list, untouched."""
    foreign = BotFactory(organization=other_organization, name="Foreign")
    secret = foreign.identity_secret
    client = client_for(admin_user)

    responses = [
        client.get(detail_url(foreign, organization)),
        client.patch(detail_url(foreign, organization), {"name": "Mine now"}, format="json"),
        client.delete(detail_url(foreign, organization)),
        client.post(rotate_url(foreign, organization)),
    ]

    assert [r.status_code for r in responses] == [404, 404, 404, 404]
    assert responses[0].json() == error("not_found", "Bot not found.")
    assert client.get(list_url(organization)).json()["results"] == []
    foreign.refresh_from_db()
    assert (foreign.name, foreign.identity_secret, foreign.deleted_at) == ("Foreign", secret, None)


def test_slug_of_an_organization_we_are_not_in_is_404(admin_user, other_organization):
    """Another organization's slug: 404 (not 403), on list and create."""
    BotFactory(organization=other_organization)
    client = client_for(admin_user)

    assert client.get(list_url(other_organization)).json() == error("not_found", "Organization not found.")
    assert client.post(list_url(other_organization), {"name": "X"}, format="json").status_code == 404
    assert Bot.objects.filter(organization=other_organization).count() == 1
