"""Leases of long-running jobs whose state lives on a domain row (docs/recovery.md).

A job in a running state keeps a heartbeat on its row (`heartbeat_at`, renewed as it makes
progress) and the token of the task delivery that holds it (`lease_owner`). Two things recover a
job whose worker died:

- the broker redelivers the task (`acks_late` + `reject_on_worker_lost`): the redelivered run finds
  its own token still on the row, so it knows it was interrupted and counts it (`interruptions`);
- a periodic sweep finds running rows whose heartbeat is older than RECOVERY_LEASE_SECONDS and
  re-enqueues them, also counting an interruption.

Past RECOVERY_MAX_ATTEMPTS interruptions the job ends `failed` with `interrupted_message(...)`:
a task that kills its worker every time (out of memory on one file) cannot loop for ever.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone


class LeasedWorkModel(models.Model):
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="Last sign of life of the job working on this row (renewed as it progresses)."
    )
    lease_owner = models.CharField(
        max_length=200, blank=True, help_text="Token of the task delivery holding the lease (empty: free)."
    )
    interruptions = models.PositiveSmallIntegerField(
        default=0, help_text="Times the current run was interrupted (worker lost) and resumed."
    )

    class Meta:
        abstract = True


def lease_cutoff(now: datetime | None = None) -> datetime:
    """A running row whose heartbeat is older than this has lost its worker."""
    return (now or timezone.now()) - timedelta(seconds=settings.RECOVERY_LEASE_SECONDS)


def lease_is_fresh(heartbeat_at: datetime | None, now: datetime | None = None) -> bool:
    return heartbeat_at is not None and heartbeat_at >= lease_cutoff(now)


def task_lease_token(request) -> str:
    """The token of one delivery of a task: the workflow (chain root), the task, its retry number and
    its replacement depth. A redelivered message has the same token; a retry (`self.retry`), a
    continuation (`self.replace`, which keeps the task id) or a new chain does not."""
    root = request.root_id or request.id or ""
    nesting = getattr(request, "replaced_task_nesting", 0) or 0
    return f"{root}/{request.id or ''}/{request.retries or 0}/{nesting}"[:200]


def token_run(token: str) -> str:
    """The workflow part of a token: the stages of one chain share it."""
    return token.split("/", 1)[0]


def attempts_exhausted(interruptions: int) -> bool:
    return interruptions > settings.RECOVERY_MAX_ATTEMPTS


def interrupted_message(*, what: str, interruptions: int, last_seen: datetime | None, action: str) -> str:
    """The readable error of a job given up after repeated interruptions."""
    when = timezone.localtime(last_seen).strftime("%Y-%m-%d %H:%M:%S %Z") if last_seen else "an unknown time"
    times = "once" if interruptions == 1 else f"{interruptions} times"
    return (
        f"{what} was interrupted {times} (the worker stopped or its task was lost; last seen working at {when}); "
        f"{action}."
    )
