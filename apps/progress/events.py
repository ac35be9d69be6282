"""Domain events of progress (STYLE.md §9; the list with their receivers: docs/architecture.md).

Sent explicitly by the progress services, on the single and the bulk paths alike, inside the
caller's transaction, with ids and primitives only. Progress never imports the apps that listen
(recommendations connects its receivers in its `AppConfig.ready()`). Call the `*_send` helpers:
they normalise the ids (sorted, unique lists) and send nothing for an empty change.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.dispatch import Signal

#: Interactions were stored. Arguments: organization_id, keys (sorted unique
#: [(user_id, item_id, kind)] of the stored events), user_ids (sorted unique).
interactions_recorded = Signal()

#: Progress rows changed (started, updated, completed, reset, rolled up). Arguments:
#: organization_id, pairs (sorted unique [(user_id, item_id)]), user_ids (sorted unique).
progress_changed = Signal()

#: Catalog items were created, changed (including hierarchy and prerequisites) or deleted.
#: Arguments: organization_id, item_ids (sorted unique).
content_changed = Signal()


def interactions_recorded_send(*, organization_id: int, keys: Iterable[tuple[int, int, str]]) -> None:
    keys = sorted(set(keys))
    if keys:
        interactions_recorded.send(
            sender="progress",
            organization_id=organization_id,
            keys=keys,
            user_ids=sorted({user_id for user_id, _item_id, _kind in keys}),
        )


def progress_changed_send(*, organization_id: int, pairs: Iterable[tuple[int, int]]) -> None:
    pairs = sorted(set(pairs))
    if pairs:
        progress_changed.send(
            sender="progress",
            organization_id=organization_id,
            pairs=pairs,
            user_ids=sorted({user_id for user_id, _item_id in pairs}),
        )


def content_changed_send(*, organization_id: int, item_ids: Iterable[int]) -> None:
    item_ids = sorted(set(item_ids))
    if item_ids:
        content_changed.send(sender="progress", organization_id=organization_id, item_ids=item_ids)
