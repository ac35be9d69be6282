"""Domain events of website sources (STYLE.md §9; the list with their receivers: docs/architecture.md).

Sent by the crawl inside the transaction that ends a run, with ids and primitives only; sources never
imports the apps that listen.
"""

from __future__ import annotations

from django.dispatch import Signal

#: A crawl run ended: finished (the site walked), cancelled or failed. Arguments: organization_id, bot_id,
#: source_id, run, status ("finished", "cancelled" or "failed"), pages ({state: count} of the run's pages).
crawl_finished = Signal()


def crawl_finished_send(
    *, organization_id: int, bot_id: int, source_id: int, run: int, status: str, pages: dict[str, int]
) -> None:
    crawl_finished.send(
        sender="sources",
        organization_id=organization_id,
        bot_id=bot_id,
        source_id=source_id,
        run=run,
        status=status,
        pages=pages,
    )
