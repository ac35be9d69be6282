"""Upload -> ready -> search through a real Celery worker, for every supported file type.

The worker runs in a thread on the embedded Redis broker; the database is real PostgreSQL with
pgvector, and the embedding model is the real offline all-MiniLM-L6-v2.
"""

import time

import pytest
from rest_framework.test import APIClient

from apps.bots.tests.factories import BotFactory
from apps.documents.models import Chunk, Document
from apps.documents.tests import samples
from apps.organizations.models import Role
from apps.organizations.tests.factories import MembershipFactory
from conftest import client_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def wait_for(document_id: int, timeout: float = 90) -> Document:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        document = Document.objects.get(pk=document_id)
        if document.status in (Document.Status.READY, Document.Status.FAILED):
            return document
        time.sleep(0.2)
    pytest.fail(f"document {document_id} still {document.status} after {timeout}s")


@pytest.fixture
def setup(celery_worker, transactional_db):
    owner = MembershipFactory(role=Role.OWNER)
    bot = BotFactory(organization=owner.organization, min_score=0.0)
    return owner.organization, bot, client_for(owner.user)


def upload(client: APIClient, organization, bot, name: str, data: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    url = f"/api/v1/orgs/{organization.slug}/bots/{bot.pk}/documents/"
    return client.post(url, {"files": [SimpleUploadedFile(name, data)]}, format="multipart")


@pytest.mark.parametrize("name", list(samples.ALL))
def test_upload_becomes_ready_and_searchable(setup, name):
    """Each type: 201 pending -> the worker makes it ready -> search finds the refund passage."""
    organization, bot, client = setup
    response = upload(client, organization, bot, name, samples.ALL[name]())
    assert response.status_code == 201, response.content
    result = response.json()["results"][0]
    assert result["outcome"] == "created"
    assert result["document"]["status"] == "pending"
    document = wait_for(result["document"]["id"])
    assert document.status == "ready", document.error
    assert document.chunk_count == Chunk.objects.filter(document=document, searchable=True).count() > 0
    assert document.chunks_done == document.chunks_total == document.chunk_count
    assert document.embedding_model == "local:all-MiniLM-L6-v2"

    response = client.get(
        f"/api/v1/orgs/{organization.slug}/bots/{bot.pk}/search/", {"q": "how long do refunds take?", "k": 3}
    )
    assert response.status_code == 200, response.content
    best = response.json()["results"][0]
    assert "Refunds are processed within 14 days" in best["text"]
    assert "<mark>Refunds</mark>" in best["snippet"]
    assert best["document_id"] == document.pk
    if name != "guide.txt":
        assert best["heading_path"][-1] == "Billing"
    if name == "guide.pdf":
        assert best["page"] == 2


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("broken.pdf", samples.CORRUPT_PDF, "The PDF is damaged"),
        ("locked.pdf", None, "password-protected"),
        ("picture.pdf", samples.PNG, "its content is a PNG image"),
        ("empty.txt", b"", "The file is empty"),
    ],
)
def test_bad_files_end_failed_with_a_readable_error(setup, name, data, message):
    """Corrupt, encrypted, mislabelled and empty files end `failed` with a message, never stuck."""
    organization, bot, client = setup
    data = samples.pdf(password="s3cret") if data is None else data
    response = upload(client, organization, bot, name, data)
    assert response.status_code == 201, response.content
    document = wait_for(response.json()["results"][0]["document"]["id"])
    assert document.status == "failed"
    assert message in document.error
    assert not Chunk.objects.filter(document=document).exists()


def test_a_long_embedding_continues_in_next_tasks_and_ends_ready(setup, settings):
    """Past its time budget, documents.embed hands the rest to a continuation of itself instead of
    running into the soft time limit: with a budget of 0 every task embeds one batch, the chain's
    finalize follows the last continuation, each chunk is embedded once, and taking the lease over
    is not counted as an interruption."""
    from celery.signals import task_prerun

    from apps.documents.models import ChunkEmbedding

    settings.EMBEDDING_TASK_BUDGET_SECONDS = 0
    settings.EMBEDDING_BATCH_SIZE = 1  # batches of 4 chunks (document_embed takes 4 x the setting)
    settings.CHUNK_MAX_TOKENS = 48
    settings.CHUNK_OVERLAP_TOKENS = 0
    organization, bot, client = setup
    runs: list[str] = []

    def count(sender=None, **_):
        runs.append(sender.name)

    task_prerun.connect(count, weak=False)
    try:
        text = "\n\n".join(
            f"Section {n}. Refunds for order type {n} are processed within {n + 2} days by the billing team, "
            f"who check the receipt, the payment method and the delivery record of order type {n} first."
            for n in range(12)
        )
        response = upload(client, organization, bot, "long.txt", text.encode())
        assert response.status_code == 201, response.content
        document = wait_for(response.json()["results"][0]["document"]["id"])
    finally:
        task_prerun.disconnect(count)
    assert document.status == "ready", document.error
    chunks = Chunk.objects.filter(document=document, searchable=True)
    assert document.chunk_count == chunks.count() >= 9
    assert document.chunks_done == document.chunk_count
    embeddings = ChunkEmbedding.objects.filter(chunk__document=document)
    assert embeddings.count() == document.chunk_count  # each chunk once
    assert set(embeddings.values_list("chunk_id", flat=True)) == set(chunks.values_list("id", flat=True))
    batches = -(-document.chunk_count // 4)
    assert runs.count("documents.embed") == batches
    assert runs.count("documents.finalize") == 1
    assert runs[-1] == "documents.finalize"
    assert document.interruptions == 0
