"""Celery tasks of bots (queue `bulk`, CELERY_TASK_ROUTES; thin: ids in, one service call)."""

from celery import shared_task
from django.conf import settings


@shared_task(name="bots.purge", ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def bot_purge_task(bot_id: int) -> str:
    """Purge a deleted bot's rows, a batch per transaction, for at most BOT_PURGE_BUDGET_SECONDS; the rest is
    published as a new task, at once, or after PURGE_BUSY_COUNTDOWN seconds when a row it must delete last is in use
    (docs/bots.md#deleting-a-bot). Idempotent: a redelivered or duplicated task finds less or nothing. Returns what
    `bot_purge` said."""
    from apps.bots.services import bot_purge, bot_purge_continue
    from apps.core.purge import PURGE_BUSY, PURGE_BUSY_COUNTDOWN, PURGE_MORE

    outcome = bot_purge(bot_id=bot_id, budget_seconds=settings.BOT_PURGE_BUDGET_SECONDS)
    if outcome in (PURGE_MORE, PURGE_BUSY):
        bot_purge_continue(bot_id=bot_id, countdown=PURGE_BUSY_COUNTDOWN if outcome == PURGE_BUSY else 0)
    return outcome
