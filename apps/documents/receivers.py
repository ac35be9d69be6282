"""Every receiver of documents, connected in `DocumentsConfig.ready()` (STYLE.md §9): the other apps'
domain events that concern documents. The table of events is in docs/architecture.md."""

from __future__ import annotations

from apps.bots import events as bot_events
from apps.documents.services.upload import bot_documents_delete, bot_documents_purge_batch


def on_bot_purging(sender, *, organization_id: int, bot_id: int, **kwargs) -> int:
    """A deleted bot's documents go a batch per transaction (their files after each commit)."""
    return bot_documents_purge_batch(organization_id=organization_id, bot_id=bot_id)


def on_bot_deleting(sender, *, organization_id: int, bot_id: int, **kwargs) -> None:
    """The bot's remaining documents and its term statistics go with it, in the deleting transaction."""
    bot_documents_delete(organization_id=organization_id, bot_id=bot_id)


def receivers_connect() -> None:
    bot_events.bot_purging.connect(on_bot_purging, dispatch_uid="documents.on_bot_purging")
    bot_events.bot_deleting.connect(on_bot_deleting, dispatch_uid="documents.on_bot_deleting")
