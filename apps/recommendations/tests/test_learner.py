"""The learner loop (issue 18 item 6): chat questions -> interest evidence -> recommendations, graph, profile.

Covers: question_evidence_learn matches a question to catalog items by embedding and records their topics
as chat evidence (category "topics", the matched items kept, the count growing with each question, the
weight within 0..1); the turn's vector cached by the receiver is the one used (no second embedding);
questions matching nothing, anonymous visitors and non-members add nothing; the receiver of
question_embedded only enqueues (on commit); and, through a real Celery worker, a question posted to
the chat API becomes evidence, a "Because you asked about X" recommendation and a chat entry of
GET me/profile/.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from apps.bots.tests.factories import BotFactory
from apps.conversations.models import Conversation, Message
from apps.core.embeddings import get_embedder
from apps.interests.models import MemberInterest
from apps.organizations.models import Role
from apps.organizations.tests.factories import MembershipFactory
from apps.recommendations import learner
from apps.recommendations.tests.rec_utils import COOKING, build_world
from conftest import client_for


def question(organization, user, content):
    bot = BotFactory(organization=organization)
    conversation = Conversation.objects.create(organization=organization, bot=bot, user=user)
    return Message.objects.create(organization=organization, conversation=conversation, role="user", content=content)


@pytest.fixture
def world(organization):
    return {**build_world(organization), "organization": organization}


@pytest.mark.django_db
def test_a_question_becomes_chat_evidence_on_its_topics(world):
    """A cooking question: "cooking" under "topics", source chat, with the matched cooking items."""
    organization = world["organization"]
    user = MembershipFactory(organization=organization, role=Role.MEMBER).user
    message = question(organization, user, "How do I bake sourdough bread at home?")
    assert learner.question_evidence_learn(organization_id=organization.pk, message_id=message.pk) >= 1
    rows = MemberInterest.objects.filter(user=user).select_related("value__category")
    cooking = rows.get(value__name="cooking")
    assert (cooking.source, cooking.value.category.name, cooking.evidence_count) == ("chat", "topics", 1)
    assert world["items"]["Baking sourdough bread"].pk in cooking.item_ids
    assert 0 < cooking.weight <= 1
    again = question(organization, user, "Which flour is best for sourdough bread?")
    learner.question_evidence_learn(organization_id=organization.pk, message_id=again.pk)
    cooking.refresh_from_db()
    assert cooking.evidence_count == 2 and cooking.weight <= 1


@pytest.mark.django_db
def test_the_turns_vector_is_reused(world):
    """The receiver's cached vector is what the task matches (here: a music vector for a cooking text)."""
    organization = world["organization"]
    user = MembershipFactory(organization=organization, role=Role.MEMBER).user
    message = question(organization, user, "How do I bake sourdough bread at home?")
    music = get_embedder().encode(["Jazz piano improvisation and guitar chords"])[0]
    learner.question_embedded_note(
        organization_id=organization.pk, message_id=message.pk, vector=music.tolist(), model=get_embedder().name
    )
    learner.question_evidence_learn(organization_id=organization.pk, message_id=message.pk)
    assert set(MemberInterest.objects.filter(user=user).values_list("value__name", flat=True)) == {"music"}


@pytest.mark.django_db
def test_nothing_is_learnt_without_a_match_a_member_or_a_person(world, settings):
    """Below the similarity floor, an anonymous visitor, someone outside the organization: nothing."""
    organization = world["organization"]
    member = MembershipFactory(organization=organization, role=Role.MEMBER).user
    settings.INTERESTS_CHAT_MIN_SIMILARITY = 1.01
    assert learner.question_evidence_learn(organization_id=organization.pk, message_id=question(
        organization, member, "How do I bake sourdough bread?").pk) == 0  # fmt: skip
    settings.INTERESTS_CHAT_MIN_SIMILARITY = 0.2
    anonymous = question(organization, None, "How do I bake sourdough bread?")
    outsider = question(organization, MembershipFactory().user, "How do I bake sourdough bread?")
    for message in (anonymous, outsider):
        assert learner.question_evidence_learn(organization_id=organization.pk, message_id=message.pk) == 0
    assert learner.question_evidence_learn(organization_id=organization.pk, message_id=10**9) == 0
    assert not MemberInterest.objects.exists()


@pytest.mark.django_db
def test_the_receiver_only_enqueues_on_commit(organization, member, monkeypatch, django_capture_on_commit_callbacks):
    """question_embedded -> one learn task published on commit; nothing learnt in the request."""
    from apps.conversations import events
    from workers.tasks.interests import learn_from_question_task

    published = []
    monkeypatch.setattr(learn_from_question_task, "apply_async", lambda args, **kw: published.append(tuple(args)))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        events.question_embedded.send(
            sender="test", organization_id=organization.pk, conversation_id=1, message_id=7, user_id=member.pk,
            vector=list(np.zeros(3)), model="m",
        )  # fmt: skip
        assert published == []
    assert len(callbacks) == 1 and published == [(organization.pk, 7)]
    assert not MemberInterest.objects.exists()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_chat_question_reaches_recommendations_through_the_worker(celery_worker, transactional_db, settings):
    """POST a question (offline answerer) -> the worker learns "cooking" -> recommendations say
    "Because you asked about cooking" -> me/profile/ shows the chat evidence."""
    settings.OPENAI_API_KEY = None
    settings.OPENAI_BASE_URL = None
    membership = MembershipFactory(role=Role.MEMBER)
    organization, user = membership.organization, membership.user
    world = build_world(organization)
    bot = BotFactory(organization=organization)
    client = client_for(user)
    base = f"/api/v1/orgs/{organization.slug}"
    conversation = client.post(f"{base}/bots/{bot.pk}/conversations/", {}, format="json").json()
    response = client.post(
        f"{base}/bots/{bot.pk}/conversations/{conversation['id']}/messages/",
        {"content": "How do I bake sourdough bread at home?"},
        format="json",
    )
    assert response.status_code in (200, 201), response.content
    # The task is real work in the worker thread; the bound only stops a hang, no timing is asserted.
    deadline = time.monotonic() + 120
    while not MemberInterest.objects.filter(user=user, source="chat").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert MemberInterest.objects.filter(user=user, source="chat", value__name="cooking").exists()

    results = client.get(f"{base}/recommendations/", {"limit": 10}).json()["results"]
    asked = [e for e in results if e["source"] == "chat"]
    assert asked and {e["reason"] for e in asked} == {"Because you asked about cooking"}
    assert {e["item"]["title"] for e in asked} <= set(COOKING)
    assert world["items"]["Baking sourdough bread"].pk in {e["item"]["id"] for e in asked}

    profile = client.get(f"{base}/me/profile/").json()
    chat = [i for i in profile["interests"] if i["category"] == "topics" and i["value"] == "cooking"]
    assert chat and chat[0]["evidence"][0]["source"] == "chat" and chat[0]["evidence"][0]["evidence_count"] == 1
    assert profile["chat"]["questions"] == 1
