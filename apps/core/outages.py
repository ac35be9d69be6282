"""Dependency outages seen by this process: what counts as one, a rate-limited warning, a counter.

Three places handle an outage (docs/operations.md, "When Redis is slow or down"):
- the fail-open cache (apps.core.cache): a cache, throttle or rate-limit call that cannot reach
  Redis behaves as a miss / a skipped write / an allowed request;
- the publish helper (apps.core.tasks): a task that cannot be published after commit is logged and
  left to its periodic sweep;
- the error handler and middleware (apps.core.exceptions, apps.core.middleware): a request that
  truly needs the dependency answers 503 `service_unavailable` with Retry-After.

Each calls `outage_note`, which counts per kind ("cache", "publish", "request") and logs one
WARNING per kind every OUTAGE_LOG_INTERVAL_SECONDS (with how many were not logged), so an outage
cannot flood the logs. `/health/` shows the counts.

The cache and the publish helper also pause: after a failure this process leaves that Redis (or
the broker) alone for FAIL_OPEN_PAUSE_SECONDS and fails open at once, so a request making several
calls during an outage waits out one timeout, not one per call (`outage_paused`, `outage_pause`).
"""

from __future__ import annotations

import logging
import threading
import time

logger = logging.getLogger(__name__)

OUTAGE_LOG_INTERVAL_SECONDS = 10.0

_lock = threading.Lock()
_counts: dict[str, int] = {}
_last_logged: dict[str, float] = {}
_unlogged: dict[str, int] = {}
#: per dependency: monotonic time until which this process does not call it
_paused_until: dict[str, float] = {}


def redis_outage_errors() -> tuple[type[BaseException], ...]:
    """Redis unreachable or too slow (connection refused or reset, socket timeout, loading). Not
    ResponseError: a command Redis answered with an error is a bug, not an outage."""
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    return (RedisConnectionError, RedisTimeoutError)


def publish_outage_errors() -> tuple[type[BaseException], ...]:
    """What publishing a Celery task raises when the broker is unreachable or stalled."""
    from kombu.exceptions import OperationalError as KombuOperationalError

    return (KombuOperationalError, *redis_outage_errors(), OSError)


def outage_dependency(exc: BaseException) -> str | None:
    """The dependency whose outage `exc` reports ("redis", "broker", "database", "graph"), or None
    when it is not an outage (a bug or bad input keeps its own status)."""
    from django.db import InterfaceError, OperationalError
    from kombu.exceptions import OperationalError as KombuOperationalError

    if isinstance(exc, redis_outage_errors()):
        return "redis"
    if isinstance(exc, KombuOperationalError):
        return "broker"
    if isinstance(exc, (OperationalError, InterfaceError)):
        return "database"
    try:
        from neo4j.exceptions import ServiceUnavailable, SessionExpired
    except ImportError:  # pragma: no cover - the driver is a dependency
        return None
    if isinstance(exc, (ServiceUnavailable, SessionExpired)):
        return "graph"
    return None


def outage_note(kind: str, exc: BaseException | None, *, what: str = "") -> None:
    """Count one outage of `kind` and log it at WARNING, at most once per interval per kind. `exc`
    None: a call skipped because the dependency failed moments ago (counted, never logged alone)."""
    now = time.monotonic()
    with _lock:
        _counts[kind] = _counts.get(kind, 0) + 1
        if exc is None or now - _last_logged.get(kind, float("-inf")) < OUTAGE_LOG_INTERVAL_SECONDS:
            _unlogged[kind] = _unlogged.get(kind, 0) + 1
            return
        _last_logged[kind] = now
        skipped = _unlogged.pop(kind, 0)
    logger.warning(
        "%s outage in %s: %s: %s%s",
        kind,
        what or "-",
        type(exc).__name__,
        exc,
        f" ({skipped} more since the last warning)" if skipped else "",
    )


def outage_paused(target: str) -> bool:
    """Whether `target` (a Redis location, "broker") failed less than FAIL_OPEN_PAUSE_SECONDS ago."""
    return time.monotonic() < _paused_until.get(target, 0.0)


def outage_pause(target: str) -> None:
    """`target` just failed: skip it for FAIL_OPEN_PAUSE_SECONDS (0: never skip)."""
    from django.conf import settings

    seconds = settings.FAIL_OPEN_PAUSE_SECONDS
    if seconds > 0:
        with _lock:
            _paused_until[target] = time.monotonic() + seconds


def outage_pauses_clear() -> None:
    """Forget the pauses: the next call tries every dependency again (tests; an operator after a fix)."""
    with _lock:
        _paused_until.clear()


def outage_counts() -> dict[str, int]:
    """Outages noted by this process since it started, per kind (for /health/ and metrics)."""
    with _lock:
        return dict(_counts)
