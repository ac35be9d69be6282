"""The inspectable knowledge base: .../documents/{id}/chunks/ and .../bots/{bot}/stats/ (docs/knowledge-base.md).

Coverage: chunks in reading order with every stored field, only the searchable generation, paginated
with the project's pagination (bad page_size 400), query count independent of the number of chunks;
stats count documents by status, the ready documents' chunks, tokens and languages and the last ingestion, in a
query count independent of the number of documents; members read both; another organization's
document or bot is 404 (the tenancy matrix walks the routes for every method as well).
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.bots.tests.factories import BotFactory
from apps.documents.models import Chunk, Document
from apps.documents.tests.factories import DocumentFactory
from apps.organizations.tests.factories import MembershipFactory, OrganizationFactory
from conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def bot(organization):
    return BotFactory(organization=organization)


def chunks_url(document) -> str:
    return f"/api/v1/orgs/{document.organization.slug}/bots/{document.bot_id}/documents/{document.pk}/chunks/"


def stats_url(bot) -> str:
    return f"/api/v1/orgs/{bot.organization.slug}/bots/{bot.pk}/stats/"


def add_chunks(document, count: int, *, searchable: bool = True, start: int = 0) -> list[Chunk]:
    return Chunk.objects.bulk_create(
        Chunk(
            organization_id=document.organization_id, bot_id=document.bot_id, document=document, position=n,
            text=f"Passage {n}.", heading_path=["Guide", f"Part {n}"], page=n + 1, char_start=n * 10,
            char_end=n * 10 + 9, token_count=3, content_hash=f"{n:064d}", searchable=searchable,
        )
        for n in range(start, start + count)
    )  # fmt: skip


def test_chunks_list_in_reading_order_with_their_fields(bot, member):
    document = DocumentFactory(bot=bot, status=Document.Status.READY)
    add_chunks(document, 2)
    add_chunks(document, 1, searchable=False)  # a new version being built: not listed

    response = client_for(member).get(chunks_url(document))

    assert response.status_code == 200
    first, second = Chunk.objects.filter(document=document, searchable=True).order_by("position")
    assert response.json() == {
        "count": 2,
        "next": None,
        "previous": None,
        "results": [
            {
                "id": chunk.pk,
                "position": chunk.position,
                "text": chunk.text,
                "heading_path": chunk.heading_path,
                "page": chunk.page,
                "char_start": chunk.char_start,
                "char_end": chunk.char_end,
                "token_count": 3,
            }
            for chunk in (first, second)
        ],
    }


def test_chunks_are_paginated_in_a_constant_number_of_queries(bot, member):
    client = client_for(member)
    small, large = DocumentFactory(bot=bot), DocumentFactory(bot=bot)
    add_chunks(small, 2)
    add_chunks(large, 60)
    client.get(chunks_url(small))  # warm caches (content types, throttles)

    counts = []
    for document in (small, large):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(chunks_url(document), {"page_size": 50})
        assert response.status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]
    body = response.json()
    assert body["count"] == 60 and len(body["results"]) == 50 and body["next"].endswith("page=2&page_size=50")
    assert [
        row["position"] for row in client.get(chunks_url(large), {"page": 2, "page_size": 50}).json()["results"]
    ] == list(range(50, 60))


def test_chunks_bad_page_size_is_a_400(bot, member):
    response = client_for(member).get(chunks_url(DocumentFactory(bot=bot)), {"page_size": 0})
    assert response.status_code == 400
    assert "page_size" in response.json()["error"]["message"]


def test_stats_count_documents_chunks_tokens_and_last_ingestion(bot, member):
    earlier, later = timezone.now() - timezone.timedelta(hours=1), timezone.now()
    DocumentFactory(
        bot=bot, status=Document.Status.READY, chunk_count=4, token_count=400, processed_at=earlier, language="fr"
    )
    DocumentFactory(
        bot=bot, status=Document.Status.READY, chunk_count=2, token_count=150, processed_at=later, language="en"
    )
    DocumentFactory(bot=bot, status=Document.Status.FAILED, chunk_count=0)
    DocumentFactory(bot=bot, status=Document.Status.PROCESSING, chunk_count=9, token_count=900)  # not searchable yet
    DocumentFactory(bot=BotFactory(organization=bot.organization), status=Document.Status.READY, chunk_count=7)

    response = client_for(member).get(stats_url(bot))

    assert response.status_code == 200
    assert response.json() == {
        "documents": 4,
        "documents_by_status": {"pending": 0, "processing": 1, "ready": 2, "failed": 1},
        "chunks": 6,
        "tokens": 550,
        "languages": {"en": 1, "fr": 1},
        "last_ingestion_at": later.isoformat().replace("+00:00", "Z"),
    }


def test_stats_of_an_empty_bot(bot, member):
    body = client_for(member).get(stats_url(bot)).json()
    assert body == {
        "documents": 0,
        "documents_by_status": {"pending": 0, "processing": 0, "ready": 0, "failed": 0},
        "chunks": 0,
        "tokens": 0,
        "languages": {},
        "last_ingestion_at": None,
    }


def test_stats_query_count_does_not_grow_with_documents(bot, member):
    client = client_for(member)
    client.get(stats_url(bot))
    counts = []
    for extra in (1, 30):
        DocumentFactory.create_batch(extra, bot=bot, status=Document.Status.READY, chunk_count=1, token_count=5)
        with CaptureQueriesContext(connection) as queries:
            assert client.get(stats_url(bot)).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_another_organization_gets_404(bot):
    document = DocumentFactory(bot=bot, status=Document.Status.READY)
    add_chunks(document, 1)
    stranger = client_for(MembershipFactory(organization=OrganizationFactory()).user)
    for url in (chunks_url(document), stats_url(bot)):
        response = stranger.get(url)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    # A document of another bot of the same organization under this bot's URL: 404 too.
    other = DocumentFactory(bot=BotFactory(organization=bot.organization))
    url = f"/api/v1/orgs/{bot.organization.slug}/bots/{bot.pk}/documents/{other.pk}/chunks/"
    assert client_for(MembershipFactory(organization=bot.organization).user).get(url).status_code == 404
