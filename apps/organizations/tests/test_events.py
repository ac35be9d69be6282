"""Domain events of organizations (apps/organizations/events.py, STYLE.md §9): members_changed from
every membership write, single (create, accept, role change, leave) and bulk (members/sync) alike,
inside the caller's transaction; the sync also sends users' user_profile_changed for the managed
accounts whose profile it rewrote."""

import pytest

from apps.core.tests.events import events_sent, only
from apps.organizations import events
from apps.organizations.models import Membership, Role
from apps.organizations.services import (
    invitation_accept,
    invitation_create,
    invitation_token,
    membership_remove,
    membership_role_change,
    organization_create,
)
from apps.users import events as user_events
from apps.users.tests.factories import UserFactory
from conftest import client_for

pytestmark = pytest.mark.django_db


def test_single_membership_writes_send_members_changed(organization, owner, member):
    founder = UserFactory()
    with events_sent(events.members_changed) as sent:
        created = organization_create(user=founder, name="New")
    assert only(sent, events.members_changed) == [{"organization_id": created.pk, "user_ids": [founder.pk]}]

    membership = Membership.objects.get(organization=organization, user=member)
    actor = Membership.objects.get(organization=organization, user=owner)
    with events_sent(events.members_changed) as sent:
        membership_role_change(membership=membership, role=Role.ADMIN, actor=actor)
        membership_remove(membership=membership, actor=actor)
    assert only(sent, events.members_changed) == [{"organization_id": organization.pk, "user_ids": [member.pk]}] * 2

    invitation = invitation_create(organization=organization, email="new@example.com", role="member", actor=actor)
    token = invitation_token(invitation=invitation)  # what the invitation's e-mail carries
    with events_sent(events.members_changed) as sent:
        _membership, user, _created = invitation_accept(token=token, password="a long enough passphrase 42")
    assert only(sent, events.members_changed) == [{"organization_id": organization.pk, "user_ids": [user.pk]}]


def test_member_sync_sends_one_event_per_batch(organization, admin_user):
    client = client_for(admin_user)
    sync = f"/api/v1/orgs/{organization.slug}/members/sync/"
    people = [{"external_id": f"crm-{n}", "email": f"p{n}@example.com", "interests": ["math"]} for n in range(3)]
    with events_sent(events.members_changed, user_events.user_profile_changed) as sent:
        body = client.post(sync, {"members": people}, format="json").json()
    created = sorted(row["user"] for row in body["results"])
    assert only(sent, events.members_changed) == [{"organization_id": organization.pk, "user_ids": created}]
    assert only(sent, user_events.user_profile_changed) == []  # new accounts: members_changed says it all

    people[0]["interests"] = ["poetry"]  # one managed account's profile changes, the others are unchanged
    with events_sent(events.members_changed, user_events.user_profile_changed) as sent:
        body = client.post(sync, {"members": people}, format="json").json()
    assert [row["status"] for row in body["results"]] == ["updated", "unchanged", "unchanged"]
    first = body["results"][0]["user"]
    assert only(sent, events.members_changed) == [{"organization_id": organization.pk, "user_ids": [first]}]
    assert only(sent, user_events.user_profile_changed) == [
        {"user_ids": [first], "fields": ["email", "full_name", "interests"]}
    ]

    with events_sent(events.members_changed, user_events.user_profile_changed) as sent:
        client.post(sync, {"members": people}, format="json")
    assert sent == []  # nothing changed, nothing sent


def test_a_plan_refusal_sends_plan_limit_reached(organization):
    from apps.core.exceptions import PlanLimitExceeded
    from apps.organizations.services import plan_limit_check

    with events_sent(events.plan_limit_reached) as sent:
        plan_limit_check(organization=organization, limit="max_bots", used=1, adding=0)  # within the limit
        with pytest.raises(PlanLimitExceeded):
            plan_limit_check(organization=organization, limit="max_bots", used=organization.plan.max_bots)
    assert [s.kwargs for s in sent] == [
        {"organization_id": organization.pk, "limit": "max_bots", "allowed": organization.plan.max_bots,
         "used": organization.plan.max_bots},
    ]  # fmt: skip
