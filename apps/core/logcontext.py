"""Request and task ids in every log line (issue 16, docs/operations.md "Logs").

A request gets an id in `RequestIdMiddleware` (a sane incoming `X-Request-ID`, else a new one),
returned as the `X-Request-ID` response header. Every task published while it is set carries it
as the `beacon_request_id` message header (`before_task_publish`); the worker sets it again for
the task's run (`task_prerun`), with the task's id and name, so the task's log lines, and the tasks
it publishes in turn, carry the id of the request that caused them. `LogContextFilter` (on the
console handler, config/log.py) adds `request_id`, `task_id` and `task_name` to each record that
has them. Context variables: one value per thread, per asyncio task, per worker child.
"""

from __future__ import annotations

import logging
import re
import uuid
from contextvars import ContextVar

HEADER = "X-Request-ID"
#: the Celery message header that carries the request id into the tasks a request published
TASK_HEADER = "beacon_request_id"
# An incoming id is kept when it is short and made of these characters (UUIDs, hex, a proxy's
# `abc-123.4`); anything else (spaces, quotes, newlines, 200 characters) is replaced by a new id.
_SANE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+=/-]{0,127}")

_request_id: ContextVar[str | None] = ContextVar("beacon_request_id", default=None)
_task: ContextVar[tuple[str, str] | None] = ContextVar("beacon_task", default=None)


def request_id_new() -> str:
    return uuid.uuid4().hex


def request_id_accept(offered: str | None) -> str:
    """The incoming id when it is sane, else a new one."""
    if offered and _SANE.fullmatch(offered):
        return offered
    return request_id_new()


def request_id_current() -> str | None:
    return _request_id.get()


def request_id_set(value: str | None) -> None:
    _request_id.set(value)


def task_set(task_id: str | None, task_name: str | None) -> None:
    _task.set((task_id, task_name) if task_id else None)


class LogContextFilter(logging.Filter):
    """Adds `request_id`, `task_id` and `task_name` to a record when they are known (never drops one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = _request_id.get()
        if request_id is not None and not hasattr(record, "request_id"):
            record.request_id = request_id
        task = _task.get()
        if task is not None and not hasattr(record, "task_id"):
            record.task_id, record.task_name = task
        return True


# --------------------------------------------------------------------------- signals


def _on_publish(headers=None, **kwargs) -> None:
    """before_task_publish: the current request (or task) id travels with the message."""
    request_id = _request_id.get()
    if request_id is not None and headers is not None and TASK_HEADER not in headers:
        headers[TASK_HEADER] = request_id


def _on_prerun(task_id=None, task=None, **kwargs) -> None:
    """task_prerun: the task's log lines carry its id, its name and the id of the request behind it."""
    request = getattr(task, "request", None)
    offered = getattr(request, TASK_HEADER, None) or (getattr(request, "headers", None) or {}).get(TASK_HEADER)
    request_id_set(offered if isinstance(offered, str) and _SANE.fullmatch(offered) else None)
    task_set(task_id, getattr(task, "name", None))


def _on_postrun(**kwargs) -> None:
    request_id_set(None)
    task_set(None, None)


def _on_request_finished(**kwargs) -> None:
    request_id_set(None)


def signals_connect() -> None:
    """Connected once in CoreConfig.ready(): in the web (publishing) and in workers (running)."""
    from celery.signals import before_task_publish, task_postrun, task_prerun
    from django.core.signals import request_finished

    request_finished.connect(_on_request_finished, dispatch_uid="beacon.logcontext.request_finished")

    before_task_publish.connect(_on_publish, weak=False, dispatch_uid="beacon.logcontext.publish")
    task_prerun.connect(_on_prerun, weak=False, dispatch_uid="beacon.logcontext.prerun")
    task_postrun.connect(_on_postrun, weak=False, dispatch_uid="beacon.logcontext.postrun")
