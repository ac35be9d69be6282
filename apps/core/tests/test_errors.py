"""Bad input gets a clear 4xx in the one error envelope, never a 500, and writes nothing.

Covers: malformed JSON, wrong content type, wrong types, unknown slugs and ids, unknown API
paths, wrong methods, bad pagination, throttling (429 + Retry-After), and that a failing
request rolls back every write it made.
"""

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from apps.organizations.models import Organization
from conftest import client_for

User = get_user_model()


def assert_envelope(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]


def test_malformed_json(user):
    """A truncated JSON body is a 400 parse_error naming the JSON problem."""
    response = client_for(user).generic("POST", "/api/v1/orgs/", '{"name": ', content_type="application/json")
    error = assert_envelope(response, 400, "parse_error")
    assert "JSON" in error["message"]
    assert not Organization.objects.exists()


def test_unsupported_media_type(user):
    """Form-encoded bodies are refused with 415 (the API speaks JSON)."""
    response = client_for(user).post("/api/v1/orgs/", "name=x", content_type="application/x-www-form-urlencoded")
    assert_envelope(response, 415, "unsupported_media_type")


@pytest.mark.parametrize("payload", [{"name": 12}, {"name": ["a"]}, {"name": None}, {"name": "ok", "slug": 5}, []])
def test_wrong_types(user, payload):
    """Numbers, lists or null where a string is expected: 400 naming the field; nothing written."""
    response = client_for(user).post("/api/v1/orgs/", payload, format="json")
    error = assert_envelope(response, 400, "invalid")
    assert error["details"]
    assert not Organization.objects.exists()


def test_validation_message_names_the_field(user):
    """The message is readable on its own: it names the field and the problem."""
    response = client_for(user).post("/api/v1/orgs/", {}, format="json")
    error = assert_envelope(response, 400, "invalid")
    assert error["message"] == "Invalid input. name: This field is required."
    assert error["details"] == {"name": ["This field is required."]}


def test_unknown_slug_and_ids(owner, organization):
    """Unknown organization slugs and object ids are 404 in the envelope."""
    client = client_for(owner)
    assert_envelope(client.get("/api/v1/orgs/no-such-org/"), 404, "not_found")
    assert_envelope(client.get(f"/api/v1/orgs/{organization.slug}/members/999999/"), 404, "not_found")


def test_unknown_api_path_is_json_404(user):
    """Paths under /api/ that match nothing answer JSON, not an HTML page."""
    error = assert_envelope(client_for(user).get("/api/v1/nothing-here/"), 404, "not_found")
    assert "/api/v1/nothing-here/" in error["message"]


def test_method_not_allowed(user):
    """PUT on a collection is 405 in the envelope."""
    assert_envelope(client_for(user).put("/api/v1/orgs/", {}, format="json"), 405, "method_not_allowed")


def test_anonymous_is_401(db):
    """No credentials on a protected endpoint: 401 not_authenticated with WWW-Authenticate."""
    response = APIClient().get("/api/v1/orgs/")
    assert_envelope(response, 401, "not_authenticated")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_garbage_bearer_token_is_401(db):
    """A tampered or garbage JWT is 401 token_not_valid, never a 500."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer not.a.jwt")
    assert_envelope(client.get("/api/v1/orgs/"), 401, "token_not_valid")


@pytest.mark.parametrize("query", ["page_size=0", "page_size=abc", "page_size=1000"])
def test_bad_page_size(user, query):
    """A page size outside 1..200 or not a number is a 400 naming page_size."""
    error = assert_envelope(client_for(user).get(f"/api/v1/orgs/?{query}"), 400, "invalid")
    assert "page_size" in error["details"]


@pytest.mark.parametrize("query", ["page=", "page=0", "page=abc", "page=last"])
def test_bad_page(user, query):
    """A page that is not a positive integer is a 400 naming page (not silently page 1)."""
    error = assert_envelope(client_for(user).get(f"/api/v1/orgs/?{query}"), 400, "invalid")
    assert "page" in error["details"]


def test_page_past_the_end(user):
    """A page past the last one is a 404."""
    assert_envelope(client_for(user).get("/api/v1/orgs/?page=99"), 404, "not_found")


def with_rates(settings, **rates):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], **rates},
    }


def test_throttled_login_says_when_to_retry(db, settings):
    """Past the login rate, login answers 429 with Retry-After and details.retry_after."""
    with_rates(settings, login_ip="2/min")
    client = APIClient()
    for _ in range(2):
        assert client.post("/api/v1/auth/token/", {"email": "a@b.c", "password": "x"}, format="json").status_code == 401
    response = client.post("/api/v1/auth/token/", {"email": "a@b.c", "password": "x"}, format="json")
    error = assert_envelope(response, 429, "throttled")
    assert int(response.headers["Retry-After"]) > 0
    assert error["details"]["retry_after"] == int(response.headers["Retry-After"])


def test_throttles_count_the_client_address(db, settings):
    """Throttles identify callers by client_ip: a forged X-Forwarded-For is ignored without trusted proxies;
    behind one, callers are counted by the address the proxy saw."""
    with_rates(settings, login_ip="1/min")
    client = APIClient()

    def login(**headers):
        return client.post("/api/v1/auth/token/", {"email": "a@b.c", "password": "x"}, format="json", **headers)

    assert login(HTTP_X_FORWARDED_FOR="198.51.100.1").status_code == 401
    assert login(HTTP_X_FORWARDED_FOR="198.51.100.2").status_code == 429
    settings.TRUSTED_PROXIES = 1
    assert login(HTTP_X_FORWARDED_FOR="203.0.113.1").status_code == 401
    assert login(HTTP_X_FORWARDED_FOR="203.0.113.2").status_code == 401
    assert login(HTTP_X_FORWARDED_FOR="203.0.113.9, 203.0.113.1").status_code == 429


def test_failed_request_writes_nothing(db, monkeypatch):
    """Registration that fails after validation (plan lookup broken) leaves no user behind."""
    from apps.users import services

    def explode(**kwargs):
        User.objects.create_user(email="half@example.com", password="x-very-long-password")
        raise services.ApplicationError("boom", code="test_failure")

    monkeypatch.setattr(services, "user_register", explode)
    response = APIClient().post(
        "/api/v1/auth/register/", {"email": "half@example.com", "password": "x-very-long-password"}, format="json"
    )
    assert_envelope(response, 400, "test_failure")
    assert not User.objects.filter(email="half@example.com").exists()


def test_oversized_body_is_a_json_413(settings, organization, owner):
    """A body over DATA_UPLOAD_MAX_MEMORY_SIZE gets the API's error envelope naming the limit, not an HTML page."""
    from django.test import Client

    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    client = Client(raise_request_exception=False)
    client.force_login(owner)
    response = client.post(
        f"/api/v1/orgs/{organization.slug}/members/sync/",
        data='{"members": [], "pad": "' + "a" * 5000 + '"}',
        content_type="application/json",
    )
    assert response.status_code == 413
    assert response.json()["error"] == {
        "code": "request_too_large",
        "message": "The request body is larger than the 1000 bytes limit (DATA_UPLOAD_MAX_MEMORY_SIZE).",
        "details": {"limit_bytes": 1000},
    }


def test_a_write_refused_by_a_data_rule_is_a_409_that_keeps_nothing(db, monkeypatch, caplog):
    """The net under the races the services do not foresee: a write PostgreSQL refuses (here a unique key, as when
    two requests create the same thing at the same moment) answers 409 `conflict` naming the rule, not a 500; what
    the request wrote before is rolled back, and the log keeps the traceback."""
    from apps.organizations.tests.factories import plan
    from apps.users import services

    free = plan("free")

    def collide(**kwargs):
        User.objects.create_user(email="first@example.com", password="x-very-long-password")
        Organization.objects.create(name="One", slug="same-slug", plan=free)
        Organization.objects.create(name="Two", slug="same-slug", plan=free)  # the key another request took first

    monkeypatch.setattr(services, "user_register", collide)
    response = APIClient().post(
        "/api/v1/auth/register/", {"email": "first@example.com", "password": "x-very-long-password"}, format="json"
    )
    error = assert_envelope(response, 409, "conflict")
    assert error["details"] == {"constraint": "organizations_organization_slug_key"}
    assert "organizations_organization_slug_key" in error["message"]
    assert "same-slug" not in error["message"]  # the key's values are not repeated back
    assert not User.objects.filter(email="first@example.com").exists()
    assert not Organization.objects.exists()
    assert any("answered 409" in record.getMessage() and record.exc_info for record in caplog.records)


def test_a_value_the_database_refuses_is_a_400_that_keeps_nothing(db, monkeypatch):
    """A rule of one value (here NOT NULL) that no check before the write caught: 400 `invalid` naming the column."""
    from apps.users import services

    def incomplete(**kwargs):
        User.objects.create_user(email="first@example.com", password="x-very-long-password")
        Organization.objects.create(name="No plan", slug="no-plan")  # plan is required

    monkeypatch.setattr(services, "user_register", incomplete)
    response = APIClient().post(
        "/api/v1/auth/register/", {"email": "first@example.com", "password": "x-very-long-password"}, format="json"
    )
    error = assert_envelope(response, 400, "invalid")
    assert error["details"] == {"constraint": "plan_id"}
    assert not User.objects.filter(email="first@example.com").exists()
    assert not Organization.objects.exists()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_reference_broken_at_commit_is_a_409_that_keeps_nothing(monkeypatch):
    """Django makes foreign keys deferred: a row the request references that is gone (deleted by another request
    meanwhile) is refused at COMMIT, after the view returned, where the API's exception handler no longer runs.
    The middleware answers as the handler does: 409 `conflict` naming the rule, the request's writes rolled back."""
    from apps.organizations.models import Membership, Role
    from apps.users import services

    def dangling(**kwargs):
        user = User.objects.create_user(email="first@example.com", password="x-very-long-password")
        Membership.objects.create(organization_id=2**31 - 1, user=user, role=Role.MEMBER)  # no such organization
        return user

    monkeypatch.setattr(services, "user_register", dangling)
    response = APIClient().post(
        "/api/v1/auth/register/", {"email": "first@example.com", "password": "x-very-long-password"}, format="json"
    )
    error = assert_envelope(response, 409, "conflict")
    assert error["details"]["constraint"].startswith("organizations_member_organization_id_")
    assert not User.objects.filter(email="first@example.com").exists()
