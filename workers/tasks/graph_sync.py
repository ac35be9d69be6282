"""Celery tasks: graph sync (thin: the logic is in apps.graph.sync)."""

from celery import shared_task
from django.db import InterfaceError, OperationalError


@shared_task(
    name="graph.sync_drain",
    acks_late=True,
    ignore_result=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=5,
)
def graph_sync_drain() -> dict:
    """Apply due GraphOutbox rows to the knowledge graph (beat every few seconds + kicked on commit).

    Idempotent: each row reloads its entity's current state from PostgreSQL and writes it with
    MERGE/SET of absolute values, so a redelivered task or a re-applied row changes nothing. Only
    one drain runs at a time (advisory lock; a second returns at once). Graph outages do not retry
    the task: the rows back off in the outbox (attempts, next_attempt_at) and a later drain takes
    them. Rows the graph rejects are isolated and dead-lettered, the rest applies (issue 12;
    `manage.py graph_retry` requeues them). Database hiccups retry the task with backoff and jitter.
    """
    from dataclasses import asdict

    from apps.graph.sync import graph_sync_drain as drain

    return asdict(drain())
