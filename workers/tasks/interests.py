"""Celery tasks: interests (issue 19) and the learner loop from chat (issue 18 item 6). Thin wrappers."""

from celery import shared_task
from django.db import InterfaceError, OperationalError


@shared_task(name="interests.decay_purge", ignore_result=True)
def interests_decay_purge_task() -> int:
    """Beat: delete decayed inferred/chat evidence under INTERESTS_PURGE_BELOW (one DELETE). Idempotent:
    a rerun finds nothing more; a lost tick is done by the next one."""
    from apps.interests.services import interests_decay_purge

    return interests_decay_purge()


@shared_task(
    name="recommendations.learn_from_question",
    ignore_result=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=5,
    retry_jitter=True,
    max_retries=3,
)
def learn_from_question_task(organization_id: int, message_id: int) -> int:
    """A member's chat question becomes interest evidence (source chat). Not strictly idempotent
    (a redelivery counts the question twice: one more evidence on the same topics, bounded in 0..1);
    a missing message or an anonymous visitor returns 0 quietly."""
    from apps.recommendations.learner import question_evidence_learn

    return question_evidence_learn(organization_id=organization_id, message_id=message_id)


@shared_task(name="interests.infer_from_behaviour", ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def interests_infer_task() -> int:
    """Beat: recompute the inferred interests of every organization with recent interactions. Idempotent
    (a replace from the same interactions writes the same rows)."""
    from apps.recommendations.inference import interests_infer_all

    return sum(interests_infer_all().values())
