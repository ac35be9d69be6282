"""Celery task: a bot's refusal calibration (thin: the logic is in apps.documents.calibration).
Named documents.*, so it runs on the "ingestion" queue with the embedding work it depends on."""

from celery import shared_task
from django.db import InterfaceError, OperationalError

from apps.core.embeddings import TransientEmbeddingError


@shared_task(
    name="documents.calibrate",
    ignore_result=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError, InterfaceError, TransientEmbeddingError),
    retry_backoff=10,
    retry_jitter=True,
    max_retries=3,
    time_limit=900,
    soft_time_limit=840,
)
def bot_calibrate_task(organization_id: int, bot_id: int, force: bool = False) -> float | None:
    """Calibrate the bot's refusal cut-off once its knowledge base has been quiet for the debounce
    (or at once with `force`, when the owner asks). Idempotent: a run measures the current corpus
    and overwrites the stored cut-off; a duplicate finds no pending change and returns; a bot gone
    (or of another organization) returns quietly. Database hiccups and transient embedding errors
    retry with backoff."""
    from apps.documents.calibration import bot_calibrate_due

    return bot_calibrate_due(organization_id=organization_id, bot_id=bot_id, force=force)
