"""Every receiver of conversations, connected in `ConversationsConfig.ready()` (STYLE.md §9): the other apps'
domain events that concern conversations. The table of events is in docs/architecture.md."""

from __future__ import annotations

from django.conf import settings

from apps.bots import events as bot_events
from apps.conversations.services import bot_conversations_delete, member_conversations_delete
from apps.organizations import events as organization_events


def on_bot_purging(sender, *, organization_id: int, bot_id: int, **kwargs) -> int:
    """A deleted bot's conversations and messages go a batch per transaction."""
    return bot_conversations_delete(
        organization_id=organization_id, bot_id=bot_id, limit=settings.BOT_PURGE_BATCH_CONVERSATIONS
    )


def on_bot_deleting(sender, *, organization_id: int, bot_id: int, **kwargs) -> None:
    """The bot's remaining conversations and messages go with it, in the deleting transaction, in four statements."""
    bot_conversations_delete(organization_id=organization_id, bot_id=bot_id)


def on_member_erasing(sender, *, organization_id: int, user_id: int, **kwargs) -> None:
    """A member's erasure: their conversations in the organization and their messages."""
    member_conversations_delete(organization_id=organization_id, user_id=user_id)


def receivers_connect() -> None:
    organization_events.member_erasing.connect(on_member_erasing, dispatch_uid="conversations.on_member_erasing")
    bot_events.bot_purging.connect(on_bot_purging, dispatch_uid="conversations.on_bot_purging")
    bot_events.bot_deleting.connect(on_bot_deleting, dispatch_uid="conversations.on_bot_deleting")
