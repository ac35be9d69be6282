"""Deleting a tenant's rows in batches (an organization's purge, docs/api.md#deleting-an-organization).

A purge deletes a great many rows (millions of interactions for a large organization) while the rest of the platform
keeps working: each batch is a short transaction of its own, so no statement runs for minutes and no lock is held for
long, and rows another transaction holds are skipped (the purge comes back for them).
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone


def delete_batch(queryset, *, limit: int, raw: bool = False, before=None) -> int:
    """Delete at most `limit` rows of `queryset`, in a transaction of its own, skipping rows other transactions hold
    locked; the ORM's cascades and signals apply as for any delete (a related model with no cascade of its own is
    deleted by one statement). `raw`: one DELETE of the batch's ids, no cascade, for rows whose referencing rows are
    gone already (the cascade's `WHERE <fk> IN (...)` would read each referencing table, which may have no index on
    that column); a row that references one all the same fails the commit (IntegrityError). `before(ids)` runs in the
    transaction before the delete. Returns how many rows of the queryset's model went (0: none left, or all in use)."""
    model = queryset.model
    with transaction.atomic():
        locked = queryset.order_by().select_for_update(skip_locked=True, of=("self",))
        ids = list(locked.values_list("pk", flat=True)[:limit])
        if not ids:
            return 0
        if before is not None:
            before(ids)
        batch = model._base_manager.filter(pk__in=ids)
        if raw:
            return batch._raw_delete(batch.db)
        _total, per_model = batch.delete()
    return per_model.get(model._meta.label, 0)


def delete_in_order(querysets, *, limit: int) -> int:
    """Delete a batch (`delete_batch`) of the first of `querysets` that has rows left: the rows that reference others
    go first, so a batch of the referenced ones cascades into little. Returns how many went (0: all empty, or every
    row left is in use)."""
    for queryset in querysets:
        deleted = delete_batch(queryset, limit=limit)
        if deleted:
            return deleted
    return 0


#: what a purge (a deleted bot's, a deleted organization's) says: the row is gone; its budget is spent (publish the
#: rest now); a row it must delete last is in use (publish again after PURGE_BUSY_COUNTDOWN seconds)
PURGE_DONE, PURGE_MORE, PURGE_BUSY = "done", "more", "busy"
PURGE_BUSY_COUNTDOWN = 10


# A deleted row purged in the background (a bot, an organization: `deleted_at` set, `purge_published_at` the time its
# purge task was last published, the recovery sweep's lease). `enqueue(pk, countdown=...)` publishes its task on commit.


def purge_continue(model, pk: int, *, enqueue, countdown: float = 0) -> None:
    """Publish the rest of a purge (after `countdown` seconds), noting the publish."""
    with transaction.atomic():
        if model._base_manager.filter(pk=pk, deleted_at__isnull=False).update(purge_published_at=timezone.now()):
            enqueue(pk, countdown=countdown)


def purges_recover(model, *, enqueue, now=None) -> int:
    """Publish again the purges quiet for longer than RECOVERY_LEASE_SECONDS (a publish lost with the broker down at
    the delete, a worker lost mid-purge, a round that failed): a running purge publishes its continuation at least
    once per budget. At most 100 per call. Returns how many (beat, through `maintenance.work_recover_stuck`)."""
    now = now or timezone.now()
    stale = model._base_manager.filter(
        deleted_at__isnull=False, purge_published_at__lt=now - timedelta(seconds=settings.RECOVERY_LEASE_SECONDS)
    )
    count = 0
    for pk in stale.order_by("purge_published_at").values_list("pk", flat=True)[:100]:
        with transaction.atomic():
            # Again with the condition: a sweep running at the same time, or a continuation just published, wins.
            if stale.filter(pk=pk).update(purge_published_at=now):
                enqueue(pk)
                count += 1
    return count


def purge_backlog(model) -> dict:
    """The purges of `model` not finished, for /health/ and /metrics (registered by the app that owns the model):
    `pending` rows deleted and not yet purged, `quiet` those whose purge published nothing for longer than
    RECOVERY_LEASE_SECONDS (the recovery sweep republishes them; one that stays quiet is stuck: its worker's log
    says why), and the age in seconds of the oldest deletion."""
    now = timezone.now()
    quiet_since = now - timedelta(seconds=settings.RECOVERY_LEASE_SECONDS)
    figures = model._base_manager.filter(deleted_at__isnull=False).aggregate(
        pending=models.Count("pk"),
        quiet=models.Count(
            "pk", filter=models.Q(purge_published_at__isnull=True) | models.Q(purge_published_at__lt=quiet_since)
        ),
        oldest=models.Min("deleted_at"),
    )
    oldest = figures.pop("oldest")
    age = round((now - oldest).total_seconds(), 1) if oldest else 0.0
    return {**figures, "oldest_age_seconds": max(age, 0.0)}
