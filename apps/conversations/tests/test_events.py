"""Domain events of conversations (apps/conversations/events.py, STYLE.md §9): a posted question
sends user_message_posted inside the turn's transaction, for signed-in users and anonymous
visitors alike (user_id None); the assistant's answer sends nothing."""

import pytest

from apps.bots.tests.factories import BotFactory
from apps.conversations import events
from apps.conversations.services import conversation_create, turn_answer, turn_prepare
from apps.core.tests.events import events_sent, only
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
