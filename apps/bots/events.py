"""Domain events of bots (STYLE.md §9; the list with their receivers: docs/architecture.md).

Sent explicitly by the bot services inside their transaction, with ids only; bots never imports the
apps that listen.
"""

from __future__ import annotations

from django.dispatch import Signal

#: A deleted bot's rows are being purged by a worker (`bot_purge`, docs/bots.md#deleting-a-bot), outside any
#: transaction: each receiver deletes at most one batch of the rows its app owns of the bot, in a transaction of its
#: own (rows locked by others are skipped, `bot_deleting` takes them), and returns how many it deleted. The purge
#: sends it again until every receiver returns 0. Arguments: organization_id, bot_id.
bot_purging = Signal()

#: The bot row is about to go, inside the deleting transaction (after `bot_purging` emptied it, so little is left:
#: what came in or was locked meanwhile): the apps that own rows of the bot remove them (and their side effects,
#: such as files) before the bot row goes. Arguments: organization_id, bot_id.
bot_deleting = Signal()


def bot_purging_send(*, organization_id: int, bot_id: int) -> int:
    """The rows the receivers deleted in this round (0: nothing left to them)."""
    responses = bot_purging.send(sender="bots", organization_id=organization_id, bot_id=bot_id)
    return sum(deleted or 0 for _receiver, deleted in responses)


def bot_deleting_send(*, organization_id: int, bot_id: int) -> None:
    bot_deleting.send(sender="bots", organization_id=organization_id, bot_id=bot_id)
