"""Publishing Celery tasks from services: after commit, and never failing the caller.

`enqueue_on_commit(task, *args, **options)` replaces `task.delay_on_commit(*args)` and
`transaction.on_commit(lambda: task.apply_async(...))`: the task is published once the current
transaction commits (at once outside one). The data is committed by then, so a broker outage must
not turn the request into an error: the publish is tried with short timeouts
(BROKER_PUBLISH_TIMEOUT, CELERY_TASK_PUBLISH_RETRY_POLICY); a failure is counted and logged at
WARNING (apps.core.outages), and for FAIL_OPEN_PAUSE_SECONDS after it publishes are not even
tried. Every task published this way has a periodic sweep or an outbox that does the work later
(docs/operations.md lists them). Any other error is logged by Django (`on_commit(robust=True)`), never raised into the
committed request.
"""

from __future__ import annotations

import functools

from django.db import transaction

from apps.core.outages import outage_note, outage_pause, outage_paused, publish_outage_errors


def enqueue_now(task, *args, **options) -> bool:
    """Publish `task` (a task or a signature such as a chain) with these positional arguments and
    apply_async options. Returns False, logged and counted, when the broker is unreachable or
    failed less than FAIL_OPEN_PAUSE_SECONDS ago (then it is not tried)."""
    what = getattr(task, "name", None) or type(task).__name__
    if outage_paused("broker"):
        outage_note("publish", None, what=what)
        return False
    try:
        task.apply_async(args, **options)
    except publish_outage_errors() as exc:
        outage_pause("broker")
        outage_note("publish", exc, what=what)
        return False
    return True


def enqueue_on_commit(task, *args, **options) -> None:
    """`enqueue_now` once the current transaction commits (module docstring)."""
    transaction.on_commit(functools.partial(enqueue_now, task, *args, **options), robust=True)
