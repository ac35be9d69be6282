"""Test helper: wait for what a real worker (or server) does in its own time, found by polling.

Only for work that runs in another thread or process by design (a Celery worker's task, a drain, an SMTP
delivery); `timeout` only turns a broken flow into a failure instead of a hang, it never makes a slow one pass.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")


def until(predicate: Callable[[], T], what: str, *, timeout: float = 60, interval: float = 0.1) -> T:
    """Poll `predicate()` every `interval` seconds until it returns something true, and return that; fail naming
    `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"{what}: not done after {timeout} s")
        time.sleep(interval)
