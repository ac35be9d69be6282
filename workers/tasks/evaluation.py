"""Celery task: a bot's evaluation run (thin: load by id, call the service)."""

from celery import shared_task
from django.db import InterfaceError, OperationalError


@shared_task(
    name="conversations.evaluate",
    ignore_result=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=10,
    retry_jitter=True,
    max_retries=3,
    time_limit=30 * 60,
    soft_time_limit=25 * 60,
)
def evaluation_run_task(organization_id: int, run_id: int) -> str | None:
    """Compute an evaluation run's figures. Idempotent: a redelivered or retried run recomputes and
    overwrites the same run's figures; a run that is gone (bot deleted) or already done returns
    quietly. Database hiccups retry with backoff; any other failure marks the run failed."""
    from apps.conversations.evaluation import evaluation_run_execute
    from apps.conversations.models import EvaluationRun

    run = (
        EvaluationRun.objects.filter(organization_id=organization_id, pk=run_id)
        .select_related("bot__organization")
        .first()
    )
    if run is None or run.status == EvaluationRun.Status.DONE:
        return None
    return evaluation_run_execute(run=run).status
