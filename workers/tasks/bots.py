"""Celery tasks of bots (queue `bulk`, CELERY_TASK_ROUTES; thin: ids in, one service call)."""

from celery import shared_task
from django.conf import settings


@shared_task(name="bots.purge", ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def bot_purge_task(bot_id: int) -> bool:
    """Purge a deleted bot's rows, a batch per transaction, for at most BOT_PURGE_BUDGET_SECONDS; the rest is
    published as a new task (docs/bots.md#deleting-a-bot). Idempotent: a redelivered or duplicated task finds less
    or nothing. Returns True when the bot is gone."""
    from apps.bots.services import bot_purge, bot_purge_continue

    done = bot_purge(bot_id=bot_id, budget_seconds=settings.BOT_PURGE_BUDGET_SECONDS)
    if not done:
        bot_purge_continue(bot_id=bot_id)
    return done
