"""A worker child SIGKILLed mid-embedding never leaves a document stuck (issue 12, point 7).

A real Celery worker runs as a subprocess (prefork pool, one child) against the test database and
the embedded Redis broker. The test uploads a document of a few hundred chunks with small embedding
batches, waits until embedding has started but not finished, kills the pool child with SIGKILL (what
an out-of-memory kill does) and proves the document still ends `ready` with every chunk embedded
once: the master sees WorkerLostError, the stage is redelivered (acks_late + reject_on_worker_lost)
and resumes from the vectors already stored. A second test kills the master with its child (nothing
is redelivered before the broker's visibility timeout): the sweep re-enqueues the document, whose
heartbeat expired, and a new worker finishes it.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import redis
from django.conf import settings
from django.db import connection

from apps.bots.tests.factories import BotFactory
from apps.documents.models import Chunk, ChunkEmbedding, Document
from apps.documents.services.recovery import documents_recover_stuck
from apps.organizations.models import Role
from apps.organizations.tests.factories import MembershipFactory
from conftest import client_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True), pytest.mark.beside]

ROOT = Path(settings.BASE_DIR)


def _test_database_url() -> str:
    """DATABASE_URL of the embedded server with pytest-django's test database name."""
    base = os.environ["DATABASE_URL"]
    return f"{base.rsplit('/', 1)[0]}/{connection.settings_dict['NAME']}"


@pytest.fixture
def start_worker(tmp_path):
    """Start real `celery worker` processes (prefork, concurrency 1); every one, with its pool child,
    is killed at the end of the test, and the broker's unacknowledged-message keys are cleared."""
    started: list[tuple[subprocess.Popen, set[int]]] = []
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": _test_database_url(),
        # Small chunks and small batches: embedding takes many committed batches.
        "CHUNK_MAX_TOKENS": "48",
        "CHUNK_OVERLAP_TOKENS": "0",
        "EMBEDDING_BATCH_SIZE": "1",
    }

    def start() -> tuple[subprocess.Popen, Path]:
        number = len(started) + 1
        log = tmp_path / f"worker-{number}.log"
        command = [
            sys.executable, "-m", "celery", "-A", "config.celery_app", "worker", "--pool=prefork", "--concurrency=1",
            "--queues=celery,ingestion", "--loglevel=INFO", "--without-mingle", "--without-gossip",
            "--without-heartbeat", f"--hostname=recovery-{os.getpid()}-{number}@%h",
        ]  # fmt: skip
        with log.open("wb") as out:
            process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        started.append((process, set()))
        _wait(lambda: "ready." in log.read_text(errors="replace"), 120, "the worker to start", log)
        started[-1][1].update(child.pid for child in psutil.Process(process.pid).children(recursive=True))
        return process, log

    try:
        yield start
    finally:
        for process, children in started:
            if process.poll() is None:
                children.update(child.pid for child in psutil.Process(process.pid).children(recursive=True))
            for pid in children:
                with contextlib.suppress(psutil.NoSuchProcess):
                    psutil.Process(pid).kill()
            process.kill()
            process.wait(timeout=30)
        # A worker killed with its master leaves its message in the broker's unacked set (restored
        # only after the visibility timeout): drop it, the test database is flushed anyway.
        redis.Redis.from_url(settings.CELERY_BROKER_URL).delete("unacked", "unacked_index")


def _wait(condition, timeout: float, what: str, log: Path | None = None):
    """Poll a state of the real worker process. It is slow by design: a new process loads the model,
    and EMBEDDING_BATCH_SIZE=1 makes each of the ~300 chunks its own committed batch, so the SIGKILL
    lands mid-embedding. The bounds only stop a hang; the worker's log is shown on a timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    tail = log.read_text(errors="replace")[-4000:] if log else ""
    pytest.fail(f"timed out waiting for {what}\n{tail}")


def _document_text(paragraphs: int = 300) -> bytes:
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda",
             "mu", "nu", "xi", "omicron", "pi", "rho"]  # fmt: skip
    lines = [
        f"Paragraph {n}: " + " ".join(words[(n + i) % len(words)] for i in range(30)) + f" (item {n * 7919 % 10007})."
        for n in range(paragraphs)
    ]
    return "\n\n".join(lines).encode()


def _upload_big_document(settings) -> int:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from config.settings import test as test_settings

    # The worker process reads uploads where the test settings put them.
    settings.MEDIA_ROOT = test_settings.MEDIA_ROOT
    owner = MembershipFactory(role=Role.OWNER)
    bot = BotFactory(organization=owner.organization)
    response = client_for(owner.user).post(
        f"/api/v1/orgs/{owner.organization.slug}/bots/{bot.pk}/documents/",
        {"files": [SimpleUploadedFile("big.txt", _document_text())]},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    return response.json()["results"][0]["document"]["id"]


def _wait_embedding_under_way(document_id: int, log: Path) -> Document:
    """Wait until several batches are stored (chunks_done counts committed vectors)."""

    def under_way():
        document = Document.objects.get(pk=document_id)
        return document if document.status == "processing" and document.chunks_done >= 40 else None

    return _wait(under_way, 180, "embedding to start", log)


def _wait_settled(document_id: int, log: Path) -> Document:
    def settled():
        document = Document.objects.get(pk=document_id)
        return document if document.status in ("ready", "failed") else None

    document = _wait(settled, 240, "the document to settle", log)
    assert document.status == "ready", (document.error, log.read_text(errors="replace")[-4000:])
    return document


def _vector_ids(document_id: int) -> set[int]:
    return set(ChunkEmbedding.objects.filter(chunk__document_id=document_id).values_list("id", flat=True))


def _assert_fully_embedded_once(document: Document, kept: set[int]) -> None:
    chunks = Chunk.objects.filter(document=document)
    assert document.chunk_count == document.chunks_total == document.chunks_done == chunks.count() > 100
    assert chunks.filter(searchable=False).count() == 0
    assert document.lease_owner == ""
    # Every chunk has exactly one vector: nothing lost, nothing duplicated.
    vectors = ChunkEmbedding.objects.filter(chunk__document=document, model=document.embedding_model)
    assert vectors.count() == document.chunk_count
    assert vectors.values("chunk_id").distinct().count() == document.chunk_count
    # The vectors stored before the kill were kept (resumed, not redone).
    assert kept and kept <= set(vectors.values_list("id", flat=True))


def test_sigkilled_worker_child_mid_embedding_still_ends_ready(start_worker, settings):
    """The pool child dies (out of memory): the master survives and the embed stage is redelivered."""
    process, log = start_worker()
    document_id = _upload_big_document(settings)
    at_kill = _wait_embedding_under_way(document_id, log)
    children = psutil.Process(process.pid).children()
    assert len(children) == 1, children
    children[0].send_signal(signal.SIGKILL)
    children[0].wait(timeout=30)
    assert at_kill.chunks_done < at_kill.chunks_total, "embedding finished before the kill; make the document bigger"
    print(f"killed at {at_kill.chunks_done}/{at_kill.chunks_total} chunks embedded")
    kept = _vector_ids(document_id)

    document = _wait_settled(document_id, log)
    assert process.poll() is None, "the master must survive the child's death"
    assert "WorkerLostError" in log.read_text(errors="replace")
    # The redelivered stage found its own lease token: one interruption, counted.
    assert document.interruptions == 1
    _assert_fully_embedded_once(document, kept)


def test_whole_worker_killed_mid_embedding_is_recovered_by_the_sweep(start_worker, settings):
    """Master and child die together (a hard deploy): nothing is redelivered before the broker's
    visibility timeout, so the sweep takes over once the document's heartbeat is older than the lease."""
    first, log = start_worker()
    document_id = _upload_big_document(settings)
    at_kill = _wait_embedding_under_way(document_id, log)
    for child in psutil.Process(first.pid).children(recursive=True):
        child.send_signal(signal.SIGKILL)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    assert at_kill.chunks_done < at_kill.chunks_total, "embedding finished before the kill; make the document bigger"
    print(f"killed at {at_kill.chunks_done}/{at_kill.chunks_total} chunks embedded")
    kept = _vector_ids(document_id)

    _, log = start_worker()
    settings.RECOVERY_LEASE_SECONDS = 1

    def swept():
        return documents_recover_stuck().requeued

    assert _wait(swept, 60, "the sweep to find the document", log) == [document_id]
    document = _wait_settled(document_id, log)
    assert document.interruptions == 1
    _assert_fully_embedded_once(document, kept)
