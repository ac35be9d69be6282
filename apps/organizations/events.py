"""Domain events of organizations (STYLE.md §9; the list with their receivers: docs/architecture.md).

Sent explicitly by the organization services and the member sync, inside the caller's
transaction, with ids only; organizations never imports the apps that listen.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.dispatch import Signal

#: Memberships changed: members joined (organization created, invitation accepted, member sync
#: created them), their role or external_id changed, their synced profile changed, or they left.
#: Arguments: organization_id, user_ids (sorted unique).
members_changed = Signal()


def members_changed_send(*, organization_id: int, user_ids: Iterable[int]) -> None:
    user_ids = sorted(set(user_ids))
    if user_ids:
        members_changed.send(sender="organizations", organization_id=organization_id, user_ids=user_ids)


#: A member's personal data in the organization is being erased (`member_erase`, docs/api.md#erasing-a-member), inside
#: its transaction, before the membership goes (and `members_changed` with it): each app deletes what it keeps of
#: that person in that organization, nothing of theirs elsewhere. Arguments: organization_id, user_id.
member_erasing = Signal()


def member_erasing_send(*, organization_id: int, user_id: int) -> None:
    member_erasing.send(sender="organizations", organization_id=organization_id, user_id=user_id)


#: A plan limit refused something (a bot, a member, an API key, documents or storage, the
#: monthly messages). Sent just before the refusal is raised, so the caller's transaction usually
#: rolls back: receivers must not rely on it committing. Arguments: organization_id, limit (the
#: Plan field, e.g. "max_bots"), allowed, used.
plan_limit_reached = Signal()


def plan_limit_reached_send(*, organization_id: int, limit: str, allowed: int | float, used: int | float) -> None:
    plan_limit_reached.send(
        sender="organizations", organization_id=organization_id, limit=limit, allowed=allowed, used=used
    )


#: An owner deleted the organization (`organization_delete`, docs/api.md#deleting-an-organization), inside its
#: transaction: from its commit on nothing of it may act any more. Each app stops what would go on acting for it
#: (bots are marked deleted, campaigns stop sending); its rows stay for the purge. Arguments: organization_id.
organization_deleted = Signal()

#: A deleted organization's rows are being purged by a worker (`organization_purge`), outside any transaction: each
#: receiver deletes at most one batch of the rows its app owns of the organization (and their side effects: files) in a
#: transaction of its own, skipping rows locked by others, and returns how many it deleted. The purge sends it again
#: until every receiver returns 0, first with `last=False` (every app's own rows), then with `last=True` (the rows
#: other apps' rows reference, such as the catalog, and what is kept outside the database: graph nodes, Redis keys),
#: then deletes the organization row with its memberships, invitations and API keys. Arguments: organization_id, last.
organization_purging = Signal()


def organization_deleted_send(*, organization_id: int) -> None:
    organization_deleted.send(sender="organizations", organization_id=organization_id)


def organization_purging_send(*, organization_id: int, last: bool) -> int:
    """The rows the receivers deleted in this round (0: nothing left to them)."""
    responses = organization_purging.send(sender="organizations", organization_id=organization_id, last=last)
    return sum(deleted or 0 for _receiver, deleted in responses)
