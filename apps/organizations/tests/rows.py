"""Test helpers: rows of every kind an organization keeps of a member (erasing a member, docs/api.md#erasing-a-member)
and of itself (deleting an organization, docs/api.md#deleting-an-organization)."""

from __future__ import annotations

from django.core.files.base import ContentFile
from django.utils import timezone

from apps.boards.models import Goal, VisionBoard
from apps.boards.tests.factories import GoalFactory
from apps.bots.tests.deletion import bot_with_rows
from apps.bots.tests.factories import BotFactory
from apps.conversations.models import Conversation, EvaluationRun, Message
from apps.interests.services import member_interests_set
from apps.organizations.models import Invitation, MemberErasure, Role
from apps.organizations.tests.factories import MembershipFactory, api_key_for
from apps.outreach.models import CampaignMessage, OutreachOptOut
from apps.outreach.tests.factories import CampaignFactory, CampaignMessageFactory
from apps.personality.models import PersonalityDeletion, PersonalityProfile
from apps.personality.tests.test_personality_api import answer
from apps.progress.models import ContentEmbedding, ContentPrerequisite
from apps.progress.tests.factories import ContentItemFactory, InteractionFactory, ProgressFactory
from apps.recommendations.models import (
    ItemFactor,
    ItemNeighbors,
    RecommendationLog,
    RecommenderModel,
    TrendingChart,
    UserFactor,
)
from apps.webhooks.models import WebhookAttempt
from apps.webhooks.tests.factories import WebhookDeliveryFactory, WebhookEndpointFactory
from conftest import client_for


def member_rows(organization, user) -> None:
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
    Invitation.objects.create(organization=organization, email=f"old-{user.pk}@example.com", role=Role.MEMBER,
                              token_hash=f"{organization.pk}-{user.pk}-old", expires_at=timezone.now(),
                              accepted_by=user, accepted_at=timezone.now())  # fmt: skip
    member_interests_set(organization=organization, user_id=user.pk, interests=["python"], source="stated")
    GoalFactory(organization=organization, user=user)


def organization_rows(organization) -> dict:
    """A row of every kind the organization keeps (beside `member_rows` of one member, which it calls): a bot with
    its documents (a stored file), chunks, vectors, term statistics, conversations, Q&A pairs, an evaluation run and a
    website source; the catalog with a course, a prerequisite and an embedding; recommendation models, learnt factors,
    neighbours and a trending chart; personality profiles and a deletion record; a vision board (a stored PNG) and a
    goal's items; a webhook endpoint with a delivery and an attempt; an API key; an erasure's pending second pass.
    Returns what the checks need: the
    member, the stored files' paths, the ids of rows that have no organization column of their own."""
    member = MembershipFactory(organization=organization, role=Role.MEMBER).user
    member_rows(organization, member)
    bot, document = bot_with_rows(organization)
    EvaluationRun.objects.create(organization=organization, bot=bot)
    course = ContentItemFactory(organization=organization)
    lesson = ContentItemFactory(organization=organization, parent=course)
    ContentPrerequisite.objects.create(organization=organization, item=lesson, prerequisite=course)
    ContentEmbedding.objects.create(organization=organization, item=lesson, model="test", content_hash="h",
                                    embedding=[0.1, 0.2])  # fmt: skip
    model = RecommenderModel.objects.filter(organization=organization).first()
    ItemFactor.objects.create(organization=organization, model=model, item=lesson, dims=2, factors=[0.1, 0.2])
    ItemNeighbors.objects.create(organization=organization, model=model, item=lesson)
    TrendingChart.objects.create(organization=organization, model=model, bucket=1)
    PersonalityProfile.objects.get_or_create(organization=organization, user=member, defaults={
        "source": "questionnaire", "input_hash": "h", "computed_at": timezone.now()})  # fmt: skip
    PersonalityDeletion.objects.create(organization=organization, user=member, deleted_at=timezone.now())
    png = ContentFile(b"png", name="board.png")
    board = VisionBoard.objects.create(organization=organization, user=member, version=1, inputs_hash="h",
                                       svg="<svg/>", width=1, height=1, captions="template", png=png)  # fmt: skip
    Goal.objects.filter(organization=organization).first().target_items.add(lesson)
    delivery = WebhookDeliveryFactory(endpoint=WebhookEndpointFactory(organization=organization))
    attempt = WebhookAttempt.objects.create(delivery=delivery, number=1, started_at=timezone.now())
    api_key_for(organization)
    MemberErasure.objects.create(organization=organization, user_id=member.pk + 10**9, settle_at=timezone.now())
    return {
        "member": member,
        "bot": bot,
        "files": [document.file.path, board.png.path],
        "attempt": attempt.pk,
        "goal_items": list(Goal.target_items.through.objects.filter(contentitem=lesson).values_list("pk", flat=True)),
    }
