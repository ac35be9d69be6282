"""Extraction in a child process bounded in CPU time and memory (issue 13; docs/security.md).

`extract_isolated(filename, data)` runs `extraction.extract` in a short-lived child process with
RLIMIT_CPU (DOCUMENT_EXTRACT_CPU_SECONDS), RLIMIT_AS (DOCUMENT_EXTRACT_MEMORY_MB), no core file,
and a wall-clock deadline (three times the CPU budget plus 10 s: a child starved of CPU on a busy
machine, or blocked, is stopped too). Whatever the file does to a parser, the worker's own process
neither spins nor grows: the child is killed, the document fails with a sentence saying which
budget it exceeded, and the memory goes back to the system when the child exits.

How children are made: each worker process starts, on first use, one small *extraction server*
(`python -m apps.documents.sandbox`), a single-threaded process that has imported the parsers
(BeautifulSoup, lxml, pypdf, python-docx, docutils, markdown-it-py) and nothing else: no Django,
no database connection, no torch threads. Per document it forks a child (cheap, the imports are
already done), so a worker that holds model threads never forks itself. The standard library's
forkserver does the same but refuses to start children from a daemonic process, which every
Celery prefork worker child is.

Wire format, all of it JSON (a child that a hostile file managed to subvert cannot send the worker
a pickle): the worker sends the server one SOCK_SEQPACKET message with the request's socket as
an SCM_RIGHTS file descriptor and its wall deadline; on that socket the worker sends the request
(file name, limits, budgets) and the bytes, the child answers with its result frame, and the server
adds the exit frame (exit code or signal, CPU seconds used, whether it hit the deadline) once it
has reaped the child.
"""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path

from apps.documents.extraction import Block, Extracted, ExtractionError, Limits, extract

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
HEADER = struct.Struct("!cQ")  # frame kind (b"R" result, b"X" exit), payload length
WALL_FACTOR, WALL_MARGIN = 3, 10
MEMORY_HINTS = ("Memory allocation failed", "MemoryError", "Cannot allocate memory")


# --------------------------------------------------------------------------- the worker's side


def extract_isolated(
    filename: str,
    data: bytes,
    *,
    limits: Limits | None = None,
    cpu_seconds: int | None = None,
    memory_mb: int | None = None,
) -> Extracted:
    """`extract(filename, data)` in a bounded child; raises ExtractionError with a sentence for people.

    Budgets and limits default to the DOCUMENT_EXTRACT_* / DOCUMENT_HTML_* / DOCUMENT_ZIP_* /
    DOCUMENT_PDF_* settings. The library's own words, when there are any, are logged here.
    """
    from django.conf import settings

    limits = limits or limits_from_settings()
    cpu = int(cpu_seconds or settings.DOCUMENT_EXTRACT_CPU_SECONDS)
    memory = int(memory_mb or settings.DOCUMENT_EXTRACT_MEMORY_MB)
    wall = cpu * WALL_FACTOR + WALL_MARGIN
    request = {"filename": filename, "limits": asdict(limits), "cpu": cpu, "memory_mb": memory}
    result, exit_info = _SERVER.run(request, data, wall, answer_limit=memory * 1024 * 1024)
    return _outcome(filename, result, exit_info, cpu=cpu, memory=memory, wall=wall)


def limits_from_settings() -> Limits:
    from django.conf import settings

    return Limits(
        html_max_depth=settings.DOCUMENT_HTML_MAX_DEPTH,
        html_max_elements=settings.DOCUMENT_HTML_MAX_ELEMENTS,
        zip_max_members=settings.DOCUMENT_ZIP_MAX_MEMBERS,
        zip_max_uncompressed_mb=settings.DOCUMENT_ZIP_MAX_UNCOMPRESSED_MB,
        zip_max_ratio=settings.DOCUMENT_ZIP_MAX_RATIO,
        pdf_max_pages=settings.DOCUMENT_PDF_MAX_PAGES,
        pdf_max_objects=settings.DOCUMENT_PDF_MAX_OBJECTS,
    )


def _outcome(filename: str, result: dict | None, exit_info: dict, *, cpu: int, memory: int, wall: int) -> Extracted:
    if result is not None and result["status"] == "ok":
        return Extracted(
            kind=result["kind"],
            title=result["title"],
            page_count=result["page_count"],
            blocks=[Block(text, tuple(path), page, code) for text, path, page, code in result["blocks"]],
        )
    if result is not None and result["status"] == "refused":
        if result["detail"]:
            logger.info("extraction of %r refused: %s (%s)", filename, result["message"], result["detail"])
        return _raise(result["message"])
    if exit_info.get("timeout"):
        logger.warning("extraction of %r stopped after %s s (wall clock): %s", filename, wall, exit_info)
        return _raise(f"Extraction stopped: reading the file took more than {wall} s; split it and upload again.")
    if exit_info.get("signal") == signal.SIGXCPU or exit_info.get("cpu", 0) >= cpu:
        logger.warning("extraction of %r stopped at its CPU budget of %s s: %s", filename, cpu, exit_info)
        return _raise(
            f"Extraction stopped: the file needed more than {cpu} s of CPU time; split it or simplify it and upload "
            "again."
        )
    if result is not None and result["status"] == "memory":
        logger.warning("extraction of %r stopped at its memory bound of %s MB: %s", filename, memory, result["detail"])
        return _raise(
            f"Extraction stopped: the file needed more than {memory} MB of memory; split it or simplify it and upload "
            "again."
        )
    logger.error(
        "extraction of %r failed in its child process: %s %s", filename, exit_info, (result or {}).get("detail", "")
    )
    return _raise("Extraction stopped: the file's reader failed on it (the file may be damaged); it cannot be read.")


def _raise(message: str):
    raise ExtractionError(message)


class _Server:
    """The extraction server of this process: started on first use, restarted if it died."""

    def __init__(self):
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._control: socket.socket | None = None
        self._pid = None

    def _ensure(self) -> socket.socket:
        if self._process is not None and self._pid == os.getpid() and self._process.poll() is None:
            return self._control
        if self._process is not None and self._pid == os.getpid():
            self._control.close()
            self._process.wait()
        # A forked copy (a prefork worker child) never shares its parent's server.
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._process = subprocess.Popen(
            [sys.executable, "-m", "apps.documents.sandbox", str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
        )
        theirs.close()
        self._control, self._pid = ours, os.getpid()
        return ours

    def _submit(self, channel: socket.socket, wall: int) -> None:
        with self._lock:
            for attempt in (1, 2):
                control = self._ensure()
                try:
                    socket.send_fds(control, [json.dumps({"wall": wall}).encode()], [channel.fileno()])
                    return
                except OSError:
                    if attempt == 2:
                        raise
                    self._process.kill()  # broken: the next _ensure starts a fresh one

    def run(self, request: dict, data: bytes, wall: int, answer_limit: int) -> tuple[dict | None, dict]:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._submit(theirs, wall)
            theirs.close()
            ours.settimeout(wall + 30)  # the server enforces the deadline itself; this only guards a dead server
            try:
                _send_frame(ours, b"Q", json.dumps(request).encode())
                _send_frame(ours, b"D", data)
            except OSError:
                pass  # the child died while reading (its memory bound, say): its exit frame says why
            result, exit_info = None, None
            while exit_info is None:
                frame = _recv_frame(ours, answer_limit)
                if frame is None:
                    exit_info = {"lost": True}
                elif frame[0] == b"R":
                    result = json.loads(frame[1])
                elif frame[0] == b"X":
                    exit_info = json.loads(frame[1])
            return result, exit_info
        except TimeoutError:
            return None, {"timeout": True}
        finally:
            theirs.close()
            ours.close()


_SERVER = _Server()


def _send_frame(sock: socket.socket, kind: bytes, payload: bytes) -> None:
    sock.sendall(HEADER.pack(kind, len(payload)))
    sock.sendall(payload)


def _recv_exact(sock: socket.socket, size: int) -> bytes | None:
    buffer = bytearray(size)
    view, got = memoryview(buffer), 0
    while got < size:
        count = sock.recv_into(view[got:], min(size - got, 1 << 20))
        if count == 0:
            return None
        got += count
    return bytes(buffer)


def _recv_frame(sock: socket.socket, limit: int | None = None) -> tuple[bytes, bytes] | None:
    """One frame, or None at the end of the stream (or past `limit` bytes: what the worker reads from
    a child is never allowed to be larger than the child's own memory bound)."""
    header = _recv_exact(sock, HEADER.size)
    if header is None:
        return None
    kind, length = HEADER.unpack(header)
    if limit is not None and length > limit:
        return None
    payload = _recv_exact(sock, length)
    return None if payload is None else (kind, payload)


# --------------------------------------------------------------------------- the server and its children


def serve(control_fd: int) -> None:
    """The extraction server's loop: a request off the control socket forks a child; a child's exit
    (seen at once through its pidfd) or its wall deadline gets its exit frame. Ends when the worker
    that started it is gone (its end of the control socket closed)."""
    import resource

    control = socket.socket(fileno=control_fd)
    children: dict[int, _Child] = {}
    try:
        while True:
            now = time.monotonic()
            timeout = max(0.0, min((child.deadline for child in children.values()), default=now + 60) - now)
            watched = [control] + [child.pidfd for child in children.values() if child.pidfd is not None]
            polling = any(child.pidfd is None for child in children.values())
            readable, _, _ = select.select(watched, [], [], min(timeout, 0.05) if polling else timeout)
            if control in readable:
                message, fds, _, _ = socket.recv_fds(control, 4096, 1)
                if not message:
                    break  # the worker closed its end: it is gone
                channel = socket.socket(fileno=fds[0])
                deadline = time.monotonic() + json.loads(message)["wall"]
                pid = os.fork()
                if pid == 0:
                    # Nothing of another request reaches this child: only its own socket stays open.
                    control.close()
                    for other in children.values():
                        other.close()
                    _child(channel, resource)  # never returns
                children[pid] = _Child(channel, deadline, _pidfd(pid))
            _reap(children)
    except KeyboardInterrupt:
        pass
    finally:
        for pid in children:
            _kill(pid)


class _Child:
    def __init__(self, channel: socket.socket, deadline: float, pidfd: int | None):
        self.channel, self.deadline, self.pidfd = channel, deadline, pidfd

    def close(self) -> None:
        self.channel.close()
        if self.pidfd is not None:
            os.close(self.pidfd)


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None  # no pidfd (old kernel, not Linux): the loop polls every 50 ms instead


def _reap(children: dict[int, _Child]) -> None:
    now = time.monotonic()
    for pid, child in list(children.items()):
        timed_out = now > child.deadline
        if timed_out:
            _kill(pid)
        finished, status, usage = os.wait4(pid, 0 if timed_out else os.WNOHANG)
        if finished == 0:
            continue
        info = {"cpu": round(usage.ru_utime + usage.ru_stime, 2), "max_rss_mb": usage.ru_maxrss // 1024}
        if timed_out:
            info["timeout"] = True
        if os.WIFSIGNALED(status):
            info["signal"] = os.WTERMSIG(status)
        else:
            info["code"] = os.waitstatus_to_exitcode(status)
        try:
            _send_frame(child.channel, b"X", json.dumps(info).encode())
        except OSError:
            pass  # the worker gave up on this request
        child.close()
        del children[pid]


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _child(channel: socket.socket, resource) -> None:
    """Set the bounds, read the request, extract, answer, exit (os._exit: nothing of the server's runs)."""
    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        frame = _recv_frame(channel)
        request = json.loads(frame[1])
        cpu, memory = request["cpu"], request["memory_mb"] * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        # SIGXCPU at the budget; SIGKILL one second later if the signal was caught by C code.
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        result = _extract_here(channel, request)
        _send_frame(channel, b"R", json.dumps(result).encode())
    except BaseException:  # noqa: BLE001 - the exit code is the report; the server adds the rest
        code = 1
    finally:
        os._exit(code)


def _extract_here(channel: socket.socket, request: dict) -> dict:
    try:
        frame = _recv_frame(channel)
        if frame is None:
            raise MemoryError("the file could not be received")
        extracted = extract(request["filename"], frame[1], Limits(**request["limits"]))
        del frame
    except ExtractionError as exc:
        cause = exc.__cause__
        detail = f"{type(cause).__name__}: {cause}" if cause is not None else ""
        if any(hint in detail for hint in MEMORY_HINTS):
            return {"status": "memory", "detail": detail}
        return {"status": "refused", "message": str(exc), "detail": detail}
    except MemoryError as exc:
        return {"status": "memory", "detail": f"MemoryError: {exc}"}
    except Exception as exc:  # noqa: BLE001 - reported as a failure of the reader, logged by the worker
        import traceback

        detail = "".join(traceback.format_exception(exc))
        if any(hint in detail for hint in MEMORY_HINTS):
            return {"status": "memory", "detail": detail[-2000:]}
        return {"status": "crash", "detail": detail[-4000:]}
    return {
        "status": "ok",
        "kind": extracted.kind,
        "title": extracted.title,
        "page_count": extracted.page_count,
        "blocks": [[block.text, list(block.heading_path), block.page, block.code] for block in extracted.blocks],
    }


def _warm() -> None:
    """Import the parsers once, in the server, so every child starts with them loaded."""
    import bs4  # noqa: F401
    import charset_normalizer  # noqa: F401
    import docx  # noqa: F401
    import lxml.etree  # noqa: F401
    import pypdf  # noqa: F401

    import apps.documents.extraction_md
    import apps.documents.extraction_rst  # docutils, with the tolerant parser's state classes built

    apps.documents.extraction_md._parser()  # markdown-it-py's rules compiled once


if __name__ == "__main__":
    _warm()
    serve(int(sys.argv[1]))
