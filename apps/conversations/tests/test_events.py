"""Domain events of conversations (apps/conversations/events.py, STYLE.md §9): a posted question
sends user_message_posted inside the turn's transaction, for signed-in users and anonymous
visitors alike (user_id None); the assistant's answer sends nothing."""

import pytest

from apps.bots.tests.factories import BotFactory
from apps.conversations import events
from apps.conversations.services import conversation_create, turn_answer, turn_prepare
from apps.core.tests.events import events_sent, only
from apps.core.tests.orm import query_counts
from apps.organizations.tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


def test_a_question_sends_user_message_posted(chat_org, offline):
    bot = BotFactory(organization=chat_org)
    user = MembershipFactory(organization=chat_org).user
    signed_in = conversation_create(organization=chat_org, bot=bot, user=user)
    anonymous = conversation_create(organization=chat_org, bot=bot, visitor_id="v-1", channel="widget")
    with events_sent(events.user_message_posted) as sent:
        turn = turn_prepare(conversation=signed_in, content="How do I install it?")
        turn_answer(turn)
        visitor_turn = turn_prepare(conversation=anonymous, content="Hello?")
    assert only(sent, events.user_message_posted) == [
        {"organization_id": chat_org.pk, "conversation_id": signed_in.pk, "message_id": turn.question.pk,
         "user_id": user.pk},
        {"organization_id": chat_org.pk, "conversation_id": anonymous.pk, "message_id": visitor_turn.question.pk,
         "user_id": None},
    ]  # fmt: skip


def test_feedback_sends_message_feedback_given(chat_org):
    from apps.conversations.models import Message
    from apps.conversations.services import message_feedback

    bot = BotFactory(organization=chat_org)
    conversation = conversation_create(organization=chat_org, bot=bot)
    answer = Message.objects.create(
        organization=chat_org, conversation=conversation, role=Message.Role.ASSISTANT, content="Within 14 days."
    )
    with events_sent(events.message_feedback_given) as sent:
        message_feedback(message=answer, value=1, comment="Clear.")
    assert [s.kwargs for s in sent] == [
        {"organization_id": chat_org.pk, "bot_id": bot.pk, "conversation_id": conversation.pk,
         "message_id": answer.pk, "value": 1, "comment": "Clear."},
    ]  # fmt: skip


def test_an_embedded_question_sends_question_embedded(chat_org, offline):
    """Issue 18 item 6: after the question is stored and embedded, question_embedded carries the turn's
    own vector (the learner loop reuses it); anonymous visitors send none."""
    from apps.core.embeddings import get_embedder

    bot = BotFactory(organization=chat_org)
    user = MembershipFactory(organization=chat_org).user
    signed_in = conversation_create(organization=chat_org, bot=bot, user=user)
    anonymous = conversation_create(organization=chat_org, bot=bot, visitor_id="v-2", channel="widget")
    with events_sent(events.question_embedded) as sent:
        turn = turn_prepare(conversation=signed_in, content="How do I install it?")
        turn_prepare(conversation=anonymous, content="Hello?")
    [one] = sent
    assert one.in_transaction is False  # the question is committed before anyone learns from it
    vector = one.kwargs.pop("vector")
    assert one.kwargs == {
        "organization_id": chat_org.pk, "conversation_id": signed_in.pk, "message_id": turn.question.pk,
        "user_id": user.pk, "model": get_embedder().name,
    }  # fmt: skip
    assert vector == turn.vector.tolist()


# --------------------------------------------------------------------------- bot_deleting


def _bot_with_conversations(organization, count: int):
    from apps.conversations.models import Conversation, Message

    bot = BotFactory(organization=organization)
    conversations = Conversation.objects.bulk_create(
        Conversation(organization=organization, bot=bot, visitor_id=f"v-{number}") for number in range(count)
    )
    Message.objects.bulk_create(
        Message(organization=organization, conversation=conversation, role=role, content="Hi")
        for conversation in conversations
        for role in (Message.Role.USER, Message.Role.ASSISTANT)
    )
    return bot


def test_a_deleted_bots_conversations_go_in_a_fixed_number_of_statements(chat_org, other_organization):
    """A deleted bot's purge: the conversations app deletes the bot's conversations and messages set-based (the
    ORM's cascade loaded them and deleted 100 rows a statement: 4.0 s and 1,517 queries for 50,000); the same
    queries for 2 as for 250 conversations; the other bot's and the other organization's stay; a Q&A pair of the other
    bot corrected from a deleted message keeps its answer and loses the link; the deleted bot's own pairs go."""
    from apps.bots.tests.deletion import bot_delete_and_purge
    from apps.conversations.models import Conversation, Message, QAPair

    small, large = _bot_with_conversations(chat_org, 2), _bot_with_conversations(chat_org, 250)
    kept = _bot_with_conversations(chat_org, 1)
    foreign = _bot_with_conversations(other_organization, 1)
    linked = Message.objects.filter(conversation__bot=large).first()
    corrected = QAPair.objects.create(
        organization=chat_org, bot=kept, question="Hi?", answer="Hello.", source_message=linked
    )
    own = QAPair.objects.create(organization=chat_org, bot=large, question="Why?", answer="Because.")

    counts = query_counts(bot_delete_and_purge, small, large)

    assert counts[0] == counts[1], counts
    assert set(Conversation.objects.values_list("bot_id", flat=True)) == {kept.pk, foreign.pk}
    assert set(Message.objects.values_list("conversation__bot_id", flat=True)) == {kept.pk, foreign.pk}
    corrected.refresh_from_db()
    assert corrected.source_message_id is None and corrected.answer == "Hello."
    assert not QAPair.objects.filter(pk=own.pk).exists()
