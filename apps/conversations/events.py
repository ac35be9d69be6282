"""Domain events of conversations (STYLE.md §9; the list with their receivers: docs/architecture.md).

Sent explicitly by the chat service inside its transaction, with ids only; conversations never
imports the apps that listen.
"""

from __future__ import annotations

from django.dispatch import Signal

#: A person (or an anonymous widget visitor, user_id None) posted a message. Arguments:
#: organization_id, conversation_id, message_id, user_id (None for anonymous visitors).
user_message_posted = Signal()
