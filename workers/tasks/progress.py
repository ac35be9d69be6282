"""Celery tasks: progress (thin: load by id, call the service). Routed to the "ingestion" queue
(CELERY_TASK_ROUTES["progress.*"]) with the other embedding work."""

from celery import shared_task
from django.db import InterfaceError, OperationalError

from apps.core.embeddings import TransientEmbeddingError

TRANSIENT = (OperationalError, InterfaceError, TransientEmbeddingError)


@shared_task(
    name="progress.content_embed",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=TRANSIENT,
    retry_backoff=5,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=8,
)
def content_embed_task(organization_id: int, item_ids: list[int]) -> int:
    """Embed these catalog items (title, description, tags) with the current model.

    Idempotent: vectors upsert on (item, model) and items whose vector already matches their
    content_hash are skipped, so a redelivered task writes nothing new. Items deleted meanwhile, or
    of another organization, are skipped quietly. Retries only database hiccups and provider rate
    limits / timeouts / 5xx (TransientEmbeddingError), with backoff and jitter; a permanent
    provider error fails the task (the items stay without a vector; `manage.py content_embed_missing`
    catches them up).
    """
    from apps.progress.services import content_embed

    return content_embed(organization_id=organization_id, item_ids=list(item_ids))


@shared_task(name="progress.content_embed_missing", ignore_result=True)
def content_embed_missing_task() -> int:
    """Beat (CONTENT_EMBED_SWEEP_MINUTES): enqueue embeddings for every item whose vector for the
    current model is missing or stale, e.g. because its publish was lost while the broker was down.

    Idempotent: items already embedded are skipped by progress.content_embed, so an item whose task
    is still queued costs one lookup. No retries: the next tick repeats the sweep.
    """
    from apps.progress.services import content_embed_missing

    return content_embed_missing()
