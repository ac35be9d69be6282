"""Domain events of bots (apps/bots/events.py, STYLE.md §9): `bot_delete` sends bot_deleting with the
organization and bot ids inside its transaction, while the bot row still exists (so the apps that own
rows of the bot remove them first); a rolled-back delete keeps the bot. Issue 12."""

import pytest

from apps.bots import events
from apps.bots.models import Bot
from apps.bots.services import bot_delete
from apps.bots.tests.factories import BotFactory
from apps.core.tests.events import events_sent, only

pytestmark = pytest.mark.django_db


def test_bot_delete_sends_bot_deleting_before_the_delete(organization):
    """One event with the ids, inside the service's transaction, while the bot row is still there."""
    bot = BotFactory(organization=organization)
    bot_id = bot.pk  # Model.delete() clears the pk
    seen = []

    def receiver(sender, *, bot_id, **kwargs):
        seen.append(Bot.objects.filter(pk=bot_id).exists())

    events.bot_deleting.connect(receiver, weak=False, dispatch_uid="tests.bot_row_seen")
    try:
        with events_sent(events.bot_deleting) as sent:
            bot_delete(bot=bot)
    finally:
        events.bot_deleting.disconnect(dispatch_uid="tests.bot_row_seen")

    assert only(sent, events.bot_deleting) == [{"organization_id": organization.pk, "bot_id": bot_id}]
    assert seen == [True]
    assert not Bot.objects.filter(pk=bot_id).exists()


def test_a_failing_receiver_rolls_the_delete_back(organization):
    """The event is part of the delete: a receiver that fails leaves the bot in place."""
    bot = BotFactory(organization=organization)

    def receiver(sender, **kwargs):
        raise RuntimeError("cannot remove the bot's rows")

    events.bot_deleting.connect(receiver, weak=False, dispatch_uid="tests.failing")
    try:
        with pytest.raises(RuntimeError):
            bot_delete(bot=bot)
    finally:
        events.bot_deleting.disconnect(dispatch_uid="tests.failing")

    assert Bot.objects.filter(pk=bot.pk).exists()
