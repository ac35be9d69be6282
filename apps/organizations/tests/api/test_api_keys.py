"""API keys: management at /api/v1/orgs/{slug}/api-keys/[{id}/] and `Authorization: Api-Key <key>` use.

Coverage:
- create: admin (201, whole body with the `key` "bk_<prefix>_<secret>" shown once; the row stores only its
  sha256 `key_hash`), with an expiry, past expiry / no scopes / unknown scope -> 400, member 403, anonymous
  401; plan limit (free: 2 non-revoked keys) -> 403 "plan_limit_exceeded" naming the limit, a revoked key
  frees its slot;
- list/detail: whole bodies, never the `key`; query count does not grow with the rows; member 403;
  another organization's key id 404;
- revoke: DELETE -> 200 with revoked_at set and is_active false, the row persisted; then the key -> 401;
- use: the key lists members (200) and sets last_used_at; a read-only key cannot PATCH the organization
  (403 naming 'write'), a write-only key cannot read (403 naming 'read'), a read+write key can PATCH;
  the key on another organization's URL -> 404; a key cannot list organizations, manage API keys or
  invitations (403); expired, malformed, unknown-prefix and wrong-secret keys -> 401 with the error envelope.
"""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.organizations.models import ApiKey, Invitation, Role, hash_secret
from apps.organizations.tests.factories import MembershipFactory, OrganizationFactory, api_key_for, plan
from apps.organizations.tests.utils import error, iso, membership_body, org_url
from conftest import client_for

pytestmark = pytest.mark.django_db


def key_client(api_client, key: str):
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return api_client


def api_key_body(api_key, **overrides) -> dict:
    body = {
        "id": api_key.id,
        "name": api_key.name,
        "prefix": api_key.prefix,
        "scopes": api_key.scopes,
        "is_active": api_key.is_active,
        "created_by": api_key.created_by.email if api_key.created_by else None,
        "created_at": iso(api_key.created_at),
        "last_used_at": iso(api_key.last_used_at),
        "expires_at": iso(api_key.expires_at),
        "revoked_at": iso(api_key.revoked_at),
    }
    return body | overrides


# --------------------------------------------------------------------------- create


def test_admin_creates_a_key_shown_once_and_stored_hashed(organization, admin_user):
    """201 with the secret once; the database holds its sha256, never the secret."""
    response = client_for(admin_user).post(
        org_url(organization, "api-keys/"), {"name": "CI", "scopes": ["write", "read"]}
    )

    assert response.status_code == 201, response.data
    api_key = ApiKey.objects.get(organization=organization)
    body = response.json()
    key = body.pop("key")
    assert body == {
        "id": api_key.id,
        "name": "CI",
        "prefix": api_key.prefix,
        "scopes": ["read", "write"],
        "is_active": True,
        "created_by": admin_user.email,
        "created_at": iso(api_key.created_at),
        "last_used_at": None,
        "expires_at": None,
        "revoked_at": None,
    }
    assert key.startswith(f"bk_{api_key.prefix}_") and len(key) > len(f"bk_{api_key.prefix}_") + 30
    assert api_key.key_hash == hash_secret(key) and len(api_key.key_hash) == 64
    stored = ApiKey.objects.filter(pk=api_key.pk).values().get()
    assert key not in {str(value) for value in stored.values()}
    assert api_key.created_by == admin_user


def test_create_with_expiry(organization, admin_user):
    """An explicit future expiry is stored and rendered."""
    expires_at = timezone.now() + timedelta(days=30)

    response = client_for(admin_user).post(
        org_url(organization, "api-keys/"), {"name": "Temp", "scopes": ["read"], "expires_at": expires_at.isoformat()}
    )

    assert response.status_code == 201, response.data
    api_key = ApiKey.objects.get(organization=organization)
    assert api_key.expires_at == expires_at
    assert response.json()["expires_at"] == iso(expires_at)
    assert response.json()["scopes"] == ["read"]


def test_create_with_dedicated_scopes(organization, admin_user):
    """Issue 18: the dedicated scopes members:sync and recommendations:manage can be given, with the others."""
    scopes = ["recommendations:manage", "read", "members:sync", "write"]
    response = client_for(admin_user).post(org_url(organization, "api-keys/"), {"name": "CRM", "scopes": scopes})

    assert response.status_code == 201, response.data
    assert response.json()["scopes"] == ["members:sync", "read", "recommendations:manage", "write"]
    assert ApiKey.objects.get(organization=organization).scopes == sorted(scopes)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "No scopes", "scopes": []}, "scopes"),
        ({"name": "Bad scope", "scopes": ["admin"]}, "scopes"),
        ({"scopes": ["read"]}, "name"),
        ({"name": "Past", "scopes": ["read"], "expires_at": "2000-01-01T00:00:00Z"}, "expires_at"),
    ],
)
def test_create_invalid_input_is_400(organization, admin_user, payload, field):
    """Missing name, empty or unknown scopes and a past expiry -> 400 on that field; no key created."""
    response = client_for(admin_user).post(org_url(organization, "api-keys/"), payload)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert list(response.json()["error"]["details"]) == [field]
    assert not ApiKey.objects.filter(organization=organization).exists()


def test_member_cannot_create_or_list_keys(organization, member):
    """Members get 403 on both list and create."""
    client = client_for(member)

    listed = client.get(org_url(organization, "api-keys/"))
    created = client.post(org_url(organization, "api-keys/"), {"name": "x", "scopes": ["read"]})

    assert listed.status_code == created.status_code == 403
    assert listed.json() == error("permission_denied", "This action needs the admin role in this organization.")
    assert not ApiKey.objects.filter(organization=organization).exists()


def test_anonymous_is_401(organization, api_client):
    """No credentials -> 401."""
    response = api_client.get(org_url(organization, "api-keys/"))

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_plan_limit_on_keys(db):
    """Free plan: a third key -> 403 naming the limit; revoking one frees its slot."""
    organization = OrganizationFactory(plan=plan("free"))
    admin = MembershipFactory(organization=organization, role=Role.ADMIN).user
    first, _key = api_key_for(organization)
    api_key_for(organization)
    client = client_for(admin)

    refused = client.post(org_url(organization, "api-keys/"), {"name": "third", "scopes": ["read"]})

    assert refused.status_code == 403
    assert refused.json() == error(
        "plan_limit_exceeded",
        "The Free plan allows 2 active API keys; this organization uses 2. Upgrade the plan or remove some first.",
        {"limit": "max_api_keys", "allowed": 2, "used": 2},
    )
    assert ApiKey.objects.filter(organization=organization).count() == 2
    assert client.delete(org_url(organization, f"api-keys/{first.id}/")).status_code == 200
    accepted = client.post(org_url(organization, "api-keys/"), {"name": "third", "scopes": ["read"]})
    assert accepted.status_code == 201, accepted.data


# --------------------------------------------------------------------------- list, detail, revoke


def test_list_and_detail_never_show_the_key(organization, admin_user):
    """List (newest first) and detail render the key's metadata but not the secret."""
    older, older_key = api_key_for(organization, name="older", scopes=("read",), created_by=admin_user)
    newer, newer_key = api_key_for(organization, name="newer")
    client = client_for(admin_user)

    listed = client.get(org_url(organization, "api-keys/"))
    detail = client.get(org_url(organization, f"api-keys/{older.id}/"))

    assert listed.status_code == detail.status_code == 200
    assert listed.json() == {
        "count": 2,
        "next": None,
        "previous": None,
        "results": [api_key_body(newer), api_key_body(older)],
    }
    assert detail.json() == api_key_body(older)
    assert detail.json()["created_by"] == admin_user.email
    for text in (listed.content.decode(), detail.content.decode()):
        assert older_key not in text and newer_key not in text
        assert '"key"' not in text


def test_list_query_count_does_not_grow(organization, admin_user, django_assert_max_num_queries):
    """Listing 6 keys takes no more queries than listing 1 (the creator is joined)."""
    api_key_for(organization, created_by=admin_user)
    client = client_for(admin_user)
    with CaptureQueriesContext(connection) as baseline:
        assert client.get(org_url(organization, "api-keys/")).status_code == 200
    baseline_count = len(baseline.captured_queries)  # read now: a later request resets the query log
    assert baseline_count > 0
    for _ in range(5):
        api_key_for(organization, created_by=MembershipFactory(organization=organization, role=Role.ADMIN).user)

    with django_assert_max_num_queries(baseline_count):
        response = client.get(org_url(organization, "api-keys/"))

    assert response.json()["count"] == 6
    assert len({row["created_by"] for row in response.json()["results"]}) == 6


def test_other_organizations_key_is_404(organization, admin_user, other_organization):
    """Another organization's key id under this organization's URL -> 404 for read and revoke."""
    foreign, _key = api_key_for(other_organization)
    client = client_for(admin_user)

    read = client.get(org_url(organization, f"api-keys/{foreign.id}/"))
    revoke = client.delete(org_url(organization, f"api-keys/{foreign.id}/"))

    assert read.status_code == revoke.status_code == 404
    assert read.json() == error("not_found", "API key not found.")
    foreign.refresh_from_db()
    assert foreign.revoked_at is None


def test_revoke_then_the_key_is_refused(organization, admin_user, api_client):
    """DELETE revokes (200, revoked_at set, inactive); the key then gets a 401 envelope."""
    api_key, key = api_key_for(organization)

    response = client_for(admin_user).delete(org_url(organization, f"api-keys/{api_key.id}/"))

    assert response.status_code == 200
    api_key.refresh_from_db()
    assert api_key.revoked_at is not None
    assert response.json() == api_key_body(api_key, is_active=False)
    used = key_client(api_client, key).get(org_url(organization, "members/"))
    assert used.status_code == 401
    assert used.json() == error("authentication_failed", "This API key has been revoked.")


# --------------------------------------------------------------------------- using a key


def test_key_lists_members_and_records_use(organization, owner, api_client):
    """A read key lists the organization's members and sets last_used_at."""
    api_key, key = api_key_for(organization, scopes=("read",))
    assert api_key.last_used_at is None
    before = timezone.now()

    response = key_client(api_client, key).get(org_url(organization, "members/"))

    assert response.status_code == 200
    assert response.json() == {
        "count": 1,
        "next": None,
        "previous": None,
        "results": [membership_body(organization.memberships.get())],
    }
    api_key.refresh_from_db()
    assert before <= api_key.last_used_at <= timezone.now()


def test_read_only_key_cannot_write(organization, api_client):
    """A read-only key on PATCH /orgs/{slug}/ -> 403 naming the missing 'write' scope; unchanged."""
    _api_key, key = api_key_for(organization, scopes=("read",))
    name = organization.name

    response = key_client(api_client, key).patch(org_url(organization), {"name": "Renamed"})

    assert response.status_code == 403
    assert response.json() == error("permission_denied", "This API key lacks the 'write' scope.")
    organization.refresh_from_db()
    assert organization.name == name


def test_write_only_key_cannot_read(organization, api_client):
    """A write-only key on GET -> 403 naming the missing 'read' scope."""
    _api_key, key = api_key_for(organization, scopes=("write",))

    response = key_client(api_client, key).get(org_url(organization, "members/"))

    assert response.status_code == 403
    assert response.json() == error("permission_denied", "This API key lacks the 'read' scope.")


def test_write_key_updates_the_organization(organization, api_client):
    """A read+write key renames the organization; the key has no role."""
    _api_key, key = api_key_for(organization, scopes=("read", "write"))

    response = key_client(api_client, key).patch(org_url(organization), {"name": "Renamed by key"})

    assert response.status_code == 200, response.data
    organization.refresh_from_db()
    assert organization.name == "Renamed by key"
    assert response.json() == {
        "id": organization.id,
        "name": "Renamed by key",
        "slug": organization.slug,
        "plan": response.json()["plan"],
        "personality_admin_access": False,
        "created_at": iso(organization.created_at),
        "role": None,
    }
    assert response.json()["plan"]["code"] == organization.plan.code


def test_key_on_another_organization_is_404(organization, other_organization, api_client):
    """A key of one organization on another organization's URL -> 404, as for an unknown slug."""
    _api_key, key = api_key_for(organization)

    response = key_client(api_client, key).get(org_url(other_organization, "members/"))

    assert response.status_code == 404
    assert response.json() == error("not_found", "Organization not found.")


@pytest.mark.parametrize(
    ("method", "suffix", "payload"),
    [
        ("get", "api-keys/", None),
        ("post", "api-keys/", {"name": "child", "scopes": ["read"]}),
        ("get", "invitations/", None),
        ("post", "invitations/", {"email": "x@example.com"}),
    ],
)
def test_key_cannot_manage_keys_or_invitations(organization, api_client, method, suffix, payload):
    """API keys and invitations need a person: a read+write key -> 403; nothing created."""
    _api_key, key = api_key_for(organization)

    response = getattr(key_client(api_client, key), method)(org_url(organization, suffix), payload)

    assert response.status_code == 403
    assert response.json() == error("permission_denied", "API keys cannot use this endpoint; sign in as a person.")
    assert ApiKey.objects.filter(organization=organization).count() == 1
    assert not Invitation.objects.filter(organization=organization).exists()


def test_key_cannot_list_organizations(organization, api_client):
    """GET /api/v1/orgs/ needs a person: 403 for an API key."""
    _api_key, key = api_key_for(organization)

    response = key_client(api_client, key).get("/api/v1/orgs/")

    assert response.status_code == 403


def test_expired_key_is_401(organization, api_client):
    """A key past its expiry -> 401."""
    api_key, key = api_key_for(organization)
    ApiKey.objects.filter(pk=api_key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    response = key_client(api_client, key).get(org_url(organization, "members/"))

    assert response.status_code == 401
    assert response.json() == error("authentication_failed", "This API key has expired.")


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("Api-Key not-a-key", "Malformed API key: expected 'bk_<prefix>_<secret>'."),
        ("Api-Key xx_deadbeef_secret", "Malformed API key: expected 'bk_<prefix>_<secret>'."),
        ("Api-Key bk_00000000_unknownprefixsecret", "Invalid API key."),
        ("Api-Key", "Invalid Authorization header: expected 'Api-Key <key>'."),
        ("Api-Key bk_a b", "Invalid Authorization header: expected 'Api-Key <key>'."),
    ],
)
def test_bad_key_is_401(organization, api_client, header, message):
    """Malformed keys, unknown prefixes and broken headers -> 401 with the error envelope."""
    api_client.credentials(HTTP_AUTHORIZATION=header)

    response = api_client.get(org_url(organization, "members/"))

    assert response.status_code == 401
    assert response.json() == error("authentication_failed", message)


def test_wrong_secret_with_a_real_prefix_is_401(organization, api_client):
    """A known prefix with another secret -> 401 "Invalid API key."; last_used_at untouched."""
    api_key, key = api_key_for(organization)
    forged = f"bk_{api_key.prefix}_{'x' * 43}"
    assert forged != key

    response = key_client(api_client, forged).get(org_url(organization, "members/"))

    assert response.status_code == 401
    assert response.json() == error("authentication_failed", "Invalid API key.")
    api_key.refresh_from_db()
    assert api_key.last_used_at is None


def test_migration_keeps_existing_write_keys_able_to_sync(organization):
    """Issue 18, migration 0005: keys with `write` get `members:sync` (member sync used to accept them);
    read-only keys do not; running it twice changes nothing more."""
    from importlib import import_module

    from django.apps import apps

    migration = import_module("apps.organizations.migrations.0005_api_key_dedicated_scopes")
    write, _ = api_key_for(organization, scopes=("read", "write"))
    read, _ = api_key_for(organization, scopes=("read",))
    migration.grant_sync_to_write_keys(apps, None)
    migration.grant_sync_to_write_keys(apps, None)
    write.refresh_from_db()
    read.refresh_from_db()
    assert write.scopes == ["members:sync", "read", "write"]
    assert read.scopes == ["read"]
