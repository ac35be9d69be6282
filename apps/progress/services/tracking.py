"""Progress writes: start, update, complete, reset, with the course roll-up and the interactions
that progress changes record (start, complete).

Transitions (anything else is a clear 4xx):
    not_started --start/update--> in_progress --complete (or percent 100)--> completed
    any --reset--> not_started (the item and everything below it, for that user)
- `start` on a completed item and `update` lowering the percent of a completed item are 409
  `invalid_transition` (reset first); `complete` on a completed item is a no-op (retries are safe).
- Inactive items cannot be started, updated or completed (400 `item_inactive`); reset is allowed.
- An item with active children (a course, a module) rolls up from them: percent = mean of the
  children's percents (missing = 0), completed when every active child is completed, time spent =
  their sum. Its progress cannot be set directly (400 `rolled_up`), only started.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from apps.core.exceptions import ApplicationError
from apps.organizations.models import Membership
from apps.progress.events import interactions_recorded_send, progress_changed_send
from apps.progress.models import DEFAULT_INTERACTION_WEIGHTS, ContentItem, Interaction, InteractionKind, Progress

Status = Progress.Status


def member_resolve(*, organization, user_id: int | None = None, user_external_id: str | None = None):
    """The user behind an id or a membership external_id, who must be a member (400 otherwise)."""
    queryset = Membership.objects.filter(organization=organization).select_related("user")
    if user_id is not None:
        membership = queryset.filter(user_id=user_id).first()
        what = f"user {user_id}"
    else:
        membership = queryset.filter(external_id=user_external_id).first()
        what = f"user_external_id {user_external_id!r}"
    if membership is None:
        raise ApplicationError(f"{what} is not a member of this organization.", code="not_a_member")
    return membership.user


def _locked(*, organization, user, item: ContentItem) -> Progress:
    progress, _created = Progress.objects.get_or_create(organization=organization, user=user, item=item)
    return Progress.objects.select_for_update().get(pk=progress.pk)


def _save(progress: Progress) -> None:
    progress.save()
    progress_changed_send(organization_id=progress.organization_id, pairs=[(progress.user_id, progress.item_id)])


def _record(progress: Progress, kind: str, at: datetime) -> None:
    Interaction.objects.create(
        organization_id=progress.organization_id,
        user_id=progress.user_id,
        item_id=progress.item_id,
        kind=kind,
        weight=DEFAULT_INTERACTION_WEIGHTS[kind],
        occurred_at=at,
    )
    interactions_recorded_send(
        organization_id=progress.organization_id, keys=[(progress.user_id, progress.item_id, kind)]
    )


def _active_children(item: ContentItem) -> list[int]:
    return list(ContentItem.objects.filter(parent_id=item.pk, active=True).values_list("id", flat=True))


def _check_writable(item: ContentItem, *, action: str) -> None:
    if not item.active:
        raise ApplicationError(
            f"Item {item.pk} is inactive; its progress cannot be {action}.", code="item_inactive", status_code=400
        )


def _check_leaf(item: ContentItem) -> None:
    children = _active_children(item)
    if children:
        raise ApplicationError(
            f"Progress of item {item.pk} rolls up from its {len(children)} child item(s); record progress on them.",
            code="rolled_up",
        )


def _started(progress: Progress, at: datetime) -> None:
    """not_started -> in_progress, recording the start."""
    progress.status = Status.IN_PROGRESS
    progress.started_at = progress.started_at or at
    _record(progress, InteractionKind.START, at)


def _completed(progress: Progress, at: datetime) -> None:
    if progress.status == Status.NOT_STARTED:
        _started(progress, at)
    progress.status = Status.COMPLETED
    progress.percent = 100
    progress.completed_at = at
    _record(progress, InteractionKind.COMPLETE, at)


def _apply_time(progress: Progress, *, time_spent_seconds: int | None, add_seconds: int | None) -> None:
    if time_spent_seconds is not None and add_seconds is not None:
        raise ApplicationError("Give either time_spent_seconds (the total) or add_seconds (an increment), not both.")
    if time_spent_seconds is not None:
        progress.time_spent_seconds = time_spent_seconds
    elif add_seconds:
        progress.time_spent_seconds += add_seconds


@transaction.atomic
def progress_start(*, organization, user, item: ContentItem, at: datetime | None = None) -> Progress:
    """Start an item (idempotent while in progress). Parents (courses) may be started directly."""
    at = at or timezone.now()
    _check_writable(item, action="started")
    progress = _locked(organization=organization, user=user, item=item)
    if progress.status == Status.COMPLETED:
        raise ApplicationError(
            f"Item {item.pk} is already completed; reset it to start over.", code="invalid_transition", status_code=409
        )
    if progress.status == Status.NOT_STARTED:
        _started(progress, at)
        progress.last_activity_at = at
        _save(progress)
        _rollup(organization=organization, user=user, item=item, at=at)
    return progress


@transaction.atomic
def progress_update(
    *,
    organization,
    user,
    item: ContentItem,
    percent: float | None = None,
    score: float | None = None,
    time_spent_seconds: int | None = None,
    add_seconds: int | None = None,
    at: datetime | None = None,
) -> Progress:
    """Set percent / score / time spent. Starts a not-started item; percent 100 completes it."""
    at = at or timezone.now()
    _check_writable(item, action="updated")
    _check_leaf(item)
    progress = _locked(organization=organization, user=user, item=item)
    if progress.status == Status.COMPLETED and percent is not None and percent < 100:
        raise ApplicationError(
            f"Item {item.pk} is completed; reset it before lowering its percent.",
            code="invalid_transition",
            status_code=409,
        )
    _apply_time(progress, time_spent_seconds=time_spent_seconds, add_seconds=add_seconds)
    if score is not None:
        progress.score = score
    if progress.status == Status.NOT_STARTED:
        _started(progress, at)
    if percent is not None and progress.status != Status.COMPLETED:
        if percent >= 100:
            _completed(progress, at)
        else:
            progress.percent = percent
    progress.last_activity_at = at
    _save(progress)
    _rollup(organization=organization, user=user, item=item, at=at)
    return progress


@transaction.atomic
def progress_complete(
    *,
    organization,
    user,
    item: ContentItem,
    score: float | None = None,
    time_spent_seconds: int | None = None,
    add_seconds: int | None = None,
    at: datetime | None = None,
) -> Progress:
    """Complete an item (a completed item stays completed: retries record nothing twice)."""
    at = at or timezone.now()
    _check_writable(item, action="completed")
    _check_leaf(item)
    progress = _locked(organization=organization, user=user, item=item)
    _apply_time(progress, time_spent_seconds=time_spent_seconds, add_seconds=add_seconds)
    if score is not None:
        progress.score = score
    if progress.status != Status.COMPLETED:
        _completed(progress, at)
    progress.last_activity_at = at
    _save(progress)
    _rollup(organization=organization, user=user, item=item, at=at)
    return progress


def _descendants(item: ContentItem) -> list[int]:
    found, frontier = [], [item.pk]
    while frontier:
        frontier = list(ContentItem.objects.filter(parent_id__in=frontier).values_list("id", flat=True))
        found += frontier
    return found


@transaction.atomic
def progress_reset(*, organization, user, item: ContentItem, at: datetime | None = None) -> Progress:
    """Back to not_started for the item and everything below it (this user only)."""
    at = at or timezone.now()
    progress = _locked(organization=organization, user=user, item=item)
    cleared = dict(
        status=Status.NOT_STARTED, percent=0, score=None, time_spent_seconds=0, started_at=None, completed_at=None
    )
    for name, value in cleared.items():
        setattr(progress, name, value)
    progress.last_activity_at = at
    _save(progress)
    below = _descendants(item)
    if below:
        Progress.objects.filter(organization=organization, user=user, item_id__in=below).update(
            **cleared, last_activity_at=at, updated_at=at
        )
        progress_changed_send(organization_id=organization.pk, pairs=[(user.pk, item_id) for item_id in below])
    _rollup(organization=organization, user=user, item=item, at=at)
    return progress


def _rollup(*, organization, user, item: ContentItem, at: datetime) -> None:
    """Recompute the user's progress of every ancestor of `item` from its active children."""
    parent_id = item.parent_id
    seen = set()
    while parent_id and parent_id not in seen:
        seen.add(parent_id)
        parent = ContentItem.objects.filter(organization=organization, pk=parent_id).first()
        if parent is None:
            return
        children = _active_children(parent)
        rows = {
            p.item_id: p for p in Progress.objects.filter(organization=organization, user=user, item_id__in=children)
        }
        progress = _locked(organization=organization, user=user, item=parent)
        before = (progress.status, progress.percent, progress.time_spent_seconds)
        done = bool(children) and all(c in rows and rows[c].status == Status.COMPLETED for c in children)
        started = any(c in rows and rows[c].status != Status.NOT_STARTED for c in children)
        total = sum(rows[c].percent if c in rows else 0 for c in children)
        percent = 100.0 if done else (round(total / len(children), 2) if children else 0.0)
        progress.time_spent_seconds = sum(rows[c].time_spent_seconds for c in rows)
        if done:
            if progress.status != Status.COMPLETED:
                _completed(progress, at)
        else:
            if progress.status == Status.COMPLETED:
                progress.completed_at = None
                progress.status = Status.IN_PROGRESS
            if started and progress.status == Status.NOT_STARTED:
                _started(progress, at)
            progress.percent = percent
        if (progress.status, progress.percent, progress.time_spent_seconds) != before:
            progress.last_activity_at = at
            _save(progress)
        parent_id = parent.parent_id


def member_activity_delete(*, organization_id: int, user_id: int) -> tuple[int, int]:
    """Delete a person's progress and interactions in an organization (their erasure: the `member_erasing` event),
    in the caller's transaction, a statement each (nothing references those rows). No `progress_changed`: the
    membership's `members_changed` that follows removes them from the graph and makes their caches stale. Returns
    (progress rows, interactions)."""
    progress, _ = Progress.objects.filter(organization_id=organization_id, user_id=user_id).delete()
    interactions, _ = Interaction.objects.filter(organization_id=organization_id, user_id=user_id).delete()
    return progress, interactions
