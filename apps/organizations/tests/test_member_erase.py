"""Erasing a member (`POST .../members/{id}/erase/`, `member_erase`, the `member_erasing` event): the membership goes
with everything the organization keeps of that person — progress, interactions, conversations and messages,
recommendation logs and factors, personality data, campaign messages, interests, goals, the graph's node — and nothing
else: the same person's data in another organization, another member's data, the account, the outreach opt-out. The
invitations that named them go too. Who may: admins, owners for owners, anyone themselves, API keys with `members:sync`;
never the last owner; another organization's member and a plain member naming someone else get 404."""

import pytest
from rest_framework.test import APIClient

from apps.boards.models import Goal
from apps.conversations.models import Conversation, Message
from apps.graph.models import GraphOutbox
from apps.interests.models import MemberInterest
from apps.organizations.models import ApiKey, Invitation, Membership, Role
from apps.organizations.tests.factories import MembershipFactory, OrganizationFactory, api_key_for
from apps.organizations.tests.rows import member_rows
from apps.outreach.models import CampaignMessage, OutreachOptOut
from apps.personality.models import AssessmentResponse
from apps.progress.models import Interaction, Progress
from apps.progress.tests.factories import ContentItemFactory, InteractionFactory
from apps.recommendations.models import RecommendationLog, UserFactor
from apps.users.models import User
from conftest import client_for

pytestmark = pytest.mark.django_db


def erase_url(membership) -> str:
    return f"/api/v1/orgs/{membership.organization.slug}/members/{membership.pk}/erase/"


MODELS = (Progress, Interaction, Conversation, RecommendationLog, UserFactor, AssessmentResponse, CampaignMessage,
          MemberInterest, Goal)  # fmt: skip


def _counts(organization, user) -> dict:
    counts = {model.__name__: model.objects.filter(organization=organization, user=user).count() for model in MODELS}
    counts["Message"] = Message.objects.filter(conversation__organization=organization, conversation__user=user).count()
    counts["Invitation"] = Invitation.objects.filter(organization=organization, email__iexact=user.email).count()
    counts["Accepted"] = Invitation.objects.filter(organization=organization, accepted_by=user).count()
    return counts


def test_an_admin_erases_a_member_and_nothing_else(organization, admin_user, other_organization):
    member = MembershipFactory(organization=organization, role=Role.MEMBER)
    user = member.user
    MembershipFactory(organization=other_organization, user=user, role=Role.MEMBER)
    colleague = MembershipFactory(organization=organization, role=Role.MEMBER).user
    for org, person in ((organization, user), (other_organization, user), (organization, colleague)):
        member_rows(org, person)
    assert set(_counts(organization, user).values()) == {1}

    response = client_for(admin_user).post(erase_url(member))

    assert response.status_code == 204, response.content
    assert not Membership.objects.filter(pk=member.pk).exists()
    assert set(_counts(organization, user).values()) == {0}
    assert set(_counts(other_organization, user).values()) == {1}  # their data elsewhere stays
    assert set(_counts(organization, colleague).values()) == {1}
    assert User.objects.filter(pk=user.pk, email=user.email, is_active=True).exists()  # an account of their own
    assert OutreachOptOut.objects.filter(organization=organization, user=user).exists()
    # The graph is told: their node goes (not a member, no activity left) when the outbox is drained.
    assert GraphOutbox.objects.filter(organization=organization, kind="user", object_key=str(user.pk)).exists()


def test_who_may_erase(organization, admin_user, owner, other_organization):
    member = MembershipFactory(organization=organization, role=Role.MEMBER)
    other = MembershipFactory(organization=organization, role=Role.MEMBER)
    admin = Membership.objects.get(organization=organization, user=admin_user)
    owner_membership = Membership.objects.get(organization=organization, user=owner)

    # A plain member naming someone else: 404 (as in the list); another organization's owner: 404.
    assert client_for(member.user).post(erase_url(other)).status_code == 404
    stranger = Membership.objects.filter(organization=other_organization, role=Role.OWNER).first().user
    assert client_for(stranger).post(erase_url(member)).status_code == 404
    # An admin cannot erase an owner; the last owner cannot be erased, not even by themselves.
    assert client_for(admin_user).post(erase_url(owner_membership)).json()["error"]["code"] == "permission_denied"
    assert client_for(owner).post(erase_url(owner_membership)).json()["error"]["code"] == "last_owner"
    # A key without the members:sync scope: 403; with it: erased.
    _key, raw = api_key_for(organization, scopes=("write",))
    keyed = APIClient()
    keyed.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    assert keyed.post(erase_url(other)).status_code == 403
    _key, raw = api_key_for(organization, scopes=(ApiKey.Scope.MEMBERS_SYNC,))
    keyed.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    assert keyed.post(erase_url(other)).status_code == 204
    assert keyed.post(erase_url(owner_membership)).status_code == 403
    # Anyone themselves, with their data.
    member_rows(organization, member.user)
    assert client_for(member.user).post(erase_url(member)).status_code == 204
    assert set(_counts(organization, member.user).values()) == {0}
    # An admin of this organization naming a membership of another: 404.
    foreign = MembershipFactory(organization=other_organization, role=Role.MEMBER)
    assert (
        client_for(admin_user).post(f"/api/v1/orgs/{organization.slug}/members/{foreign.pk}/erase/").status_code == 404
    )
    assert Membership.objects.filter(pk=foreign.pk).exists()
    # An owner erases another owner.
    second_owner = MembershipFactory(organization=organization, role=Role.OWNER)
    assert client_for(owner).post(erase_url(second_owner)).status_code == 204
    assert set(Membership.objects.filter(organization=organization).values_list("pk", flat=True)) == {
        admin.pk, owner_membership.pk,
    }  # fmt: skip


def test_a_refused_erasure_changes_nothing(organization, admin_user, owner):
    """The rules are checked before anything is deleted: the owner's data stays whole."""
    owner_membership = Membership.objects.get(organization=organization, user=owner)
    member_rows(organization, owner)

    assert client_for(admin_user).post(erase_url(owner_membership)).status_code == 403

    assert set(_counts(organization, owner).values()) == {1}


def test_a_write_under_way_at_the_erasure_is_erased_by_the_second_pass(organization, admin_user, settings,
                                                                      django_capture_on_commit_callbacks):  # fmt: skip
    """The erasure publishes its second pass (MEMBER_ERASE_SETTLE_SECONDS later); an interaction that landed after it
    goes then, while the person is not a member; once they are a member again, their new data stays."""
    from apps.core.tests.broker import Published
    from apps.organizations.services import member_erase_settle

    member = MembershipFactory(organization=organization, role=Role.MEMBER)
    user = member.user
    published = Published("celery")
    with django_capture_on_commit_callbacks(execute=True):
        assert client_for(admin_user).post(erase_url(member)).status_code == 204
    [settle] = published.find("members.erase_settle", lambda message: message.args == (organization.pk, user.pk))
    published.clear()
    assert settle.eta
    late = InteractionFactory(organization=organization, item=ContentItemFactory(organization=organization), user=user)

    assert member_erase_settle(organization_id=organization.pk, user_id=user.pk) is True
    assert not Interaction.objects.filter(pk=late.pk).exists()

    MembershipFactory(organization=organization, user=user, role=Role.MEMBER)  # back, and active again
    again = InteractionFactory(organization=organization, item=ContentItemFactory(organization=organization), user=user)
    assert member_erase_settle(organization_id=organization.pk, user_id=user.pk) is False
    assert Interaction.objects.filter(pk=again.pk).exists()


def test_a_second_pass_whose_publish_was_lost_is_run_by_the_sweep(organization, admin_user, settings):
    """The erasure notes its second pass in the database (`MemberErasure`); with its task lost (the broker down at the
    erasure), the recovery sweep runs it once it is RECOVERY_PENDING_GRACE_SECONDS late: the interaction that landed
    after the erasure goes, the note too; a pass not yet late is left to its task."""
    from datetime import timedelta

    from django.utils import timezone

    from apps.organizations.models import MemberErasure
    from workers.tasks.maintenance import work_recover_stuck

    lost, recent = (MembershipFactory(organization=organization, role=Role.MEMBER) for _ in range(2))
    for member in (lost, recent):
        assert client_for(admin_user).post(erase_url(member)).status_code == 204  # on_commit never runs: not published
    notes = MemberErasure.objects.filter(organization=organization)
    assert set(notes.values_list("user_id", flat=True)) == {lost.user_id, recent.user_id}
    late = InteractionFactory(organization=organization, item=ContentItemFactory(organization=organization),
                              user=lost.user)  # fmt: skip
    overdue = timezone.now() - timedelta(seconds=settings.RECOVERY_PENDING_GRACE_SECONDS + 60)
    notes.filter(user_id=lost.user_id).update(settle_at=overdue)

    first, second = work_recover_stuck.apply().get(), work_recover_stuck.apply().get()

    assert (first["member_erasures_settled"], second["member_erasures_settled"]) == (1, 0)
    assert not Interaction.objects.filter(pk=late.pk).exists()
    assert list(notes.values_list("user_id", flat=True)) == [recent.user_id]


def test_an_account_a_sync_created_is_anonymised_when_it_belongs_nowhere_any_more(organization, admin_user):
    """No usable password and no other membership: the e-mail, name and interests the sync wrote are erased and the
    account cannot sign in; a managed account still member elsewhere keeps them."""
    alone, elsewhere = (MembershipFactory(organization=organization, role=Role.MEMBER) for _ in range(2))
    MembershipFactory(organization=OrganizationFactory(), user=elsewhere.user, role=Role.MEMBER)
    for membership in (alone, elsewhere):
        membership.user.set_unusable_password()
        membership.user.full_name, membership.user.interests = "Ann Example", ["python"]
        membership.user.save()

    for membership in (alone, elsewhere):
        assert client_for(admin_user).post(erase_url(membership)).status_code == 204

    erased, kept = User.objects.get(pk=alone.user_id), User.objects.get(pk=elsewhere.user_id)
    assert erased.email.endswith("@erased.invalid") and erased.email != alone.user.email
    assert (erased.full_name, erased.interests, erased.is_active) == ("", [], False)
    assert (kept.email, kept.full_name, kept.is_active) == (elsewhere.user.email, "Ann Example", True)


def test_a_training_under_way_stores_no_factors_of_an_erased_member(organization, admin_user):
    """What training keeps at its end (`_erased_users`): a member, and a former member with history, keep their
    factors; someone erased while it trained (not a member, no event left) does not."""
    from apps.recommendations.services import _erased_users

    member, leaver, erased = (MembershipFactory(organization=organization, role=Role.MEMBER) for _ in range(3))
    for membership in (member, leaver, erased):
        InteractionFactory(organization=organization, item=ContentItemFactory(organization=organization),
                           user=membership.user)  # fmt: skip
    leaver.delete()
    assert client_for(admin_user).post(erase_url(erased)).status_code == 204

    ids = [member.user_id, leaver.user_id, erased.user_id]
    assert _erased_users(organization.pk, ids) == {erased.user_id}
