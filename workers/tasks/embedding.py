"""Ingestion, stages 2 and 3: embed chunks in batches, then make them searchable (queue "ingestion")."""

import logging
import time

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import InterfaceError, OperationalError

from apps.core.embeddings import TransientEmbeddingError
from workers.tasks.base import DocumentTask
from workers.tasks.chunking import CONTINUATION_PRIORITY

logger = logging.getLogger(__name__)
TRANSIENT = (OperationalError, InterfaceError, TransientEmbeddingError)


@shared_task(
    bind=True,
    base=DocumentTask,
    name="documents.embed",
    priority=CONTINUATION_PRIORITY,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=TRANSIENT,
    retry_backoff=5,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=8,
)
def document_embed_task(self, organization_id: int, document_id: int) -> int | None:
    """Idempotent: embeds only chunks without a vector for the current model (upsert on
    (chunk, model)), renewing the document's heartbeat per batch. Provider rate limits, timeouts and
    5xx retry with backoff.

    After EMBEDDING_TASK_BUDGET_SECONDS it replaces itself with a continuation (`Task.replace`: the
    chain's finalize follows the continuation), which resumes from the stored vectors: a document of
    any size on a machine under any load never meets the soft time limit. The continuation's lease
    token differs by its replacement depth, so taking the lease over is not counted as an
    interruption."""
    from apps.core.embeddings import EmbeddingError
    from apps.core.leases import task_lease_token
    from apps.documents.services.pipeline import document_embed, document_embed_unfinished, document_fail
    from apps.documents.services.recovery import document_stage_claim

    token = task_lease_token(self.request)
    document = document_stage_claim(
        organization_id=organization_id, document_id=document_id, token=token, stage="embed"
    )
    if document is None:
        return None
    deadline = time.monotonic() + settings.EMBEDDING_TASK_BUDGET_SECONDS
    try:
        embedded = document_embed(document=document, token=token, deadline=deadline)
        if document_embed_unfinished(document=document, token=token):
            logger.info("document %s: %s chunks embedded, continuing in a next task", document_id, embedded)
            return self.replace(document_embed_task.si(organization_id, document_id))
        return embedded
    except TransientEmbeddingError:
        raise
    except EmbeddingError as exc:
        document_fail(document_id=document_id, message=f"Embedding failed: {exc}")
    except SoftTimeLimitExceeded:
        document_fail(
            document_id=document_id, message="Embedding took too long; use 'reprocess' to continue where it stopped."
        )
    return None


@shared_task(
    bind=True,
    base=DocumentTask,
    name="documents.finalize",
    priority=CONTINUATION_PRIORITY,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=2,
    retry_jitter=True,
    max_retries=5,
)
def document_finalize_task(self, organization_id: int, document_id: int) -> str | None:
    """Idempotent: a finalized document (no building chunks, status ready) is left as it is."""
    from apps.core.leases import task_lease_token
    from apps.documents.services.pipeline import document_finalize
    from apps.documents.services.recovery import document_stage_claim

    document = document_stage_claim(
        organization_id=organization_id, document_id=document_id, token=task_lease_token(self.request), stage="finalize"
    )
    if document is None:
        return None
    finalized = document_finalize(document=document)
    return finalized.status if finalized else None
