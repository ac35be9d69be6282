"""Every receiver of conversations, connected in `ConversationsConfig.ready()` (STYLE.md §9): the other apps'
domain events that concern conversations. The table of events is in docs/architecture.md."""

from __future__ import annotations

from apps.bots import events as bot_events
from apps.conversations.services import bot_conversations_delete


def on_bot_deleting(sender, *, organization_id: int, bot_id: int, **kwargs) -> None:
    """The bot's conversations and messages go with it, in the deleting transaction, in three statements."""
    bot_conversations_delete(organization_id=organization_id, bot_id=bot_id)


def receivers_connect() -> None:
    bot_events.bot_deleting.connect(on_bot_deleting, dispatch_uid="conversations.on_bot_deleting")
