"""The web server's database connections (config/asgi.py, DATABASE_POOL in config/settings/base.py).

Under ASGI Django runs each request's synchronous code in a thread of its own, so a connection kept
by CONN_MAX_AGE could never serve the next request: the web process either leaked one connection per
request (CONN_MAX_AGE > 0) or opened a new one for every request (0, about 8 ms each). The ASGI
application turns on psycopg's pool instead. What this proves, on the real server (uvicorn serving
config.asgi in a process of its own, on the test database):
- requests are served from a few pooled connections that outlive them, and later requests open no
  new ones (a connection per request would leave none open between requests, or a new one each time);
- a request that finds every pooled connection busy past DATABASE_POOL_TIMEOUT is a database outage
  (the 503 path), not a 500;
- a connection is checked on its way out of the pool only once it has been idle DATABASE_POOL_CHECK_AFTER
  seconds (apps/core/postgresql/base.py): before that it is handed out unchecked, after that a backend ended
  while it waited is replaced before a request gets it.
"""

from __future__ import annotations

import http.client
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import OperationalError, connection
from django.db.backends.postgresql.base import DatabaseWrapper

from apps.core.outages import outage_dependency
from apps.core.postgresql import base as postgresql_base
from apps.core.tests.test_failsoft import closed_port
from apps.organizations.services import api_key_create
from apps.organizations.tests.factories import OrganizationFactory

ROOT = Path(__file__).resolve().parents[3]
# Bounds on waits that end at once when the code works (they only stop a broken run from hanging).
START_LIMIT = 90  # the server process imports Django and the project: a few seconds
REQUEST_LIMIT = 30


def _wait_listening(process: subprocess.Popen, output, port: int, limit: float) -> None:
    """Until the server `process` accepts connections on `port` (it fails the test, with the server's `output`,
    if it exits or takes longer than `limit` seconds)."""
    deadline = time.monotonic() + limit
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if process.poll() is not None or time.monotonic() >= deadline:
                output.seek(0)
                raise AssertionError(f"the server did not start:\n{output.read().decode()[-3000:]}") from None
            time.sleep(0.1)


def _database_url() -> str:
    """The test database (pytest-django's copy), in django-environ's unix-socket form."""
    settings = connection.settings_dict
    host = (settings["HOST"] or "").replace("/", "%2F")
    return f"postgres://{settings['USER']}@:{settings['PORT']}/{host}/{settings['NAME']}"


@contextmanager
def asgi_server_process(**environ: str):
    """config.asgi served by uvicorn in a process of its own on the test database (config.asgi's own pool
    default unless `environ` says otherwise): yields its port."""
    port = closed_port()
    env = {**os.environ, "DATABASE_URL": _database_url(), "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    env.pop("DATABASE_POOL", None)
    env.pop("CONN_MAX_AGE", None)
    env.update(environ)
    # The server's output goes to a file: a pipe nobody reads while it runs would block it once full.
    with tempfile.TemporaryFile() as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1", "--port", str(port),
             "--lifespan", "off", "--log-level", "warning"],
            cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            _wait_listening(process, output, port, START_LIMIT)
            yield port
        finally:
            process.terminate()
            process.wait(timeout=REQUEST_LIMIT)


@pytest.fixture
def asgi_process():
    """The server, its connections carrying an application name of their own (libpq's PGAPPNAME) so the test
    can find them in pg_stat_activity."""
    app_name = f"beacon-pool-{secrets.token_hex(4)}"
    with asgi_server_process(PGAPPNAME=app_name) as port:
        yield port, app_name


def _server_connections(app_name: str) -> set[tuple[int, object]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid, backend_start FROM pg_stat_activity WHERE application_name = %s", [app_name])
        return set(cursor.fetchall())


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_web_server_serves_requests_from_pooled_connections(asgi_process):
    port, app_name = asgi_process
    organization = OrganizationFactory()
    _key, raw_key = api_key_create(organization=organization, name="pool", scopes=["read"])
    client = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_LIMIT)
    headers = {"Authorization": f"Api-Key {raw_key}", "Host": "localhost"}

    def get_bots(times: int) -> None:
        for _ in range(times):
            client.request("GET", f"/api/v1/orgs/{organization.slug}/bots/", headers=headers)
            response = client.getresponse()
            body = response.read()
            assert response.status == 200, body[:300]

    get_bots(20)
    first = _server_connections(app_name)
    # Open between requests (a connection closed at the end of each request would leave none), and
    # no more than the pool's minimum plus the one the first request may have opened itself.
    assert 1 <= len(first) <= 3, first
    get_bots(30)
    assert _server_connections(app_name) == first, "later requests opened new connections"
    client.close()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_request_that_finds_the_pool_exhausted_is_a_database_outage():
    """psycopg_pool's PoolTimeout is an OperationalError of the driver, so Django raises its own
    OperationalError and the outage middleware answers 503 (apps.core.outages)."""
    alias = f"pool-{secrets.token_hex(4)}"
    settings = {**connection.settings_dict, "CONN_MAX_AGE": 0,
                "OPTIONS": {**connection.settings_dict["OPTIONS"],
                            "pool": {"min_size": 1, "max_size": 1, "timeout": 0.2}}}  # fmt: skip
    holder, waiter = DatabaseWrapper(settings, alias=alias), DatabaseWrapper(settings, alias=alias)
    try:
        holder.ensure_connection()  # the pool's only connection, held
        with pytest.raises(OperationalError) as raised:
            waiter.ensure_connection()
        assert "couldn't get a connection" in str(raised.value)
        assert outage_dependency(raised.value) == "database"
        holder.close()  # back to the pool: the next request gets it
        waiter.ensure_connection()
        assert waiter.is_usable()
    finally:
        waiter.close()
        holder.close()
        holder.close_pool()


def _backend_end(pid: int) -> None:
    """End one PostgreSQL backend, as a restart, an idle timeout or a network drop would. PostgreSQL itself waits
    until the process has exited (pg_terminate_backend's timeout, in ms: it exits in milliseconds; the bound only
    makes a broken run fail instead of hang)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s, %s)", [pid, REQUEST_LIMIT * 1000])
        assert cursor.fetchone()[0] is True, f"backend {pid} did not end"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_pooled_connection_is_checked_only_once_it_has_been_idle(monkeypatch, settings):
    """The pool (apps.core.postgresql) hands out a connection returned less than DATABASE_POOL_CHECK_AFTER seconds
    ago without a check (no round trip before the request's first statement): a backend ended within that time
    reaches the request, whose statement fails as a database outage. Once the connection has been idle that
    long it is checked on its way out: the ended backend is found and replaced, and the request never sees it."""
    clock = [1000.0]
    monkeypatch.setattr(postgresql_base, "monotonic", lambda: clock[0])
    alias = f"pool-{secrets.token_hex(4)}"
    # timeout: how long a checkout may wait while the pool opens the connection that replaces a broken one (a new
    # local connection, milliseconds); only a bound, as in the exhaustion test above
    options = {**connection.settings_dict["OPTIONS"], "pool": {"min_size": 1, "max_size": 1, "timeout": 10}}
    pooled = {**connection.settings_dict, "CONN_MAX_AGE": 0, "OPTIONS": options}
    database = postgresql_base.DatabaseWrapper(pooled, alias=alias)

    def checkout_backend() -> int:
        database.ensure_connection()
        return database.connection.info.backend_pid

    try:
        first = checkout_backend()
        database.close()  # back to the pool
        _backend_end(first)
        assert checkout_backend() == first  # within the time: not checked, handed out as it is
        with pytest.raises(OperationalError) as raised, database.cursor() as cursor:
            cursor.execute("SELECT 1")
        assert outage_dependency(raised.value) == "database"
        database.close()  # a broken connection back: the pool drops it and opens another

        second = checkout_backend()
        assert second != first
        database.close()
        _backend_end(second)
        clock[0] += settings.DATABASE_POOL_CHECK_AFTER  # idle that long: checked on the way out
        third = checkout_backend()
        assert third not in (first, second)
        with database.cursor() as cursor:
            cursor.execute("SELECT 1")
            assert cursor.fetchone() == (1,)
    finally:
        database.close()
        database.close_pool()
