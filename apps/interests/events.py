"""Domain events of interests (STYLE.md §9; the list with their receivers: docs/architecture.md).

Sent explicitly by the interests services (single and bulk paths alike), inside the caller's
transaction, with ids only; interests never imports the apps that listen (graph: INTERESTED_IN;
recommendations: the members' cached lists).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.dispatch import Signal

#: Members' interests changed in one organization (set, synced, evidence added, deleted).
#: Arguments: organization_id, user_ids (sorted unique).
member_interests_changed = Signal()


def member_interests_changed_send(*, organization_id: int, user_ids: Iterable[int]) -> None:
    user_ids = sorted(set(user_ids))
    if user_ids:
        member_interests_changed.send(sender="interests", organization_id=organization_id, user_ids=user_ids)
