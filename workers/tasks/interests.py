"""Celery tasks: interests (issue 19). Thin wrappers."""

from celery import shared_task


@shared_task(name="interests.decay_purge", ignore_result=True)
def interests_decay_purge_task() -> int:
    """Beat: delete decayed inferred/chat evidence under INTERESTS_PURGE_BELOW (one DELETE). Idempotent:
    a rerun finds nothing more; a lost tick is done by the next one."""
    from apps.interests.services import interests_decay_purge

    return interests_decay_purge()
