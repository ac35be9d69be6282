"""Domain events of bots (apps/bots/events.py, STYLE.md §9). Deleting a bot sends nothing: it hides the bot.
Its purge (`bot_purge`, the worker's) sends `bot_purging` outside any transaction until no receiver deletes
anything (each deletes a batch in a transaction of its own), then `bot_deleting` with the organization and bot ids
inside the transaction that deletes the bot row, while the row still exists; a failing receiver rolls that back
and the bot stays deleted, hidden, for the next purge. Issue 12."""

import pytest

from apps.bots import events
from apps.bots.models import Bot
from apps.bots.services import bot_delete, bot_purge
from apps.bots.tests.factories import BotFactory
from apps.core.purge import PURGE_DONE
from apps.core.tests.events import events_sent, only

pytestmark = pytest.mark.django_db


def test_bot_delete_sends_nothing_and_hides_the_bot(organization):
    bot = BotFactory(organization=organization)
    with events_sent(events.bot_purging, events.bot_deleting) as sent:
        bot_delete(bot=bot)
    assert sent == []
    assert not Bot.objects.filter(pk=bot.pk).exists()
    assert Bot.all_objects.get(pk=bot.pk).deleted_at is not None


def test_bot_purge_sends_bot_purging_until_nothing_is_left_then_bot_deleting_before_the_delete(organization):
    """bot_purging outside a transaction, as often as a receiver still deletes something; then one bot_deleting
    with the ids, inside the purge's transaction, while the bot row is still there."""
    bot = BotFactory(organization=organization)
    bot_id = bot.pk
    bot_delete(bot=bot)
    batches = [3, 1]  # a receiver that deletes 3 rows, then 1, then nothing
    seen = []

    def purging(sender, **kwargs):
        return batches.pop(0) if batches else 0

    def deleting(sender, *, bot_id, **kwargs):
        seen.append(Bot.all_objects.filter(pk=bot_id).exists())

    events.bot_purging.connect(purging, weak=False, dispatch_uid="tests.purging")
    events.bot_deleting.connect(deleting, weak=False, dispatch_uid="tests.bot_row_seen")
    try:
        with events_sent(events.bot_purging, events.bot_deleting) as sent:
            assert bot_purge(bot_id=bot_id) == PURGE_DONE
    finally:
        events.bot_purging.disconnect(dispatch_uid="tests.purging")
        events.bot_deleting.disconnect(dispatch_uid="tests.bot_row_seen")

    ids = {"organization_id": organization.pk, "bot_id": bot_id}
    purging_sent = [s for s in sent if s.signal is events.bot_purging]
    assert [s.kwargs for s in purging_sent] == [ids, ids, ids]
    assert not any(s.in_transaction for s in purging_sent)
    assert only(sent, events.bot_deleting) == [ids]
    assert seen == [True]
    assert not Bot.all_objects.filter(pk=bot_id).exists()


def test_bot_purge_never_touches_a_bot_not_deleted(organization):
    bot = BotFactory(organization=organization)
    with events_sent(events.bot_purging, events.bot_deleting) as sent:
        assert bot_purge(bot_id=bot.pk) == PURGE_DONE
    assert sent == []
    assert Bot.objects.filter(pk=bot.pk).exists()


def test_a_failing_receiver_rolls_the_last_step_back_and_the_bot_stays_deleted(organization):
    """The event is part of the bot row's delete: a receiver that fails leaves the bot row, still hidden, and the
    next purge finishes."""
    bot = BotFactory(organization=organization)
    bot_delete(bot=bot)

    def receiver(sender, **kwargs):
        raise RuntimeError("cannot remove the bot's rows")

    events.bot_deleting.connect(receiver, weak=False, dispatch_uid="tests.failing")
    try:
        with pytest.raises(RuntimeError):
            bot_purge(bot_id=bot.pk)
    finally:
        events.bot_deleting.disconnect(dispatch_uid="tests.failing")

    assert Bot.all_objects.filter(pk=bot.pk, deleted_at__isnull=False).exists()
    assert not Bot.objects.filter(pk=bot.pk).exists()
    assert bot_purge(bot_id=bot.pk) == PURGE_DONE
    assert not Bot.all_objects.filter(pk=bot.pk).exists()
