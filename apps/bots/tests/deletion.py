"""Test helper: a bot deleted to the end, in the test's process (what the owner's delete and the worker's purge
do together, docs/bots.md#deleting-a-bot)."""

from apps.bots.services import PURGE_DONE, bot_delete, bot_purge


def bot_delete_and_purge(bot) -> None:
    bot_delete(bot=bot)
    assert bot_purge(bot_id=bot.pk) == PURGE_DONE
