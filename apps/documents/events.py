"""Domain events of documents (STYLE.md §9; the list with their receivers: docs/architecture.md).

Sent explicitly by the ingestion pipeline inside its transaction, with ids and primitives only;
documents never imports the apps that listen.
"""

from __future__ import annotations

from django.dispatch import Signal

#: A document's ingestion finished: it became ready (finalize swapped its chunks in) or failed (an
#: extraction or embedding error, retries exhausted, or given up by the recovery sweep). Arguments:
#: organization_id, bot_id, document_id, status ("ready" or "failed").
document_finished = Signal()


def document_finished_send(*, organization_id: int, bot_id: int, document_id: int, status: str) -> None:
    document_finished.send(
        sender="documents", organization_id=organization_id, bot_id=bot_id, document_id=document_id, status=status
    )
