"""Workers keep their database connection from task to task (CELERY_DB_REUSE_MAX, config/celery_app.py
`database_connections_recycle`): Celery's Django fixup alone opened a new PostgreSQL connection for every task.
A real worker (in a thread) on the embedded broker and database; a task of the test's own reports the
PostgreSQL backend that served it."""

import time

import pytest
from django.db import connection

from config.celery_app import app

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

SERVED_BY: list[int] = []


@app.task(name="tests.database_backend", ignore_result=True)
def database_backend():
    """Record the PostgreSQL backend process of the worker's connection."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        SERVED_BY.append(cursor.fetchone()[0])


def _run(count: int) -> list[int]:
    """Send `count` tasks and return the backends that served them, in order."""
    start = len(SERVED_BY)
    for _ in range(count):
        database_backend.delay()
    deadline = time.monotonic() + 60  # a bound for a broken run; the tasks take milliseconds
    while len(SERVED_BY) < start + count:
        if time.monotonic() > deadline:
            pytest.fail(f"{start + count - len(SERVED_BY)} of {count} tasks did not run")
        time.sleep(0.01)
    return SERVED_BY[start:]


def test_tasks_share_one_connection_and_a_dead_one_is_replaced(celery_worker):
    served = _run(4)
    assert len(set(served)) == 1, served
    # The server ends the kept connection between tasks (a restart, an idle timeout): the next task gets a
    # new one instead of failing, as a request would (CONN_HEALTH_CHECKS, checked again after every task).
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [served[0]])
        assert cursor.fetchone()[0] is True
    after = _run(2)
    assert len(set(after)) == 1 and after[0] != served[0], (served, after)
