"""Every receiver of sources, connected in `SourcesConfig.ready()` (STYLE.md §9): the other apps' domain events that
concern website sources. The table of events is in docs/architecture.md."""

from __future__ import annotations

from apps.bots import events as bot_events
from apps.sources.services import bot_crawls_cancel


def on_bot_purging(sender, *, organization_id: int, bot_id: int, **kwargs) -> int:
    """A deleted bot's running crawls are asked to stop (they would keep adding documents to it); its sources and
    pages go with the bot row (the ORM's cascade). Deletes nothing: 0."""
    bot_crawls_cancel(organization_id=organization_id, bot_id=bot_id)
    return 0


def receivers_connect() -> None:
    bot_events.bot_purging.connect(on_bot_purging, dispatch_uid="sources.on_bot_purging")
