"""Erasing a member (`POST .../members/{id}/erase/`, `member_erase`, the `member_erasing` event): the membership goes
with everything the organization keeps of that person — progress, interactions, conversations and messages,
recommendation logs and factors, personality data, campaign messages, interests, goals, the graph's node — and nothing
else: the same person's data in another organization, another member's data, the account, the outreach opt-out. The
invitations that named them go too. Who may: admins, owners for owners, anyone themselves, API keys with `members:sync`;
never the last owner; another organization's member and a plain member naming someone else get 404."""

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.boards.models import Goal
from apps.boards.tests.factories import GoalFactory
from apps.bots.tests.factories import BotFactory
from apps.conversations.models import Conversation, Message
from apps.graph.models import GraphOutbox
from apps.interests.models import MemberInterest
from apps.interests.services import member_interests_set
from apps.organizations.models import ApiKey, Invitation, Membership, Role
from apps.organizations.tests.factories import MembershipFactory, api_key_for
from apps.outreach.models import CampaignMessage, OutreachOptOut
from apps.outreach.tests.factories import CampaignFactory, CampaignMessageFactory
from apps.personality.models import AssessmentResponse
from apps.personality.tests.test_personality_api import answer
from apps.progress.models import Interaction, Progress
from apps.progress.tests.factories import ContentItemFactory, InteractionFactory, ProgressFactory
from apps.recommendations.models import RecommendationLog, RecommenderModel, UserFactor
from apps.users.models import User
from conftest import client_for

pytestmark = pytest.mark.django_db


def erase_url(membership) -> str:
    return f"/api/v1/orgs/{membership.organization.slug}/members/{membership.pk}/erase/"


def _personal_data(organization, user) -> None:
    """One row of each kind the organization keeps of `user`."""
    item = ContentItemFactory(organization=organization)
    ProgressFactory(organization=organization, item=item, user=user)
    InteractionFactory(organization=organization, item=item, user=user)
    conversation = Conversation.objects.create(organization=organization, bot=BotFactory(organization=organization),
                                               user=user)  # fmt: skip
    Message.objects.create(organization=organization, conversation=conversation, role="user", content="Hi")
    RecommendationLog.objects.create(organization=organization, user=user, item=item, request_id="0" * 32,
                                     position=1, source="popular", reason="Popular", score=1.0)  # fmt: skip
    model = RecommenderModel.objects.get_or_create(organization=organization, version=1)[0]
    UserFactor.objects.create(organization=organization, model=model, user=user, dims=2, factors=[0.1, 0.2])
    assert answer(client_for(user), organization).status_code == 201
    CampaignMessageFactory(campaign=CampaignFactory(organization=organization), user=user,
                           status=CampaignMessage.Status.SENT)  # fmt: skip
    OutreachOptOut.objects.create(organization=organization, user=user, source=OutreachOptOut.Source.API)
    Invitation.objects.create(organization=organization, email=user.email.upper(), role=Role.MEMBER,
                              token_hash=f"{organization.pk}-{user.pk}", expires_at=timezone.now())  # fmt: skip
    member_interests_set(organization=organization, user_id=user.pk, interests=["python"], source="stated")
    GoalFactory(organization=organization, user=user)


MODELS = (Progress, Interaction, Conversation, RecommendationLog, UserFactor, AssessmentResponse, CampaignMessage,
          MemberInterest, Goal)  # fmt: skip


def _counts(organization, user) -> dict:
    counts = {model.__name__: model.objects.filter(organization=organization, user=user).count() for model in MODELS}
    counts["Message"] = Message.objects.filter(conversation__organization=organization, conversation__user=user).count()
    counts["Invitation"] = Invitation.objects.filter(organization=organization, email__iexact=user.email).count()
    return counts


def test_an_admin_erases_a_member_and_nothing_else(organization, admin_user, other_organization):
    member = MembershipFactory(organization=organization, role=Role.MEMBER)
    user = member.user
    MembershipFactory(organization=other_organization, user=user, role=Role.MEMBER)
    colleague = MembershipFactory(organization=organization, role=Role.MEMBER).user
    for org, person in ((organization, user), (other_organization, user), (organization, colleague)):
        _personal_data(org, person)
    assert set(_counts(organization, user).values()) == {1}

    response = client_for(admin_user).post(erase_url(member))

    assert response.status_code == 204, response.content
    assert not Membership.objects.filter(pk=member.pk).exists()
    assert set(_counts(organization, user).values()) == {0}
    assert set(_counts(other_organization, user).values()) == {1}  # their data elsewhere stays
    assert set(_counts(organization, colleague).values()) == {1}
    assert User.objects.filter(pk=user.pk).exists()
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
    # Anyone themselves.
    assert client_for(member.user).post(erase_url(member)).status_code == 204
    assert set(Membership.objects.filter(organization=organization).values_list("pk", flat=True)) == {
        admin.pk, owner_membership.pk,
    }  # fmt: skip


def test_a_refused_erasure_changes_nothing(organization, admin_user, owner):
    """The rules are checked before anything is deleted: the owner's data stays whole."""
    owner_membership = Membership.objects.get(organization=organization, user=owner)
    _personal_data(organization, owner)

    assert client_for(admin_user).post(erase_url(owner_membership)).status_code == 403

    assert set(_counts(organization, owner).values()) == {1}
