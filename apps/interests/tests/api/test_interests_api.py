"""The interests API (issue 19): members/{id}/interests/, me/interests/, members/interests/sync/.

Covers: GET/PUT me/interests (whole body, stated source, persisted); an admin's PUT on a member writes the
synced source and leaves the member's stated ones; a member reads and writes only their own (403 on
someone else's, stated via members/{own id}); API keys read with `read`, write with `write`, and cannot
use me/; anonymous 401; another organization's member 404; bad input 400 with the field; the bulk sync
all or nothing with row errors, and its success body; GET query count does not grow with interests.
"""

from __future__ import annotations

import pytest

from apps.interests import services
from apps.interests.models import MemberInterest
from apps.organizations.models import Membership
from apps.organizations.tests.factories import MembershipFactory, api_key_for
from conftest import client_for

pytestmark = pytest.mark.django_db


def me_url(organization):
    return f"/api/v1/orgs/{organization.slug}/me/interests/"


def member_url(organization, membership):
    return f"/api/v1/orgs/{organization.slug}/members/{membership.pk}/interests/"


def sync_url(organization):
    return f"/api/v1/orgs/{organization.slug}/members/interests/sync/"


def summary(body):
    return [(i["category"], i["value"], i["weight"], [e["source"] for e in i["evidence"]]) for i in body["interests"]]


def test_me_put_and_get(organization, member):
    """PUT replaces the stated interests and returns the whole body; GET returns the same."""
    client = client_for(member)
    payload = {"interests": ["Chess", {"category": "skills", "value": "Go", "weight": 0.5}]}
    response = client.put(me_url(organization), payload, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    membership = Membership.objects.get(organization=organization, user=member)
    assert (body["member"], body["user"]) == (membership.pk, member.pk)
    assert summary(body) == [("general", "chess", 1.0, ["stated"]), ("skills", "go", 0.5, ["stated"])]
    evidence = body["interests"][0]["evidence"][0]
    assert set(evidence) == {
        "source", "weight", "stored_weight", "evidence_count", "first_seen", "last_seen", "item_ids"
    }  # fmt: skip
    assert (evidence["stored_weight"], evidence["evidence_count"], evidence["item_ids"]) == (1.0, 1, [])
    assert client.get(me_url(organization)).json() == body
    assert MemberInterest.objects.filter(user=member, source="stated").count() == 2


def test_admin_put_writes_synced_and_keeps_stated(organization, member, admin_user):
    """The organization's writes are `synced`; the member's stated interests stay."""
    services.member_interests_set(organization=organization, user_id=member.pk, source="stated", interests=["own"])
    membership = Membership.objects.get(organization=organization, user=member)
    response = client_for(admin_user).put(
        member_url(organization, membership), {"interests": [{"value": "crm", "weight": 0.7}]}, format="json"
    )
    assert response.status_code == 200, response.content
    assert summary(response.json()) == [("general", "own", 1.0, ["stated"]), ("general", "crm", 0.7, ["synced"])]


def test_members_only_see_and_change_their_own(organization, member, admin_user):
    """404 on someone else's interests (another member is not theirs to see, as in the member list); their own
    through members/{id} is stated."""
    client = client_for(member)
    other = Membership.objects.get(organization=organization, user=admin_user)
    own = Membership.objects.get(organization=organization, user=member)
    assert client.get(member_url(organization, other)).status_code == 404
    assert client.put(member_url(organization, other), {"interests": []}, format="json").status_code == 404
    response = client.put(member_url(organization, own), {"interests": ["mine"]}, format="json")
    assert response.status_code == 200
    assert summary(response.json()) == [("general", "mine", 1.0, ["stated"])]


def test_api_keys_need_the_scope_and_cannot_use_me(organization, member, api_client):
    """read scope reads, write scope writes (synced); me/ is for people."""
    membership = Membership.objects.get(organization=organization, user=member)
    _key, read_only = api_key_for(organization, scopes=("read",))
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {read_only}")
    assert api_client.get(member_url(organization, membership)).status_code == 200
    assert api_client.put(member_url(organization, membership), {"interests": ["x"]}, format="json").status_code == 403
    assert api_client.get(me_url(organization)).status_code == 403
    _key, writer = api_key_for(organization)
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {writer}")
    response = api_client.put(member_url(organization, membership), {"interests": ["x"]}, format="json")
    assert response.status_code == 200
    assert summary(response.json()) == [("general", "x", 1.0, ["synced"])]


def test_anonymous_and_other_organization(organization, member, other_organization, api_client):
    """401 without credentials; a member of another organization is 404 (also for its owner)."""
    membership = Membership.objects.get(organization=organization, user=member)
    assert api_client.get(member_url(organization, membership)).status_code == 401
    outsider = Membership.objects.filter(organization=other_organization).first().user
    assert client_for(outsider).get(member_url(organization, membership)).status_code == 404
    assert client_for(outsider).get(me_url(organization)).status_code == 404


@pytest.mark.parametrize(
    ("payload", "field"),
    [({}, "interests"), ({"interests": "x"}, "interests"), ({"interests": [{"value": "x", "weight": 3}]}, "interests")],
)
def test_bad_input_is_400(organization, member, payload, field):
    """Validation errors name the field; nothing stored."""
    response = client_for(member).put(me_url(organization), payload, format="json")
    assert response.status_code == 400
    assert field in str(response.json())
    assert not MemberInterest.objects.exists()


def test_sync_all_or_nothing(organization, admin_user):
    """One bad row: 400 listing every bad row, nothing written; then a good batch: counts."""
    MembershipFactory(organization=organization, external_id="a")
    MembershipFactory(organization=organization, external_id="b")
    client = client_for(admin_user)
    bad = {
        "members": [
            {"external_id": "a", "interests": ["x"]},
            {"interests": ["y"]},
            {"external_id": "zz", "interests": []},
        ]
    }
    response = client.post(sync_url(organization), bad, format="json")
    assert response.status_code == 400
    text = str(response.json())
    assert "members[1].external_id" in text
    assert not MemberInterest.objects.exists()
    good = {"members": [{"external_id": "a", "interests": ["x"]}, {"external_id": "b", "interests": ["y", "z"]}]}
    response = client.post(sync_url(organization), good, format="json")
    assert response.status_code == 200, response.content
    assert response.json() == {"members": 2, "interests": 3}
    assert MemberInterest.objects.filter(source="synced").count() == 3


def test_sync_unknown_external_id_is_a_row_error(organization, admin_user):
    """An external id nobody has: 400 naming the row."""
    response = client_for(admin_user).post(
        sync_url(organization), {"members": [{"external_id": "ghost", "interests": ["x"]}]}, format="json"
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_reference"
    assert error["message"] == "members[0].external_id: no member of this organization has external_id 'ghost'."


def test_sync_needs_admin(organization, member):
    """Members cannot sync."""
    response = client_for(member).post(
        sync_url(organization), {"members": [{"external_id": "a", "interests": []}]}, format="json"
    )
    assert response.status_code == 403


def test_get_query_count_does_not_grow(organization, member, django_assert_max_num_queries):
    """GET me/interests: a fixed number of queries whatever the number of interests."""
    client = client_for(member)
    services.member_interests_set(organization=organization, user_id=member.pk, source="stated", interests=["a"])
    with django_assert_max_num_queries(20) as few:
        client.get(me_url(organization))
    services.member_interests_set(
        organization=organization, user_id=member.pk, source="stated", interests=[f"v{n}" for n in range(50)]
    )
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(client.get(me_url(organization)).json()["interests"]) == 50
