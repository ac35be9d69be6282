"""Ingestion runs depth first: a document's embed and finalize stages are taken from the broker before the
next document's extraction, and the queue's other work keeps its order with extractions (INGESTION_PRIORITY
in settings, CONTINUATION_PRIORITY in workers/tasks/chunking.py). Real Redis broker, a queue of the test's own,
messages read back in the order a worker would take them."""

import os

import pytest
import redis
from django.conf import settings

from config.celery_app import app
from workers.tasks.chunking import CONTINUATION_PRIORITY, document_pipeline
from workers.tasks.embedding import document_embed_task, document_finalize_task
from workers.tasks.progress import content_embed_task

QUEUE = f"test-pipeline-order-{os.getpid()}"


@pytest.fixture
def queue():
    yield QUEUE
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.delete(QUEUE, *(f"{QUEUE}\x06\x16{step}" for step in (3, 6, 9)))


def _taken(queue: str) -> list[tuple[str, str]]:
    """The messages of `queue` in the order a consumer gets them: (task name, its arguments)."""
    taken = []
    with app.connection_for_read() as connection:
        channel = connection.default_channel
        while (message := channel.basic_get(queue, no_ack=True)) is not None:
            headers = message.headers
            taken.append(
                (headers["task"], headers["argsrepr"] if headers["argsrepr"] != "()" else headers["kwargsrepr"])
            )
    return taken


def test_later_stages_are_taken_before_the_next_extraction(queue):
    """Two documents' chains are sent (their extractions wait) with a catalog embedding between them, then the
    embed and finalize of a third document that was already extracted: those two come out first, then the rest in
    the order it was sent (e-mail has a queue of its own, `mail`)."""
    assert CONTINUATION_PRIORITY < settings.INGESTION_PRIORITY
    document_pipeline(1, 11).apply_async(queue=queue)
    content_embed_task.apply_async(args=[1, [7]], queue=queue)
    document_pipeline(1, 12).apply_async(queue=queue)
    document_embed_task.si(1, 13).apply_async(queue=queue)
    document_finalize_task.si(1, 13).apply_async(queue=queue)
    assert _taken(queue) == [
        ("documents.embed", "(1, 13)"),
        ("documents.finalize", "(1, 13)"),
        ("documents.extract_chunk", "(1, 11)"),
        ("progress.content_embed", "[1, [7]]"),
        ("documents.extract_chunk", "(1, 12)"),
    ]
