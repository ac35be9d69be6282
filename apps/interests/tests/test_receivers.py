"""The legacy flat `User.interests` and member removal (issue 19).

Covers: users/me PATCH interests -> stated "general" rows in every organization of the user (other
categories and sources stay; an empty list clears them); member sync of managed accounts -> synced rows
(new accounts via members_changed, changed ones via user_profile_changed); leaving an organization
deletes the member's interests there (not elsewhere); deleting the account deletes them everywhere.
"""

from __future__ import annotations

import pytest

from apps.interests import services
from apps.interests.models import MemberInterest
from apps.organizations.member_sync import MemberSyncRow, members_sync
from apps.organizations.models import Membership, Role
from apps.organizations.services import membership_remove
from apps.organizations.tests.factories import MembershipFactory, OrganizationFactory
from apps.users.services import user_update

pytestmark = pytest.mark.django_db


def rows(user):
    return sorted(
        MemberInterest.objects.filter(user=user).values_list(
            "organization__slug", "value__category__name", "value__name", "source"
        )
    )


def test_users_me_interests_reach_every_organization_as_stated(organization, member):
    """The flat list is mirrored as stated general interests; structured ones in other categories stay."""
    elsewhere = OrganizationFactory()
    MembershipFactory(organization=elsewhere, user=member)
    services.member_interests_set(
        organization=organization,
        user_id=member.pk,
        source="stated",
        interests=[{"category": "skills", "value": "python"}, "old"],
    )
    user_update(user=member, data={"interests": ["Poetry", "chess"]})
    assert rows(member) == sorted(
        [
            (organization.slug, "general", "chess", "stated"),
            (organization.slug, "general", "poetry", "stated"),
            (organization.slug, "skills", "python", "stated"),
            (elsewhere.slug, "general", "chess", "stated"),
            (elsewhere.slug, "general", "poetry", "stated"),
        ]
    )
    user_update(user=member, data={"interests": []})
    assert rows(member) == [(organization.slug, "skills", "python", "stated")]


def test_member_sync_interests_are_synced(organization):
    """New managed accounts (members_changed) and changed ones (user_profile_changed) -> synced rows."""
    sync = [MemberSyncRow(index=0, data={"external_id": "e1", "email": "e1@example.com", "interests": ["sql"]})]
    members_sync(organization=organization, rows=sync)
    user = sync[0].user
    assert rows(user) == [(organization.slug, "general", "sql", "synced")]
    again = [MemberSyncRow(index=0, data={"external_id": "e1", "email": "e1@example.com", "interests": ["r"]})]
    members_sync(organization=organization, rows=again)
    assert rows(user) == [(organization.slug, "general", "r", "synced")]


def test_leaving_deletes_the_members_interests_there(organization, member, owner):
    """Removed from one organization: their interests there go, those elsewhere stay."""
    elsewhere = OrganizationFactory()
    MembershipFactory(organization=elsewhere, user=member)
    for org in (organization, elsewhere):
        services.member_interests_set(organization=org, user_id=member.pk, source="stated", interests=["x"])
    services.member_interest_evidence_add(
        organization_id=organization.pk, source="chat", evidence=[(member.pk, "topics", "y", 0.5, [])]
    )
    membership_remove(
        membership=Membership.objects.get(organization=organization, user=member),
        actor=Membership.objects.get(organization=organization, user=owner, role=Role.OWNER),
    )
    assert rows(member) == [(elsewhere.slug, "general", "x", "stated")]


def test_deleting_the_account_deletes_its_interests(organization, member):
    """CASCADE from the user."""
    services.member_interests_set(organization=organization, user_id=member.pk, source="stated", interests=["x"])
    member.delete()
    assert not MemberInterest.objects.exists()
