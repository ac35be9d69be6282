"""Operating an organization's engine from other backends (issue 18): cache clear and stats, and
training on demand. Reads of the training status are `selectors.recommender_training_status`.

Redis (the cache, the "queued" mark) and the broker failing here are 503s: unlike serving, these
calls exist to change or report that state, so failing open would answer something untrue.
"""

from __future__ import annotations

from apps.core.exceptions import service_unavailable
from apps.core.outages import redis_outage_errors
from apps.core.tasks import enqueue_now
from apps.recommendations.engine import cache as rec_cache
from workers.tasks.recommendations import recommender_train_task


def recommendation_cache_clear(*, organization, user_id: int | None = None) -> dict:
    """Make one member's cached lists (or the whole organization's) unreachable at once."""
    try:
        rec_cache.cache_clear(organization_id=organization.pk, user_id=user_id)
    except redis_outage_errors() as exc:
        raise service_unavailable("redis") from exc
    return {"cleared": "organization" if user_id is None else "user", "user": user_id}


def recommendation_cache_stats(*, organization) -> dict:
    try:
        return rec_cache.cache_stats(organization_id=organization.pk)
    except redis_outage_errors() as exc:
        raise service_unavailable("redis") from exc


def recommender_train_request(*, organization) -> tuple[dict, bool]:
    """Enqueue a training of the organization's engine unless one is running or already queued
    (idempotent: asking again returns the same state). Returns (status, enqueued).

    Published at once rather than on commit: the run reads only committed events, and a broker that
    refuses the task must become a 503 here (the mark is then withdrawn), not a "queued" that never runs."""
    from apps.recommendations.selectors import recommender_training_status

    try:
        status = recommender_training_status(organization=organization)
        if status["state"] in ("running", "queued"):
            return status, False
        if not rec_cache.training_queued_claim(organization_id=organization.pk, after_version=status["latest_version"]):
            return recommender_training_status(organization=organization), False
        if not enqueue_now(recommender_train_task, organization.pk):
            rec_cache.training_queued_release(organization_id=organization.pk)
            raise service_unavailable("broker")
        return recommender_training_status(organization=organization), True
    except redis_outage_errors() as exc:
        raise service_unavailable("redis") from exc
