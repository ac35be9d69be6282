"""A worker child SIGKILLed mid-embedding never leaves a document stuck (issue 12, point 7).

A real Celery worker runs as a subprocess (prefork pool, one child) against the test database and
the embedded Redis broker. The test uploads a document of a few hundred chunks with small embedding
batches, waits until embedding has started but not finished, kills the pool child with SIGKILL (what
an out-of-memory kill does) and proves the document still ends `ready` with every chunk embedded
once: the master sees WorkerLostError, the stage is redelivered (acks_late + reject_on_worker_lost)
and resumes from the vectors already stored.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from django.conf import settings
from django.db import connection

from apps.bots.tests.factories import BotFactory
from apps.documents.models import Chunk, ChunkEmbedding, Document
from apps.organizations.models import Role
from apps.organizations.tests.factories import MembershipFactory
from conftest import client_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

ROOT = Path(settings.BASE_DIR)


def _test_database_url() -> str:
    """DATABASE_URL of the embedded server with pytest-django's test database name."""
    base = os.environ["DATABASE_URL"]
    return f"{base.rsplit('/', 1)[0]}/{connection.settings_dict['NAME']}"


@pytest.fixture
def worker_process(tmp_path):
    """A real `celery worker` process (prefork, concurrency 1); always killed at the end."""
    log = tmp_path / "worker.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": _test_database_url(),
        # Small chunks and small batches: embedding takes many committed batches.
        "CHUNK_MAX_TOKENS": "48",
        "CHUNK_OVERLAP_TOKENS": "0",
        "EMBEDDING_BATCH_SIZE": "1",
    }
    command = [
        sys.executable, "-m", "celery", "-A", "config.celery_app", "worker", "--pool=prefork", "--concurrency=1",
        "--queues=celery,ingestion", "--loglevel=INFO", "--without-mingle", "--without-gossip",
        "--without-heartbeat", f"--hostname=recovery-{os.getpid()}@%h",
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait(lambda: "ready." in log.read_text(errors="replace"), 120, "the worker to start", log)
        yield process, log
    finally:
        for child in psutil.Process(process.pid).children(recursive=True) if process.poll() is None else []:
            child.kill()
        process.kill()
        process.wait(timeout=30)


def _wait(condition, timeout: float, what: str, log: Path | None = None):
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


def test_sigkilled_worker_child_mid_embedding_still_ends_ready(worker_process, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from config.settings import test as test_settings

    # The worker process reads uploads where the test settings put them.
    settings.MEDIA_ROOT = test_settings.MEDIA_ROOT
    process, log = worker_process
    owner = MembershipFactory(role=Role.OWNER)
    bot = BotFactory(organization=owner.organization)
    client = client_for(owner.user)
    response = client.post(
        f"/api/v1/orgs/{owner.organization.slug}/bots/{bot.pk}/documents/",
        {"files": [SimpleUploadedFile("big.txt", _document_text())]},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    document_id = response.json()["results"][0]["document"]["id"]

    def embedding_under_way():
        document = Document.objects.get(pk=document_id)
        return document if document.status == "processing" and document.chunks_done > 0 else None

    at_kill = _wait(embedding_under_way, 180, "embedding to start", log)
    children = psutil.Process(process.pid).children()
    assert len(children) == 1, children
    children[0].send_signal(signal.SIGKILL)
    children[0].wait(timeout=30)
    assert at_kill.chunks_done < at_kill.chunks_total, "embedding finished before the kill; make the document bigger"

    def settled():
        document = Document.objects.get(pk=document_id)
        return document if document.status in ("ready", "failed") else None

    document = _wait(settled, 240, "the document to settle after the kill", log)
    worker_log = log.read_text(errors="replace")
    assert document.status == "ready", (document.error, worker_log[-4000:])
    assert process.poll() is None, "the master must survive the child's death"
    assert "WorkerLostError" in worker_log
    # The redelivered stage found its own lease token: one interruption, counted.
    assert document.interruptions == 1
    assert document.lease_owner == ""
    chunks = Chunk.objects.filter(document_id=document_id)
    assert document.chunk_count == document.chunks_total == document.chunks_done == chunks.count() > 100
    assert chunks.filter(searchable=False).count() == 0
    # Every chunk has exactly one vector: nothing lost, nothing duplicated.
    vectors = ChunkEmbedding.objects.filter(chunk__document_id=document_id, model=document.embedding_model)
    assert vectors.count() == document.chunk_count
    assert vectors.values("chunk_id").distinct().count() == document.chunk_count
