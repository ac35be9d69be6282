"""Celery tasks: recommendations (thin: load by id, call the service)."""

from celery import shared_task
from django.db import InterfaceError, OperationalError


@shared_task(
    bind=True,
    name="recommendations.train",
    ignore_result=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=10,
    retry_jitter=True,
    max_retries=3,
)
def recommender_train_task(self, organization_id: int, interruptions: int = 0) -> int | None:
    """Train the organization's engine (a new model version). Idempotent: a rerun trains a new
    version from the same events and replaces the previous one; a run while another holds the
    organization's advisory lock returns at once. Database hiccups retry with backoff.

    Redelivered when its worker dies (acks_late + reject_on_worker_lost); the delivery token lets the
    service count such redeliveries and give up past RECOVERY_MAX_ATTEMPTS (docs/recovery.md).
    `interruptions` is set by the recovery sweep."""
    from apps.core.leases import task_lease_token
    from apps.organizations.models import Organization
    from apps.recommendations.services import recommender_train

    if not Organization.objects.filter(pk=organization_id).exists():
        return None
    record = recommender_train(
        organization_id=organization_id, token=task_lease_token(self.request), interruptions=interruptions
    )
    return record.version if record else None


@shared_task(name="recommendations.train_stale", ignore_result=True)
def recommender_train_stale_task() -> int:
    """Beat: enqueue training for organizations with events newer than their model. Idempotent."""
    from apps.recommendations.services import recommender_train_stale

    return len(recommender_train_stale())


@shared_task(name="recommendations.graph_refresh", ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def graph_candidates_refresh_task(organization_id: int, user_id: int) -> int:
    """Cache the user's knowledge-graph candidates for serving. Idempotent (overwrites the cached
    rows); the graph being down gives [] (graph_candidates never raises), so no retry."""
    from apps.recommendations.engine.sources import graph_candidates_refresh

    return graph_candidates_refresh(organization_id=organization_id, user_id=user_id)
