"""Leases and recovery of the ingestion pipeline (docs/recovery.md).

Each stage claims the document's lease (`document_stage_claim`) and embedding renews its heartbeat
per batch. A stage redelivered after its worker died counts an interruption; `documents_recover_stuck`
(beat) re-enqueues documents whose heartbeat expired while `processing` and documents `pending` for
longer than a grace period (a lost publish). Past RECOVERY_MAX_ATTEMPTS interruptions the document
ends `failed` with a readable error.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.core.leases import (
    attempts_exhausted,
    interrupted_message,
    lease_cutoff,
    lease_is_fresh,
    token_run,
)
from apps.documents.events import document_finished_send
from apps.documents.models import Chunk, Document
from apps.documents.services.upload import document_pipeline_enqueue

logger = logging.getLogger(__name__)


PIPELINE_STAGES = ("extract", "embed", "finalize")


def document_stage_claim(*, organization_id: int, document_id: int, token: str, stage: str) -> Document | None:
    """Take the document's lease for one pipeline stage: the document to work on, or None when the
    stage must return quietly.

    None when the document is gone, failed or ready (nothing to do: a late duplicate), still pending
    for a stage after extraction, or held by another run (another chain) whose heartbeat is fresh.
    `token` identifies this delivery (`apps.core.leases.task_lease_token`); finding it already on the
    row means the same delivery ran before and its worker died: one more interruption, and past
    RECOVERY_MAX_ATTEMPTS the document fails with a readable error instead of looping.
    """
    assert stage in PIPELINE_STAGES
    now = timezone.now()
    with transaction.atomic():
        document = Document.objects.select_for_update().filter(pk=document_id, organization_id=organization_id).first()
        if document is None or document.status in (Document.Status.FAILED, Document.Status.READY):
            return None
        if document.status == Document.Status.PENDING and stage != "extract":
            return None
        held_by_other_run = (
            document.status == Document.Status.PROCESSING
            and document.lease_owner
            and token_run(document.lease_owner) != token_run(token)
            and lease_is_fresh(document.heartbeat_at, now)
        )
        if held_by_other_run:
            logger.info("document %s: %s skipped, another run holds the lease", document_id, stage)
            return None
        if document.lease_owner == token:
            document.interruptions += 1
            logger.warning(
                "document %s: %s redelivered after its worker was lost (interruption %s)",
                document_id, stage, document.interruptions,
            )  # fmt: skip
            if attempts_exhausted(document.interruptions):
                _document_give_up(document)
                return None
        document.lease_owner = token
        document.heartbeat_at = now
        document.save(update_fields=["lease_owner", "heartbeat_at", "interruptions"])
    return document


def _document_give_up(document: Document) -> None:
    """Fail a document interrupted too often (inside the caller's transaction, row locked)."""
    message = interrupted_message(
        what="Processing",
        interruptions=document.interruptions,
        last_seen=document.heartbeat_at or document.updated_at,
        action="use 'reprocess' to try again",
    )
    logger.error("document %s: %s", document.pk, message)
    Document.objects.filter(pk=document.pk).update(
        status=Document.Status.FAILED,
        error=message,
        interruptions=document.interruptions,
        lease_owner="",
        updated_at=timezone.now(),
    )
    Chunk.objects.filter(document_id=document.pk, searchable=False).delete()
    document_finished_send(
        organization_id=document.organization_id,
        bot_id=document.bot_id,
        document_id=document.pk,
        status=Document.Status.FAILED,
    )


@dataclass
class RecoveryReport:
    requeued: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)


def documents_recover_stuck(*, limit: int = 500) -> RecoveryReport:
    """Beat: re-enqueue documents whose worker or task was lost; never leave one running for ever.

    Picks documents `processing` whose heartbeat is older than RECOVERY_LEASE_SECONDS (their worker
    died and the broker did not redeliver) and documents `pending` for longer than
    RECOVERY_PENDING_GRACE_SECONDS (the publish on commit may have been lost).

    - A lost `processing` document counts one interruption: below the limit it goes back to
      `pending` (queued again, no lease) and the pipeline is enqueued after commit; past it, it ends
      `failed` with a readable error.
    - A `pending` document never ran, or is still waiting its turn behind a long ingestion queue: it
      is published again without counting an interruption (a duplicate message finds the document
      claimed or ready and returns at once), so a big upload never fails documents that only waited.

    Safe when two sweeps run at once: rows are locked with SKIP LOCKED, and a re-enqueued row has a
    fresh `updated_at`, so the other sweep neither waits for nor takes it.
    """
    now = timezone.now()
    expired = lease_cutoff(now)
    pending_since = now - timedelta(seconds=settings.RECOVERY_PENDING_GRACE_SECONDS)
    stuck = Q(status=Document.Status.PROCESSING) & (
        Q(heartbeat_at__lt=expired) | Q(heartbeat_at__isnull=True, updated_at__lt=expired)
    )
    lost = Q(status=Document.Status.PENDING, updated_at__lt=pending_since)
    report = RecoveryReport()
    with transaction.atomic():
        documents = list(
            Document.objects.select_for_update(skip_locked=True).filter(stuck | lost).order_by("id")[:limit]
        )
        for document in documents:
            if document.status == Document.Status.PENDING:
                logger.warning("document %s: pending since %s, published again", document.pk, document.updated_at)
                document.save(update_fields=["updated_at"])
                document_pipeline_enqueue(document)
                report.requeued.append(document.pk)
                continue
            document.interruptions += 1
            if attempts_exhausted(document.interruptions):
                _document_give_up(document)
                report.failed.append(document.pk)
                continue
            logger.warning(
                "document %s: processing, last seen %s, queued again (interruption %s)",
                document.pk, document.heartbeat_at or document.updated_at, document.interruptions,
            )  # fmt: skip
            document.status = Document.Status.PENDING
            document.lease_owner = ""
            document.save(update_fields=["status", "lease_owner", "interruptions", "updated_at"])
            document_pipeline_enqueue(document)
            report.requeued.append(document.pk)
    return report
