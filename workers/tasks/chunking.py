"""Ingestion, stage 1: extract text and chunk it (queue "ingestion").

The pipeline is a chain of three idempotent tasks, each loading the document by id:
documents.extract_chunk -> documents.embed -> documents.finalize. A stage that finds the document
deleted, failed or ready returns quietly, which also ends the chain's effect.

Every stage is `acks_late` + `reject_on_worker_lost`: when its worker child is killed (out of
memory, a hard deploy) the broker redelivers it. Each stage first claims the document's lease
(`document_stage_claim`), which counts such redeliveries and fails the document past
RECOVERY_MAX_ATTEMPTS, so a file that kills its worker every time cannot loop (docs/recovery.md).

Depth first: the ingestion queue's work is sent at INGESTION_PRIORITY (settings), extraction included, and the
two stages after it declare CONTINUATION_PRIORITY, which the broker serves first: a worker child that finishes a
task embeds or finalizes a document already extracted before it extracts the next one (or trains, or embeds the
catalog: those keep their order with extractions). A bulk upload or a crawl's pages then become ready one after
another from the start, instead of every page being extracted before the first is embedded, and one child's
extraction (waiting on its sandbox and the database) overlaps the other's embedding (docs/benchmarks.md).
"""

from celery import chain, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.db import InterfaceError, OperationalError

from workers.tasks.base import DocumentTask

TRANSIENT = (OperationalError, InterfaceError)
# The Redis transport keeps a list per priority step (0, 3, 6, 9) and takes from 0 first.
CONTINUATION_PRIORITY = 0


def document_pipeline(organization_id: int, document_id: int):
    """The chain, unsent (services publish it on commit with apps.core.tasks.enqueue_on_commit)."""
    from workers.tasks.embedding import document_embed_task, document_finalize_task

    return chain(
        document_extract_chunk_task.si(organization_id, document_id),
        document_embed_task.si(organization_id, document_id),
        document_finalize_task.si(organization_id, document_id),
    )


def document_pipeline_enqueue(organization_id: int, document_id: int):
    """Send the chain now."""
    return document_pipeline(organization_id, document_id).apply_async()


@shared_task(
    bind=True,
    base=DocumentTask,
    name="documents.extract_chunk",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=TRANSIENT,
    retry_backoff=2,
    retry_jitter=True,
    max_retries=5,
)
def document_extract_chunk_task(self, organization_id: int, document_id: int) -> int | None:
    """Idempotent: an unchanged building generation (same chunk hashes) is kept with its vectors.
    Retries database hiccups with backoff; extraction errors fail the document with their message."""
    from apps.core.leases import task_lease_token
    from apps.documents.extraction import ExtractionError
    from apps.documents.services.pipeline import document_extract_chunk, document_fail
    from apps.documents.services.recovery import document_stage_claim

    document = document_stage_claim(
        organization_id=organization_id, document_id=document_id, token=task_lease_token(self.request), stage="extract"
    )
    if document is None:
        return None
    try:
        return document_extract_chunk(document=document)
    except ExtractionError as exc:
        document_fail(document_id=document_id, message=str(exc))
    except SoftTimeLimitExceeded:
        document_fail(document_id=document_id, message="Reading the file took too long; split it and upload again.")
    return None
