"""The embedded stack's lifecycle: idempotent start, clean stop, stale pid files handled.

Runs real servers in a temporary BEACON_HOME (not the suite's own), so it can stop and kill them.
"""

import json
import os
import signal
import socket
import time

import psycopg
import pytest

from apps.core import embedded


@pytest.fixture
def beacon_home(tmp_path, monkeypatch):
    home = tmp_path / "beacon-home"
    monkeypatch.setenv("BEACON_HOME", str(home))
    redis_port = embedded.free_port(16390)
    monkeypatch.setenv("BEACON_REDIS_PORT", str(redis_port))
    monkeypatch.setenv("BEACON_BOLT_PORT", str(embedded.free_port(17690, avoid={redis_port})))
    yield home
    embedded.stop()


def redis_ping(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(16).startswith(b"+PONG")


def test_redis_start_is_idempotent_and_stop_is_clean(beacon_home):
    """A second start finds the running server; stop shuts it down and removes the pid file."""
    first = embedded.redis_ensure()
    second = embedded.redis_ensure()
    assert first == second
    assert redis_ping(first["redis_port"])
    with socket.create_connection(("127.0.0.1", first["bolt_port"]), timeout=2):
        pass  # the Bolt endpoint accepts connections
    assert embedded.redis_stop() is True
    assert embedded.redis_running() is None
    assert not (beacon_home / "redis" / "redis.pid").exists()
    assert embedded.redis_stop() is False


def test_redis_stale_pid_file_is_replaced(beacon_home):
    """A server killed without cleanup leaves a pid file; the next start notices and starts anew."""
    first = embedded.redis_ensure()
    os.kill(first["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 5
    while embedded._pid_alive(first["pid"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (beacon_home / "redis" / "redis.pid").exists()
    second = embedded.redis_ensure()
    assert second["pid"] != first["pid"]
    state = json.loads((beacon_home / "redis" / "state.json").read_text())
    assert state == {"redis_port": second["redis_port"], "bolt_port": second["bolt_port"]}
    assert redis_ping(second["redis_port"])


def test_postgres_lifecycle_with_stale_pid(beacon_home):
    """PostgreSQL+pgvector starts in the folder, restarts idempotently, survives a stale pid file."""
    info = embedded.postgres_ensure()
    assert embedded.postgres_ensure() == info
    with psycopg.connect(host=info.socket_dir, port=info.port, user="postgres", dbname="beacon") as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        assert conn.execute("SELECT '[1,2]'::vector <=> '[2,4]'::vector").fetchone()[0] == pytest.approx(0)
    assert embedded.postgres_stop() is True
    assert embedded.postgres_running() is None
    # A pid file whose process is gone (e.g. after a crash or reboot) must not block the next start.
    pid_file = beacon_home / "pg" / "postmaster.pid"
    pid_file.write_text("999999\n" + str(beacon_home / "pg") + "\n0\n5432\n/tmp\n\n0 0\nready\n")
    restarted = embedded.postgres_ensure()
    with psycopg.connect(host=restarted.socket_dir, port=restarted.port, user="postgres", dbname="beacon") as conn:
        assert conn.execute("SELECT 1").fetchone()[0] == 1


def test_suite_services_are_the_embedded_ones(settings):
    """Unset URLs in test settings point at the embedded servers of .beacon/ (real, not mocks)."""
    state = embedded.redis_running()
    assert state is not None
    assert settings.REDIS_URL.startswith(f"redis://127.0.0.1:{state['redis_port']}/") or os.environ.get("REDIS_URL")
    assert settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
