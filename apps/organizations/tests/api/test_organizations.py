"""Organization API: POST/GET /api/v1/orgs/, GET/PATCH /api/v1/orgs/{slug}/.

Coverage:
- create: creator becomes owner (Membership row), default plan "free", slug from the name, explicit slug,
  slug collision of a generated slug gets a suffix, taken explicit slug -> 400 with nothing written,
  missing name -> 400, anonymous -> 401, API key -> 403;
- list: only the caller's organizations, each with the caller's role, paginated envelope with links,
  query count does not grow with the number of organizations (no N+1), anonymous -> 401;
- retrieve: member 200 with their role, non-member 404 (same as an unknown slug), anonymous 401;
- update: member 403, admin 200 and persisted, owner 200, non-member 404, blank name 400.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.organizations.models import Membership, Organization, Role
from apps.organizations.tests.factories import MembershipFactory, OrganizationFactory, api_key_for
from apps.organizations.tests.utils import FREE_PLAN, error, iso, org_body, org_url
from conftest import client_for

pytestmark = pytest.mark.django_db

URL = "/api/v1/orgs/"


# --------------------------------------------------------------------------- create


def test_create_makes_the_creator_owner_on_the_default_plan(user):
    """POST creates the organization on plan "free", with the creator as its owner and a slug from the name."""
    response = client_for(user).post(URL, {"name": "Acme Research"})

    assert response.status_code == 201, response.data
    organization = Organization.objects.get(slug="acme-research")
    assert response.json() == {
        "id": organization.id,
        "name": "Acme Research",
        "slug": "acme-research",
        "plan": FREE_PLAN,
        "personality_admin_access": False,
        "created_at": iso(organization.created_at),
        "role": "owner",
    }
    assert organization.plan.code == "free"
    assert list(Membership.objects.filter(organization=organization).values_list("user_id", "role")) == [
        (user.id, Role.OWNER)
    ]


def test_create_with_explicit_slug(user):
    """An explicit slug is kept as given."""
    response = client_for(user).post(URL, {"name": "Acme", "slug": "acme-eu"})

    assert response.status_code == 201, response.data
    assert response.json()["slug"] == "acme-eu"
    assert Organization.objects.get(slug="acme-eu").name == "Acme"


def test_create_generated_slug_avoids_a_taken_one(user):
    """When the name's slug is taken, the generated slug gets a random suffix instead of failing."""
    OrganizationFactory(slug="acme")

    response = client_for(user).post(URL, {"name": "Acme"})

    assert response.status_code == 201, response.data
    slug = response.json()["slug"]
    assert slug.startswith("acme-") and slug != "acme"
    assert Organization.objects.filter(slug=slug, name="Acme").exists()


def test_create_with_taken_slug_is_400_and_writes_nothing(user):
    """A taken explicit slug -> 400 on the slug field; no organization or membership is created."""
    OrganizationFactory(slug="taken")
    organizations, memberships = Organization.objects.count(), Membership.objects.count()

    response = client_for(user).post(URL, {"name": "Another", "slug": "taken"})

    assert response.status_code == 400
    assert response.json() == error(
        "invalid", "Invalid input. slug: The slug 'taken' is taken.", {"slug": ["The slug 'taken' is taken."]}
    )
    assert Organization.objects.count() == organizations
    assert Membership.objects.count() == memberships


def test_create_without_name_is_400(user):
    """The name is required."""
    response = client_for(user).post(URL, {})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert list(response.json()["error"]["details"]) == ["name"]


def test_create_anonymous_is_401(api_client):
    """Anonymous callers get 401 and nothing is created."""
    count = Organization.objects.count()

    response = api_client.post(URL, {"name": "Nope"})

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert Organization.objects.count() == count


def test_create_with_api_key_is_403(organization, api_client):
    """An API key is not a person and cannot create organizations."""
    _api_key, key = api_key_for(organization)
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")

    response = api_client.post(URL, {"name": "Bot Org"})

    assert response.status_code == 403
    assert response.json() == error("permission_denied", "This endpoint needs a user's token; API keys cannot use it.")


# --------------------------------------------------------------------------- list


def test_list_only_the_callers_organizations_with_their_role(user, other_organization):
    """GET lists the caller's organizations (by name) with their role; others' organizations are absent."""
    beta = MembershipFactory(user=user, organization=OrganizationFactory(name="Beta"), role=Role.MEMBER).organization
    alpha = MembershipFactory(user=user, organization=OrganizationFactory(name="Alpha"), role=Role.OWNER).organization
    gamma = MembershipFactory(user=user, organization=OrganizationFactory(name="Gamma"), role=Role.ADMIN).organization

    response = client_for(user).get(URL)

    assert response.status_code == 200
    assert response.json() == {
        "count": 3,
        "next": None,
        "previous": None,
        "results": [org_body(alpha, "owner"), org_body(beta, "member"), org_body(gamma, "admin")],
    }


def test_list_is_paginated(user):
    """page_size/page split the list and give next/previous links."""
    organizations = [
        MembershipFactory(user=user, organization=OrganizationFactory(name=f"Org {i}")).organization for i in range(3)
    ]
    client = client_for(user)

    first = client.get(URL, {"page_size": 2})
    second = client.get(URL, {"page_size": 2, "page": 2})

    assert first.status_code == second.status_code == 200
    assert first.json() == {
        "count": 3,
        "next": "http://testserver/api/v1/orgs/?page=2&page_size=2",
        "previous": None,
        "results": [org_body(o, "member") for o in organizations[:2]],
    }
    assert second.json() == {
        "count": 3,
        "next": None,
        "previous": "http://testserver/api/v1/orgs/?page_size=2",
        "results": [org_body(organizations[2], "member")],
    }


def test_list_query_count_does_not_grow(user, django_assert_max_num_queries):
    """Listing 6 organizations takes no more queries than listing 1 (plan and role are not fetched per row)."""
    client = client_for(user)
    MembershipFactory(user=user, organization=OrganizationFactory(name="Org 0"))
    with CaptureQueriesContext(connection) as baseline:
        assert client.get(URL).status_code == 200
    baseline_count = len(baseline.captured_queries)  # read now: a later request resets the query log
    assert baseline_count > 0
    for i in range(1, 6):
        MembershipFactory(user=user, organization=OrganizationFactory(name=f"Org {i}"), role=Role.ADMIN)

    with django_assert_max_num_queries(baseline_count):
        response = client.get(URL)

    assert response.status_code == 200
    assert response.json()["count"] == 6
    assert {o["role"] for o in response.json()["results"]} == {"member", "admin"}


def test_list_anonymous_is_401(api_client):
    """Anonymous callers get 401."""
    response = api_client.get(URL)

    assert response.status_code == 401


# --------------------------------------------------------------------------- retrieve


def test_retrieve_as_member(organization, member):
    """A member reads the organization with their role."""
    response = client_for(member).get(org_url(organization))

    assert response.status_code == 200
    assert response.json() == org_body(organization, "member")


def test_retrieve_non_member_is_404_like_an_unknown_slug(organization, other_organization, member):
    """Another organization's slug and a missing slug give the same 404."""
    client = client_for(member)

    other = client.get(org_url(other_organization))
    missing = client.get("/api/v1/orgs/does-not-exist/")

    assert other.status_code == missing.status_code == 404
    assert other.json() == missing.json() == error("not_found", "Organization not found.")


def test_retrieve_anonymous_is_401(organization, api_client):
    """Anonymous callers get 401 before the slug is resolved."""
    response = api_client.get(org_url(organization))

    assert response.status_code == 401


# --------------------------------------------------------------------------- update


def test_update_as_member_is_403(organization, member):
    """A member cannot rename the organization; the name is unchanged."""
    name = organization.name

    response = client_for(member).patch(org_url(organization), {"name": "Renamed"})

    assert response.status_code == 403
    assert response.json() == error("permission_denied", "This action needs the admin role in this organization.")
    organization.refresh_from_db()
    assert organization.name == name


@pytest.mark.parametrize("role", [Role.ADMIN, Role.OWNER])
def test_update_as_admin_or_owner(organization, role):
    """Admins and owners rename the organization; the body shows the new name and their role."""
    actor = MembershipFactory(organization=organization, role=role).user

    response = client_for(actor).patch(org_url(organization), {"name": "Renamed"})

    assert response.status_code == 200, response.data
    organization.refresh_from_db()
    assert organization.name == "Renamed"
    assert response.json() == org_body(organization, str(role))


def test_update_non_member_is_404(organization, other_organization, admin_user):
    """An admin of one organization cannot rename another: 404, unchanged."""
    name = other_organization.name

    response = client_for(admin_user).patch(org_url(other_organization), {"name": "Hijacked"})

    assert response.status_code == 404
    other_organization.refresh_from_db()
    assert other_organization.name == name


def test_personality_admin_access_is_an_owner_choice(organization, admin_user, owner):
    """Owners switch admins' access to personality profiles; an admin gets 403 and nothing changes."""
    response = client_for(admin_user).patch(org_url(organization), {"personality_admin_access": True})
    assert response.status_code == 403
    organization.refresh_from_db()
    assert organization.personality_admin_access is False

    response = client_for(owner).patch(org_url(organization), {"personality_admin_access": True})
    assert response.status_code == 200, response.content
    organization.refresh_from_db()
    assert organization.personality_admin_access is True
    assert response.json() == org_body(organization, "owner")


@pytest.mark.parametrize("value", [0, 1, "true", "yes", None])
def test_personality_admin_access_takes_json_booleans_only(organization, owner, value):
    """0/1, strings and null are not booleans: 400 naming the field, nothing changed."""
    response = client_for(owner).patch(org_url(organization), {"personality_admin_access": value})
    assert response.status_code == 400
    assert list(response.json()["error"]["details"]) == ["personality_admin_access"]
    organization.refresh_from_db()
    assert organization.personality_admin_access is False


def test_update_blank_name_is_400(organization, admin_user):
    """A blank name is rejected."""
    response = client_for(admin_user).patch(org_url(organization), {"name": ""})

    assert response.status_code == 400
    assert list(response.json()["error"]["details"]) == ["name"]
