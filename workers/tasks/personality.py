"""Celery tasks: personality profiles (thin: ids in, call the service)."""

from celery import shared_task
from django.db import InterfaceError, OperationalError

from apps.core.embeddings import TransientEmbeddingError


@shared_task(
    name="personality.profile_recompute",
    ignore_result=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError, InterfaceError, TransientEmbeddingError),
    retry_backoff=10,
    retry_jitter=True,
    max_retries=3,
    time_limit=300,
    soft_time_limit=240,
)
def profile_recompute_task(organization_id: int, user_id: int) -> bool:
    """Recompute a user's personality profile. Idempotent: one row per (user, input_hash), so a rerun
    with unchanged inputs writes nothing; a user who left the organization returns quietly. Database
    hiccups and transient embedding errors retry with backoff; the language model's failures fall back
    to the offline text estimate inside the service, so they never retry here."""
    from apps.organizations.models import Membership
    from apps.personality.services import profile_recompute

    if not Membership.objects.filter(organization_id=organization_id, user_id=user_id).exists():
        return False
    _, created = profile_recompute(organization_id=organization_id, user_id=user_id)
    return created


@shared_task(name="personality.recompute_stale", ignore_result=True)
def profile_recompute_stale_task() -> int:
    """Beat: enqueue recomputes for users with evidence newer than their profile. Idempotent."""
    from apps.personality.services import profile_recompute_stale

    return len(profile_recompute_stale())


@shared_task(name="personality.evidence_note", ignore_result=True)
def personality_evidence_note_task(organization_id: int, counts: list[list[int]]) -> int:
    """Count new evidence of many users at once ([[user_id, events], ...], from a bulk write's domain
    event), off the request: one Redis counter per user (a round trip per 1,000 users), and a debounced
    recompute for those who reached the threshold. Returns how many recomputes were enqueued. Not retried:
    a lost note is caught by the beat sweep (recompute_stale)."""
    from apps.personality.services import personality_evidence_note_many

    return len(personality_evidence_note_many(organization_id=organization_id, counts=counts))
