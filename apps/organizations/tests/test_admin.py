"""Admin deletes of memberships go through `membership_remove` (issue 16, apps/core/admin.py).

Coverage: "Delete selected" removes members and records them in the graph outbox; a selection that
holds the last owner is refused as a whole (the other member stays, no admin log entry) with the
service's message; the single delete page refuses the last owner the same way; the organization page's
membership inline offers no delete.
"""

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from apps.graph.models import GraphOutbox
from apps.organizations.models import Membership, Role
from apps.organizations.tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

LAST_OWNER = "Nothing was deleted: The last owner cannot be removed; make someone else owner first."


def bulk_delete(client, ids: list[int]):
    url = reverse("admin:organizations_membership_changelist")
    return client.post(url, {"action": "delete_selected", "_selected_action": ids, "post": "yes"}, follow=True)


def test_bulk_delete_of_members_goes_through_the_service(staff_client, organization):
    """Two members go; the graph outbox records both users; the owner stays."""
    owner = MembershipFactory(organization=organization, role=Role.OWNER)
    first, second = (MembershipFactory(organization=organization, role=Role.MEMBER) for _ in range(2))
    GraphOutbox.objects.all().delete()

    response = bulk_delete(staff_client, [first.pk, second.pk])

    assert "Successfully deleted 2 memberships." in response.content.decode()
    assert list(Membership.objects.filter(organization=organization).values_list("pk", flat=True)) == [owner.pk]
    assert set(GraphOutbox.objects.values_list("kind", "object_key")) == {
        ("user", str(first.user_id)),
        ("user", str(second.user_id)),
    }


def test_a_selection_with_the_last_owner_deletes_nothing(staff_client, organization):
    """The member selected with the last owner stays: all or nothing, with the service's message."""
    owner = MembershipFactory(organization=organization, role=Role.OWNER)
    member = MembershipFactory(organization=organization, role=Role.MEMBER)
    GraphOutbox.objects.all().delete()

    response = bulk_delete(staff_client, [member.pk, owner.pk])

    assert LAST_OWNER in response.content.decode()
    assert set(Membership.objects.values_list("pk", flat=True)) == {owner.pk, member.pk}
    assert not LogEntry.objects.exists()
    assert not GraphOutbox.objects.exists()


def test_the_delete_page_refuses_the_last_owner(staff_client, organization):
    """Back to the change page with the message; the owner stays."""
    owner = MembershipFactory(organization=organization, role=Role.OWNER)

    response = staff_client.post(reverse("admin:organizations_membership_delete", args=[owner.pk]), {"post": "yes"})

    assert response.status_code == 302
    assert response.url == reverse("admin:organizations_membership_change", args=[owner.pk])
    assert LAST_OWNER in staff_client.get(response.url).content.decode()
    assert Membership.objects.filter(pk=owner.pk).exists()


def test_the_organization_page_offers_no_membership_delete(staff_client, organization):
    """The inline cannot delete (it would skip the service)."""
    member = MembershipFactory(organization=organization, role=Role.MEMBER)

    page = staff_client.get(reverse("admin:organizations_organization_change", args=[organization.pk]))

    assert page.status_code == 200
    assert "memberships-0-DELETE" not in page.content.decode()
    assert Membership.objects.filter(pk=member.pk).exists()
