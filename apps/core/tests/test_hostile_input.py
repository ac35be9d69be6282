"""Hostile input is a 4xx in the error envelope, never a 500 (issue 13, findings 3, 4 and 8).

Covers: deeply nested JSON (register and widget session, anonymous) refused with 400 parse_error
before decoding, the linear depth scan itself; NUL characters and lone surrogates in content
metadata (create, update, bulk row), member sync external_id, batch idempotency_key, keys, query
parameters and multipart form fields: 400 naming the field, nothing written; Django's request
guards (a body over DATA_UPLOAD_MAX_MEMORY_SIZE, too many files) as JSON naming the limit; unknown
/api/ paths and non-integer ids with DEBUG on and off; a 500 in the envelope with DEBUG on; the
widget's HTML pages untouched; static path traversal.
"""

import json

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework.test import APIClient

from apps.bots.tests.factories import BotFactory
from apps.core.parsers import json_depth, string_errors
from apps.organizations.models import Membership
from apps.progress.models import ContentItem, Interaction
from apps.progress.tests.factories import ContentItemFactory
from apps.users.api.serializers import token_pair
from conftest import client_for

User = get_user_model()
SITE = "https://shop.example.com"
LONE = "\ud800"


def assert_envelope(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code, body
    assert body["error"]["message"]
    return body["error"]


def raw_json(client, path, payload, method="POST"):
    """Send `payload` as JSON text with the characters as they are (json.dumps escapes NUL and
    lone surrogates as \\u0000 / \\ud800, as any JSON client does)."""
    return client.generic(method, path, json.dumps(payload), content_type="application/json")


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# -- depth ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, depth",
    [
        ("{}", 1),
        ("1", 0),
        ('{"a": [1, {"b": []}]}', 4),
        ('["[[[[", "]]"]', 1),  # brackets inside strings do not count
        (r'["\"[[[", "\\", [[]]]', 3),  # escaped quote and escaped backslash
        (nested(1000), 1000),
    ],
)
def test_json_depth(text, depth):
    """The scan counts bracket nesting outside strings, escapes included."""
    assert json_depth(text.encode()) == depth


@pytest.mark.django_db
def test_deep_json_on_register_is_a_parse_error():
    """Issue 13 #3: 1,000 levels (2 KB) on anonymous register was a 500 RecursionError; now a 400."""
    body = '{"email": "a@example.com", "password": ' + nested(1000) + "}"
    response = APIClient().generic("POST", "/api/v1/auth/register/", body, content_type="application/json")
    error = assert_envelope(response, 400, "parse_error")
    assert "JSON_MAX_DEPTH" in error["message"] and "64" in error["message"]
    assert not User.objects.exists()


@pytest.mark.django_db
def test_deep_json_on_widget_session_is_a_parse_error():
    """Issue 13 #3 on the widget's anonymous session endpoint."""
    bot = BotFactory(allowed_origins=[SITE])
    client = APIClient()
    client.credentials(HTTP_ORIGIN=SITE)
    body = '{"language": ' + nested(1000) + "}"
    response = client.generic("POST", f"/widget/{bot.public_id}/session/", body, content_type="application/json")
    assert_envelope(response, 400, "parse_error")


@pytest.mark.django_db
def test_depth_at_the_limit_reaches_the_serializer(settings):
    """Exactly JSON_MAX_DEPTH levels parse; the serializer then judges the value (a 400 invalid)."""
    settings.JSON_MAX_DEPTH = 10
    client = APIClient()
    body = '{"email": "a@example.com", "password": ' + nested(9) + "}"
    response = client.generic("POST", "/api/v1/auth/register/", body, content_type="application/json")
    assert_envelope(response, 400, "invalid")
    body = '{"email": "a@example.com", "password": ' + nested(10) + "}"
    response = client.generic("POST", "/api/v1/auth/register/", body, content_type="application/json")
    assert_envelope(response, 400, "parse_error")


# -- NUL and lone surrogates -------------------------------------------------------------------------


def test_string_errors_name_paths_keys_and_positions():
    """Nested paths, list positions and bad keys are named; clean data has no errors."""
    data = {"a": [1, {"b": "x\x00"}], "c": {f"k{LONE}": 1}, "d": "fine"}
    assert string_errors(data) == {
        "a": {1: {"b": ["NUL characters (U+0000) are not allowed in text."]}},
        "c": {"k\\ud800": ["In this key: Lone surrogates (U+D800) are not allowed in text; send valid UTF-8."]},
    }
    # An error on a key and one inside a same-named sibling's value share a list (no crash).
    assert string_errors({"a\x00": 1, "a\\u0000": {"b": "\x00"}}) == {
        "a\\u0000": [
            "In this key: NUL characters (U+0000) are not allowed in text.",
            "b: NUL characters (U+0000) are not allowed in text.",
        ]
    }
    assert string_errors({"emoji": "\U0001f600", "n": None, "l": [1.5, True]}) == {}


BAD = pytest.mark.parametrize("bad", ["\x00", LONE, "\udfff"], ids=["nul", "high-surrogate", "low-surrogate"])


@BAD
def test_content_metadata_create(owner, organization, bad):
    """Issue 13 #4: metadata on create was a 500 (DataError / UnicodeEncodeError)."""
    response = raw_json(
        client_for(owner),
        f"/api/v1/orgs/{organization.slug}/content/",
        {"external_id": "c1", "title": "T", "metadata": {"note": f"a{bad}b"}},
    )
    error = assert_envelope(response, 400, "invalid")
    assert error["message"].startswith("Invalid input. metadata.note: ")
    assert error["details"] == {"metadata": {"note": [error["message"].split(": ", 1)[1]]}}
    assert not ContentItem.objects.exists()


@BAD
def test_content_metadata_update(owner, organization, bad):
    """Issue 13 #4: metadata on update; the stored item is unchanged."""
    item = ContentItemFactory(organization=organization, metadata={"note": "kept"})
    response = raw_json(
        client_for(owner),
        f"/api/v1/orgs/{organization.slug}/content/{item.pk}/",
        {"metadata": {"deep": [{"note": bad}]}},
        method="PATCH",
    )
    error = assert_envelope(response, 400, "invalid")
    assert "metadata.deep[0].note: " in error["message"]
    item.refresh_from_db()
    assert item.metadata == {"note": "kept"}


@BAD
def test_content_bulk_row(owner, organization, bad):
    """Issue 13 #4: a bulk row's metadata and external_id; the whole request is refused."""
    rows = [{"external_id": f"c{i}", "title": "T"} for i in range(5)]
    rows[3]["external_id"] = f"c{bad}3"
    rows[1]["metadata"] = {"note": bad}
    response = raw_json(client_for(owner), f"/api/v1/orgs/{organization.slug}/content/bulk/", {"items": rows})
    error = assert_envelope(response, 400, "invalid")
    assert "items[1].metadata.note: " in error["message"]
    assert "items[3].external_id: " in error["message"]
    assert not ContentItem.objects.exists()


@BAD
def test_member_sync_external_id(owner, organization, bad):
    """Issue 13 #4: member sync external_id."""
    members = [{"external_id": f"m{bad}", "email": "m@example.com"}]
    response = raw_json(client_for(owner), f"/api/v1/orgs/{organization.slug}/members/sync/", {"members": members})
    error = assert_envelope(response, 400, "invalid")
    assert error["message"].startswith("Invalid input. members[0].external_id: ")
    assert Membership.objects.filter(organization=organization).count() == 1


@BAD
def test_batch_idempotency_key(owner, organization, bad):
    """Issue 13 #4: interaction batch idempotency_key."""
    item = ContentItemFactory(organization=organization)
    events = [{"idempotency_key": "ok", "kind": "view", "item": item.pk}, {"idempotency_key": bad, "kind": "view"}]
    response = raw_json(client_for(owner), f"/api/v1/orgs/{organization.slug}/interactions/batch/", {"events": events})
    error = assert_envelope(response, 400, "invalid")
    assert error["message"].startswith("Invalid input. events[1].idempotency_key: ")
    assert not Interaction.objects.exists()


def test_bad_key_is_named(owner, organization):
    """A key holding a NUL is named (escaped) under its parent."""
    response = raw_json(
        client_for(owner), f"/api/v1/orgs/{organization.slug}/content/", {"title": "T", "metadata": {"a\x00b": 1}}
    )
    error = assert_envelope(response, 400, "invalid")
    assert error["message"].startswith("Invalid input. metadata.a\\u0000b: In this key: NUL characters")


@pytest.mark.parametrize("query", ["q=a%00b", "search=%00", "%00=1"])
def test_query_parameters(owner, organization, query):
    """A NUL in a query parameter (value or name) is a 400 naming the parameter, before any view."""
    response = client_for(owner).get(f"/api/v1/orgs/{organization.slug}/content/?{query}")
    error = assert_envelope(response, 400, "invalid")
    name = query.split("=")[0].replace("%00", "\\u0000")
    assert error["message"].startswith(f"Invalid input. {name}: ")


def test_query_parameters_on_the_widget_api():
    """The same check on the widget's visitor API (no database needed: refused before the view)."""
    response = APIClient().get("/widget/bot_abcdefgh1234/conversation/?x=%00")
    assert_envelope(response, 400, "invalid")


def test_multipart_form_field(owner, organization):
    """A NUL in a multipart form field is a 400 naming the field."""
    bot = BotFactory(organization=organization)
    payload = {"files": [SimpleUploadedFile("a.txt", b"hello")], "note": "x\x00y"}
    response = client_for(owner).post(
        f"/api/v1/orgs/{organization.slug}/bots/{bot.pk}/documents/", payload, format="multipart"
    )
    error = assert_envelope(response, 400, "invalid")
    assert error["message"].startswith("Invalid input. note: NUL characters")
    assert not bot.documents.exists()


# -- Django's request guards -----------------------------------------------------------------------


@pytest.mark.parametrize("debug", [False, True], ids=["debug-off", "debug-on"])
def test_oversized_body(settings, organization, owner, debug):
    """Issue 13 #8: a body over DATA_UPLOAD_MAX_MEMORY_SIZE was an HTML 400 with DEBUG on: now a 413
    naming the limit in both modes."""
    settings.DEBUG = debug
    response = client_for(owner).generic(
        "POST",
        f"/api/v1/orgs/{organization.slug}/members/sync/",
        '{"members": [], "pad": "' + "a" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1) + '"}',
        content_type="application/json",
    )
    error = assert_envelope(response, 413, "request_too_large")
    assert error["message"] == "The request body is larger than the 10 MB limit (DATA_UPLOAD_MAX_MEMORY_SIZE)."
    assert error["details"] == {"limit_bytes": 10 * 1024 * 1024}


@pytest.mark.parametrize("debug", [False, True], ids=["debug-off", "debug-on"])
def test_too_many_files(settings, organization, owner, debug):
    """Issue 13 #8: a 200-file upload was an HTML 400 with DEBUG on: now JSON naming the limit."""
    settings.DEBUG = debug
    bot = BotFactory(organization=organization)
    files = [SimpleUploadedFile(f"f{i}.txt", b"x") for i in range(200)]
    response = client_for(owner).post(
        f"/api/v1/orgs/{organization.slug}/bots/{bot.pk}/documents/", {"files": files}, format="multipart"
    )
    error = assert_envelope(response, 400, "too_many_files")
    assert error["message"] == "The request sends more than 100 files (DATA_UPLOAD_MAX_NUMBER_FILES)."
    assert not bot.documents.exists()


def test_too_many_query_parameters(user):
    """More query parameters than DATA_UPLOAD_MAX_NUMBER_FIELDS: a 400 naming the limit."""
    query = "&".join(f"p{i}=1" for i in range(1001))
    error = assert_envelope(client_for(user).get(f"/api/v1/orgs/?{query}"), 400, "too_many_fields")
    assert "DATA_UPLOAD_MAX_NUMBER_FIELDS" in error["message"]


# -- URL resolution and DEBUG ------------------------------------------------------------------------


@pytest.mark.parametrize("debug", [False, True], ids=["debug-off", "debug-on"])
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/nothing-here/",
        "/api/v1/orgs/{org}/content/abc/",  # a non-integer id: the URL does not resolve
        "/api/v1/orgs/{org}/bots/1x/documents/",
        "/widget/bot_abcdefgh1234/messages/x/feedback/",
        "/widget/not-a-bot/session/",
    ],
)
def test_unresolved_paths_are_json_404(settings, owner, organization, debug, path):
    """Issue 13 #8: with DEBUG on, Django's technical 404 page ignored handler404; now JSON either way."""
    settings.DEBUG = debug
    path = path.format(org=organization.slug)
    error = assert_envelope(client_for(owner).get(path), 404, "not_found")
    assert error["message"] == f"No API endpoint at {path}."


@pytest.mark.parametrize("debug", [False, True], ids=["debug-off", "debug-on"])
def test_post_without_trailing_slash(settings, user, debug):
    """A POST to an endpoint without its trailing slash (a 500 with DEBUG on, a body-losing redirect
    without) is a 404 saying so; a GET still redirects."""
    settings.DEBUG = debug
    client = client_for(user)
    error = assert_envelope(client.post("/api/v1/orgs", {"name": "x"}, format="json"), 404, "not_found")
    assert error["message"] == "No API endpoint at /api/v1/orgs; did you mean /api/v1/orgs/ (with the trailing slash)?"
    assert client.get("/api/v1/orgs").status_code == 301


def test_server_error_with_debug_on(settings, owner, monkeypatch):
    """With DEBUG on, an unexpected exception under /api/ answers the 500 envelope, not the debug page."""
    from apps.organizations.api import views

    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    settings.DEBUG = True
    monkeypatch.setattr(views.OrganizationListCreateApi, "get", explode)
    client = Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Bearer {token_pair(owner)['access']}")
    error = assert_envelope(client.get("/api/v1/orgs/"), 500, "server_error")
    assert "boom" not in error["message"]


def test_method_not_allowed_keeps_allow(user):
    """A 405 stays in the envelope with its Allow header."""
    response = client_for(user).delete("/api/v1/orgs/")
    assert_envelope(response, 405, "method_not_allowed")
    assert "GET" in response["Allow"]


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [False, True], ids=["debug-off", "debug-on"])
def test_widget_pages_stay_html(settings, debug):
    """The widget's pages and loader script are not JSON by design: their 404s stay as they were."""
    settings.DEBUG = debug
    for path in ("/widget/bot_abcdefgh1234/frame/", "/widget/bot_abcdefgh1234.js"):
        response = Client().get(path)
        assert response.status_code == 404
        assert not response["Content-Type"].startswith("application/json")


# -- static files ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/static/%2e%2e/%2e%2e/config/settings/base.py", "/static/..%2fmanage.py"])
def test_static_traversal_is_a_404(path):
    """Issue 13 #8: `GET /static/%2e%2e/...` was a 500 under runserver; WhiteNoise (make run) answers 404."""
    response = Client().get(path)
    assert response.status_code == 404


@pytest.mark.django_db
def test_static_traversal_under_runserver(settings):
    """Issue 13 #8: `manage.py runserver` wrapped the app in Django's static handler, which let a
    SuspiciousFileOperation escape as a 500; runserver now leaves static files to WhiteNoise (the
    handler it builds is replayed here with the request that failed)."""
    from django.core.management import get_commands, load_command_class
    from django.test.client import RequestFactory

    settings.DEBUG = True
    command = load_command_class(get_commands()["runserver"], "runserver")
    options = vars(command.create_parser("manage.py", "runserver").parse_args([]))
    handler = command.get_handler(**options)
    started = []

    def start_response(status, headers, exc_info=None):
        started.append(status)

    for path in ("/static/../manage.py", "/static/../../config/settings/base.py", "/static/admin/css/base.css"):
        started.clear()
        body = b"".join(handler(RequestFactory().get(path).environ, start_response))
        expected = "200 OK" if path.endswith("base.css") else "404 Not Found"
        assert started == [expected], (path, body[:200])
