"""Domain events of bots (STYLE.md §9; the list with their receivers: docs/architecture.md).

Sent explicitly by the bot services inside their transaction, with ids only; bots never imports the
apps that listen.
"""

from __future__ import annotations

from django.dispatch import Signal

#: A bot is about to be deleted, inside the deleting transaction: the apps that own rows of the bot
#: remove them (and their side effects, such as files) before the bot row goes. Arguments:
#: organization_id, bot_id.
bot_deleting = Signal()


def bot_deleting_send(*, organization_id: int, bot_id: int) -> None:
    bot_deleting.send(sender="bots", organization_id=organization_id, bot_id=bot_id)
