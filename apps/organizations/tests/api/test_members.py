"""Members API: /api/v1/orgs/{slug}/members/ and /members/{id}/.

Coverage:
- list: an admin gets the whole paginated body, a plain member only their own membership (the rule of per-person
  data: the learners of an organization do not list each other's names and e-mails), an API key everyone;
  ?role= and ?search= (e-mail or name) filters, invalid ?role= -> 400, other organizations' members absent,
  non-member 404, query count does not grow with the members;
- detail: an admin reads any membership, a member their own and 404 for anyone else's; unknown id 404, another
  organization's membership id under this URL 404;
- role change: member 403; admin promotes member -> admin (200, persisted); admin cannot grant owner (403)
  nor demote an owner (403); owner grants owner; last owner cannot be demoted (400 "last_owner"); with two
  owners one can be demoted; invalid role value 400; another organization's membership 404;
- removal: member leaves (204); a member removing someone else gets 404 (not theirs to see); admin removes a
  member (204) but not an owner (403); owner removes an admin; the last owner cannot leave (400 "last_owner");
  with two owners one can leave; API keys cannot change or remove members (403).
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.organizations.models import Membership, Role
from apps.organizations.tests.factories import MembershipFactory, api_key_for
from apps.organizations.tests.utils import error, membership_body, org_url
from apps.users.tests.factories import UserFactory
from conftest import client_for

pytestmark = pytest.mark.django_db


def membership_of(user, organization) -> Membership:
    return Membership.objects.get(user=user, organization=organization)


def detail_url(membership) -> str:
    return org_url(membership.organization, f"members/{membership.id}/")


# --------------------------------------------------------------------------- list


def test_list_members(organization, owner, admin_user, member, other_organization):
    """An admin lists every membership of the organization (oldest first), none of another organization."""
    response = client_for(admin_user).get(org_url(organization, "members/"))

    assert response.status_code == 200
    memberships = [membership_of(u, organization) for u in (owner, admin_user, member)]
    assert response.json() == {
        "count": 3,
        "next": None,
        "previous": None,
        "results": [membership_body(m) for m in memberships],
    }


def test_a_plain_member_lists_only_their_own_membership(organization, owner, admin_user, member):
    """Members see per-person data of their own only (permissions.sees_all_members): no one else's name or
    e-mail; a search for someone else finds nothing."""
    client = client_for(member)

    response = client.get(org_url(organization, "members/"))
    search = client.get(org_url(organization, "members/"), {"search": owner.email})

    assert response.status_code == search.status_code == 200
    assert response.json()["results"] == [membership_body(membership_of(member, organization))]
    assert search.json() == {"count": 0, "next": None, "previous": None, "results": []}


def test_an_api_key_lists_every_member(organization, owner, admin_user, member, api_client):
    _key, secret = api_key_for(organization, scopes=("read",))
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")
    response = api_client.get(org_url(organization, "members/"))

    assert response.status_code == 200
    assert response.json()["count"] == 3


def test_list_filter_by_role(organization, owner, admin_user, member):
    """?role=admin keeps only admins."""
    response = client_for(owner).get(org_url(organization, "members/"), {"role": "admin"})

    assert response.status_code == 200
    assert response.json()["results"] == [membership_body(membership_of(admin_user, organization))]


def test_list_search_by_email_and_name(organization, owner, member):
    """?search= matches the e-mail or the full name, case-insensitively."""
    ada = MembershipFactory(organization=organization, user=UserFactory(email="ada@qxlovelace.org", full_name="Ada L"))
    grace = MembershipFactory(organization=organization, user=UserFactory(full_name="Grace Qxhopper"))
    client = client_for(owner)

    by_email = client.get(org_url(organization, "members/"), {"search": "QXLOVELACE"})
    by_name = client.get(org_url(organization, "members/"), {"search": "qxHOPPER"})

    assert by_email.status_code == by_name.status_code == 200
    assert by_email.json()["results"] == [membership_body(ada)]
    assert by_name.json()["results"] == [membership_body(grace)]


def test_list_invalid_role_filter_is_400(organization, member):
    """An unknown ?role= value is rejected rather than ignored."""
    response = client_for(member).get(org_url(organization, "members/"), {"role": "king"})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert list(response.json()["error"]["details"]) == ["role"]


def test_list_non_member_is_404(organization, other_organization, member):
    """Members of another organization cannot list this one's members."""
    response = client_for(member).get(org_url(other_organization, "members/"))

    assert response.status_code == 404
    assert response.json() == error("not_found", "Organization not found.")


def test_list_query_count_does_not_grow(organization, admin_user, django_assert_max_num_queries):
    """Listing 8 members takes no more queries than listing 1 (users are joined, not fetched per row)."""
    client = client_for(admin_user)
    with CaptureQueriesContext(connection) as baseline:
        assert client.get(org_url(organization, "members/")).status_code == 200
    baseline_count = len(baseline.captured_queries)  # read now: a later request resets the query log
    assert baseline_count > 0
    MembershipFactory.create_batch(7, organization=organization)

    with django_assert_max_num_queries(baseline_count):
        response = client.get(org_url(organization, "members/"))

    assert response.json()["count"] == 8


# --------------------------------------------------------------------------- detail


def test_detail(organization, owner, member):
    """An owner reads anyone's membership; a member their own, and another's is 404."""
    membership, own = membership_of(owner, organization), membership_of(member, organization)

    response = client_for(owner).get(detail_url(own))
    mine = client_for(member).get(detail_url(own))
    theirs = client_for(member).get(detail_url(membership))

    assert response.status_code == mine.status_code == 200
    assert response.json() == mine.json() == membership_body(own)
    assert theirs.status_code == 404
    assert theirs.json() == error("not_found", "Member not found.")


def test_detail_unknown_id_is_404(organization, member):
    """An id that does not exist -> 404."""
    response = client_for(member).get(org_url(organization, "members/999999999/"))

    assert response.status_code == 404
    assert response.json() == error("not_found", "Member not found.")


def test_detail_other_organizations_membership_is_404(organization, member, other_organization):
    """A membership id of another organization under this organization's URL -> 404."""
    foreign = other_organization.memberships.get()

    response = client_for(member).get(org_url(organization, f"members/{foreign.id}/"))

    assert response.status_code == 404
    assert response.json() == error("not_found", "Member not found.")


# --------------------------------------------------------------------------- role changes


def test_member_cannot_change_roles(organization, owner, member):
    """A member cannot promote themselves: 403, unchanged."""
    membership = membership_of(member, organization)

    response = client_for(member).patch(detail_url(membership), {"role": "admin"})

    assert response.status_code == 403
    assert response.json() == error("permission_denied", "This action needs the admin role in this organization.")
    membership.refresh_from_db()
    assert membership.role == Role.MEMBER


def test_admin_promotes_member_to_admin(organization, admin_user, member):
    """An admin makes a member admin; the body and the row show the new role."""
    membership = membership_of(member, organization)

    response = client_for(admin_user).patch(detail_url(membership), {"role": "admin"})

    assert response.status_code == 200, response.data
    membership.refresh_from_db()
    assert membership.role == Role.ADMIN
    assert response.json() == membership_body(membership)


def test_admin_cannot_grant_owner(organization, owner, admin_user, member):
    """Only an owner grants the owner role: admin -> 403, unchanged."""
    membership = membership_of(member, organization)

    response = client_for(admin_user).patch(detail_url(membership), {"role": "owner"})

    assert response.status_code == 403
    assert response.json() == error("permission_denied", "Only an owner can grant or remove the owner role.")
    membership.refresh_from_db()
    assert membership.role == Role.MEMBER


def test_admin_cannot_demote_an_owner(organization, owner, admin_user):
    """Only an owner takes the owner role away: admin -> 403, unchanged."""
    membership = membership_of(owner, organization)

    response = client_for(admin_user).patch(detail_url(membership), {"role": "member"})

    assert response.status_code == 403
    assert response.json() == error("permission_denied", "Only an owner can grant or remove the owner role.")
    membership.refresh_from_db()
    assert membership.role == Role.OWNER


def test_owner_grants_owner(organization, owner, member):
    """An owner makes a member owner."""
    membership = membership_of(member, organization)

    response = client_for(owner).patch(detail_url(membership), {"role": "owner"})

    assert response.status_code == 200, response.data
    membership.refresh_from_db()
    assert membership.role == Role.OWNER
    assert response.json() == membership_body(membership)


def test_last_owner_cannot_be_demoted(organization, owner, member):
    """The only owner cannot demote themselves: 400 "last_owner", still owner."""
    membership = membership_of(owner, organization)

    response = client_for(owner).patch(detail_url(membership), {"role": "admin"})

    assert response.status_code == 400
    assert response.json() == error("last_owner", "The last owner cannot be demoted; make someone else owner first.")
    membership.refresh_from_db()
    assert membership.role == Role.OWNER


def test_one_of_two_owners_can_be_demoted(organization, owner):
    """With two owners, one demotes the other."""
    second = MembershipFactory(organization=organization, role=Role.OWNER)

    response = client_for(owner).patch(detail_url(second), {"role": "member"})

    assert response.status_code == 200, response.data
    second.refresh_from_db()
    assert second.role == Role.MEMBER
    assert list(organization.memberships.filter(role=Role.OWNER).values_list("user_id", flat=True)) == [owner.id]


def test_invalid_role_value_is_400(organization, admin_user, member):
    """A role outside owner/admin/member -> 400 on the role field."""
    membership = membership_of(member, organization)

    response = client_for(admin_user).patch(detail_url(membership), {"role": "superuser"})

    assert response.status_code == 400
    assert response.json() == error(
        "invalid",
        'Invalid input. role: "superuser" is not a valid choice.',
        {"role": ['"superuser" is not a valid choice.']},
    )
    membership.refresh_from_db()
    assert membership.role == Role.MEMBER


def test_role_change_of_other_organizations_membership_is_404(organization, owner, other_organization):
    """An owner cannot reach another organization's membership through their own URL."""
    foreign = other_organization.memberships.get()

    response = client_for(owner).patch(org_url(organization, f"members/{foreign.id}/"), {"role": "member"})

    assert response.status_code == 404
    foreign.refresh_from_db()
    assert foreign.role == Role.OWNER


# --------------------------------------------------------------------------- removal


def test_member_leaves(organization, owner, member):
    """A member removes their own membership (leaves): 204, row gone."""
    membership = membership_of(member, organization)

    response = client_for(member).delete(detail_url(membership))

    assert response.status_code == 204
    assert response.content == b""
    assert not Membership.objects.filter(pk=membership.pk).exists()


def test_member_cannot_remove_someone_else(organization, owner, member):
    """A member removing another member -> 404 (another member is not theirs to see), row kept."""
    other = MembershipFactory(organization=organization)

    response = client_for(member).delete(detail_url(other))

    assert response.status_code == 404
    assert response.json() == error("not_found", "Member not found.")
    assert Membership.objects.filter(pk=other.pk).exists()


def test_admin_removes_a_member(organization, admin_user, member):
    """An admin removes a member: 204, row gone."""
    membership = membership_of(member, organization)

    response = client_for(admin_user).delete(detail_url(membership))

    assert response.status_code == 204
    assert not Membership.objects.filter(pk=membership.pk).exists()


def test_admin_cannot_remove_an_owner(organization, owner, admin_user):
    """An admin removing an owner -> 403, row kept."""
    membership = membership_of(owner, organization)

    response = client_for(admin_user).delete(detail_url(membership))

    assert response.status_code == 403
    assert response.json() == error("permission_denied", "Only an owner can remove an owner.")
    assert Membership.objects.filter(pk=membership.pk).exists()


def test_owner_removes_an_admin(organization, owner, admin_user):
    """An owner removes an admin."""
    membership = membership_of(admin_user, organization)

    response = client_for(owner).delete(detail_url(membership))

    assert response.status_code == 204
    assert not Membership.objects.filter(pk=membership.pk).exists()


def test_last_owner_cannot_leave(organization, owner, member):
    """The only owner cannot remove themselves: 400 "last_owner", row kept."""
    membership = membership_of(owner, organization)

    response = client_for(owner).delete(detail_url(membership))

    assert response.status_code == 400
    assert response.json() == error("last_owner", "The last owner cannot be removed; make someone else owner first.")
    assert Membership.objects.filter(pk=membership.pk).exists()


def test_one_of_two_owners_can_leave(organization, owner):
    """With two owners, one leaves."""
    second = MembershipFactory(organization=organization, role=Role.OWNER)

    response = client_for(second.user).delete(detail_url(second))

    assert response.status_code == 204
    assert list(organization.memberships.values_list("user_id", "role")) == [(owner.id, Role.OWNER)]


def test_remove_other_organizations_membership_is_404(organization, owner, other_organization):
    """An owner cannot delete another organization's membership through their own URL."""
    foreign = other_organization.memberships.get()

    response = client_for(owner).delete(org_url(organization, f"members/{foreign.id}/"))

    assert response.status_code == 404
    assert Membership.objects.filter(pk=foreign.pk).exists()


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_api_key_cannot_use_member_detail(organization, member, api_client, method):
    """Member detail needs a person: an API key with both scopes gets 403 and changes nothing."""
    membership = membership_of(member, organization)
    _api_key, key = api_key_for(organization, scopes=("read", "write"))
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")

    response = getattr(api_client, method)(detail_url(membership), {"role": "admin"})

    assert response.status_code == 403
    assert response.json() == error("permission_denied", "API keys cannot use this endpoint; sign in as a person.")
    membership.refresh_from_db()
    assert membership.role == Role.MEMBER
