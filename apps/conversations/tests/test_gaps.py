"""Content gaps (issue 14): unanswered and thumbs-down questions grouped into topics.

Coverage:
- paraphrases of one need form one topic (label = a central question, counts, unanswered vs thumbs-down,
  up to 5 distinct examples, latest first); a different need is another topic; sorted by count;
- answered questions without a thumbs-down, other bots' and other organizations' questions, and questions
  outside the window are left out;
- trend: the count in the previous window of the same length (new / rising / falling / steady);
- no gap questions: no topics; the clustering itself on synthetic unit vectors;
- each gap answer is paired with the user message right before it in a multi-turn conversation;
- a turn that finds nothing and a thumbs-down cache the question's vector for the gaps view.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from apps.bots.tests.factories import BotFactory
from apps.conversations import gaps
from apps.conversations.models import Conversation, Message
from apps.core.embeddings import get_embedder
from apps.organizations.tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db

REFUND = ["How long do refunds take?", "how long does a refund take", "How long do refunds take?",
          "When do I get my refund?", "How long until my refund is processed?", "refund time?"]  # fmt: skip
PASSWORD = ["How do I reset my password?", "I forgot my password, how can I change it?"]


@pytest.fixture
def bot(db):
    return BotFactory(organization=OrganizationFactory())


def exchange(bot, question: str, *, status="unanswered", feedback=None, days_ago: float = 1.0):
    """A user question and the bot's answer (status, feedback), `days_ago` days ago."""
    conversation = Conversation.objects.create(organization=bot.organization, bot=bot)
    asked = Message.objects.create(organization=bot.organization, conversation=conversation, role="user",
                                   content=question)  # fmt: skip
    answer = Message.objects.create(organization=bot.organization, conversation=conversation, role="assistant",
                                    content="...", status=status, feedback=feedback)  # fmt: skip
    when = timezone.now() - timedelta(days=days_ago)
    Message.objects.filter(pk__in=[asked.pk, answer.pk]).update(created_at=when)
    return asked, answer


def test_paraphrases_form_one_topic_sorted_by_count(bot):
    """Six refund questions (one thumbs-down) and two password questions: two topics, refunds first."""
    for n, question in enumerate(REFUND):
        if n == 1:
            exchange(bot, question, status="ok", feedback=-1, days_ago=1 + n / 10)
        else:
            exchange(bot, question, days_ago=1 + n / 10)
    for question in PASSWORD:
        exchange(bot, question, days_ago=2)

    result = gaps.content_gaps(organization=bot.organization, bot=bot, days=30)

    assert (result["days"], result["questions"], result["previous_questions"], result["truncated"]) == (30, 8, 0, False)
    refunds, passwords = result["topics"]
    assert (refunds.count, refunds.unanswered, refunds.thumbs_down, refunds.previous_count, refunds.trend) == (
        6, 5, 1, 0, "new",
    )  # fmt: skip
    assert refunds.label in REFUND
    # distinct questions only, latest first, at most five; the thumbs-down one says so
    assert [e["question"] for e in refunds.examples] == REFUND[:2] + REFUND[3:6]
    assert [e["reason"] for e in refunds.examples] == ["unanswered", "thumbs_down", "unanswered", "unanswered",
                                                       "unanswered"]  # fmt: skip
    assert (passwords.count, passwords.label in PASSWORD) == (2, True)


def test_what_is_not_a_gap_is_left_out(bot):
    """Answered without thumbs-down, thumbs-up, outside the window, another bot's or organization's: no gaps."""
    exchange(bot, "How long do refunds take?", status="ok")
    exchange(bot, "How long do refunds take?", status="ok", feedback=1)
    exchange(bot, "How long do refunds take?", days_ago=70)
    exchange(BotFactory(organization=bot.organization), "How long do refunds take?")
    exchange(BotFactory(organization=OrganizationFactory()), "How long do refunds take?")

    result = gaps.content_gaps(organization=bot.organization, bot=bot, days=30)

    assert (result["questions"], result["previous_questions"], result["topics"]) == (0, 0, [])


@pytest.mark.parametrize(
    ("now_count", "before_count", "trend"), [(3, 1, "rising"), (1, 3, "falling"), (2, 2, "steady"), (1, 0, "new")]
)
def test_trend_compares_with_the_previous_window(bot, now_count, before_count, trend):
    """The previous 7 days before a 7-day window give the topic's previous count and trend."""
    for _ in range(now_count):
        exchange(bot, "How long do refunds take?", days_ago=2)
    for _ in range(before_count):
        exchange(bot, "How long do refunds take?", days_ago=10)

    [topic] = gaps.content_gaps(organization=bot.organization, bot=bot, days=7)["topics"]

    assert (topic.count, topic.previous_count, topic.trend) == (now_count, before_count, trend)


def test_a_topic_only_in_the_previous_window_is_not_shown(bot):
    """A need nobody had in the window is no longer a gap."""
    exchange(bot, "How do I reset my password?", days_ago=10)
    exchange(bot, "How long do refunds take?", days_ago=2)

    result = gaps.content_gaps(organization=bot.organization, bot=bot, days=7)

    assert [topic.label for topic in result["topics"]] == ["How long do refunds take?"]
    assert result["previous_questions"] == 1


def test_cluster_groups_by_threshold():
    """Two tight groups of unit vectors and one outlier: three topics; the heavy row leads its group."""
    rng = np.random.default_rng(3)
    a, b, c = np.eye(8, dtype=np.float32)[:3]
    rows = [a + 0.05 * rng.standard_normal(8) for _ in range(4)] + [b + 0.05 * rng.standard_normal(8) for _ in range(3)]
    rows.append(c)
    vectors = np.asarray([row / np.linalg.norm(row) for row in rows], dtype=np.float32)

    labels = gaps.cluster(vectors, np.ones(len(rows), dtype=np.float32), threshold=0.8)

    assert len(set(labels[:4])) == len(set(labels[4:7])) == 1
    assert len({labels[0], labels[4], labels[7]}) == 3


def test_each_answer_gets_the_question_just_before_it(bot):
    """A conversation of several turns: each gap answer is paired with the user message right before it."""
    conversation = Conversation.objects.create(organization=bot.organization, bot=bot)
    for question, status, feedback in [("First?", "ok", None), ("Second?", "unanswered", None),
                                       ("Third?", "ok", None), ("Fourth?", "ok", -1)]:  # fmt: skip
        Message.objects.create(organization=bot.organization, conversation=conversation, role="user", content=question)
        Message.objects.create(organization=bot.organization, conversation=conversation, role="assistant",
                               content="...", status=status, feedback=feedback)  # fmt: skip

    found = gaps.gap_questions(organization=bot.organization, bot=bot, since=timezone.now() - timedelta(days=1),
                               until=timezone.now(), limit=10)  # fmt: skip

    assert [(q.question, q.unanswered, q.thumbs_down) for q in found] == [
        ("Fourth?", False, True), ("Second?", True, False),
    ]  # fmt: skip


def test_a_turn_that_finds_nothing_and_a_thumbs_down_cache_the_questions_vector(bot):
    """The gaps view then embeds nothing for them: the vectors are cached when the gap happens."""
    from django.core.cache import cache

    from apps.conversations import services

    conversation = services.conversation_create(organization=bot.organization, bot=bot)
    turn = services.turn_prepare(conversation=conversation, content="Is there a mobile app?")  # no documents
    services.turn_answer(turn)
    _asked, answer = exchange(bot, "Do you ship to Norway?", status="ok")
    services.message_feedback(message=answer, value=-1)

    model = get_embedder().name
    for question in ("is there a mobile app?", "do you ship to norway?"):
        assert cache.get(gaps._vector_key(model, question)) is not None
    vectors = gaps.question_vectors(["is there a mobile app?"])
    assert np.allclose(vectors[0], get_embedder().encode(["Is there a mobile app?"])[0], atol=1e-5)
