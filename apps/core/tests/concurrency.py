"""Two requests at the same moment, made deterministic for tests on the real database: one transaction is held open
in the test's connection while a call in another thread (another connection) waits on one of its locks; then the
test commits or rolls back and looks at what the other call did."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from django.db import connection, transaction


def lock_waiters(pid: int | None = None) -> int:
    """Connections of this database waiting for a lock (row, advisory or a transaction's key) right now; with `pid`,
    whether that backend is one of them."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE NOT l.granted AND a.datname = current_database() AND (%s::int IS NULL OR l.pid = %s::int)",
            [pid, pid],
        )
        return cursor.fetchone()[0]


def in_another_connection(result: dict, call: Callable[[], object]) -> threading.Thread:
    """A thread (not started) that runs `call()` in a database connection of its own and puts its backend's pid in
    `result["pid"]`, then its return value in `result["value"]` or the exception it raised in `result["error"]`."""

    def run():
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                result["pid"] = cursor.fetchone()[0]
            result["value"] = call()
        except Exception as exc:  # noqa: BLE001 - the test asserts on it
            result["error"] = exc
        finally:
            connection.close()

    return threading.Thread(target=run)


def wait_until_a_lock_is_awaited(result: dict) -> None:
    """Return once the connection of `in_another_connection(result, ...)` waits for a lock (not any other backend:
    a real worker of another test may be waiting too); AssertionError if it does not within 30 s."""
    for _ in range(600):  # a bound against a hang only: the other connection normally waits at once
        if "error" in result or "value" in result:
            raise AssertionError(f"the other connection finished without waiting for a lock: {result}")
        if result.get("pid") is not None and lock_waiters(result["pid"]):
            return
        time.sleep(0.05)
    raise AssertionError("the other connection never waited for a lock")


def second_while_first_is_open(first: Callable[[], object], second: Callable[[], object]) -> dict:
    """`first()` in this connection, its transaction held open until `second()`, in another connection, waits on a
    lock; then the first commits. `result["first"]` is what the first returned; `result["value"]` or
    `result["error"]` what the second did."""
    result: dict = {}
    other = in_another_connection(result, second)
    with transaction.atomic():
        result["first"] = first()
        other.start()
        wait_until_a_lock_is_awaited(result)
    other.join(timeout=60)  # a hang guard only: the second goes on as soon as the first commits
    return result
