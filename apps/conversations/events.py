"""Domain events of conversations (STYLE.md §9; the list with their receivers: docs/architecture.md).

Sent explicitly by the chat service inside its transaction, with ids only; conversations never
imports the apps that listen.
"""

from __future__ import annotations

from django.dispatch import Signal

#: A person (or an anonymous widget visitor, user_id None) posted a message. Arguments:
#: organization_id, conversation_id, message_id, user_id (None for anonymous visitors).
user_message_posted = Signal()

#: A person's question was embedded for its turn (issue 18 item 6: the learner loop reuses the vector).
#: Sent after user_message_posted, once the question is stored, outside the turn's transaction.
#: Arguments: organization_id, conversation_id, message_id, user_id (None for anonymous visitors),
#: vector (the question's embedding as a list of floats), model (the embedder's name).
question_embedded = Signal()

#: Someone rated an assistant's answer (+1 or -1, with an optional comment). Arguments:
#: organization_id, bot_id, conversation_id, message_id, value, comment.
message_feedback_given = Signal()


def message_feedback_given_send(*, message, value: int, comment: str) -> None:
    message_feedback_given.send(
        sender="conversations",
        organization_id=message.organization_id,
        bot_id=message.conversation.bot_id,
        conversation_id=message.conversation_id,
        message_id=message.pk,
        value=value,
        comment=comment,
    )
