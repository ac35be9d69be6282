"""Celery tasks of website sources (thin: the logic is in apps.sources). `sources.crawl` runs on the
"ingestion" queue (CELERY_TASK_ROUTES); the beat sweep `sources.recrawl_due` on the default one."""

from celery import shared_task
from django.db import InterfaceError, OperationalError


@shared_task(
    name="sources.crawl",
    ignore_result=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=10,
    retry_jitter=True,
    max_retries=3,
)
def source_crawl(organization_id: int, source_id: int, run: int) -> str:
    """Run crawl `run` of the source. Idempotent: a redelivered task continues the run's queue of
    pages; a stale one (a newer run, the source deleted, the run over) returns quietly."""
    from apps.sources.crawl import crawl_run

    return crawl_run(organization_id=organization_id, source_id=source_id, run=run)


@shared_task(name="sources.recrawl_due", ignore_result=True)
def sources_recrawl_due_task() -> int:
    """Start the scheduled re-crawls that are due and queue again the crawls whose task was lost (beat)."""
    from apps.sources.services import sources_recrawl_due, sources_stalled_resume

    return sources_recrawl_due() + sources_stalled_resume()
