"""Deleting a website source (`source_delete`, API `DELETE .../sources/{id}/`): its pages' documents go together
(`documents_delete`: one pass through the term statistics, one recalibration, vectors and chunks set-based), not one
by one (a source of 473 pages took 83.8 s in the request that way). The same queries for 2 pages as for 6; the term
statistics stay exact; an uploaded document with a page's bytes and another source's documents stay."""

import pytest

from apps.bots.tests.factories import BotFactory
from apps.conversations.tests.utils import ingest
from apps.core.tests.orm import query_counts
from apps.documents.lexeme_stats import lexeme_stats_recount, lexeme_stats_stored
from apps.documents.models import Chunk, ChunkEmbedding, Document
from apps.documents.tests import samples
from apps.sources.models import CrawlPage, CrawlSource
from apps.sources.services import source_delete
from apps.sources.tests.factories import CrawlPageFactory, CrawlSourceFactory

pytestmark = pytest.mark.django_db


def _source_with_pages(bot, pages: int) -> CrawlSource:
    source = CrawlSourceFactory(bot=bot, run=1, status=CrawlSource.Status.FINISHED)
    for number in range(pages):
        document = ingest(
            bot, f"page-{source.pk}-{number}.md", samples.md() + f"\n\nPage {source.pk}-{number}.".encode()
        )
        Document.objects.filter(pk=document.pk).update(source=Document.Source.URL)
        CrawlPageFactory(
            source=source, url=f"{source.url}{number}", run=1, state=CrawlPage.State.INGESTED, document=document
        )
    return source


def test_a_sources_documents_go_together(organization):
    bot = BotFactory(organization=organization)
    small, large, kept = _source_with_pages(bot, 2), _source_with_pages(bot, 6), _source_with_pages(bot, 1)
    uploaded = ingest(bot, "upload.md", samples.md() + b"\n\nUploaded.")  # a page with the same bytes keeps it
    CrawlPageFactory(source=large, url=f"{large.url}upload", run=1, state=CrawlPage.State.INGESTED, document=uploaded)
    assert lexeme_stats_stored(bot_id=bot.pk) == lexeme_stats_recount(bot_id=bot.pk)

    counts = query_counts(lambda source: source_delete(source=source), small, large)

    assert counts[0] == counts[1], counts
    assert list(CrawlSource.objects.values_list("pk", flat=True)) == [kept.pk]
    assert set(CrawlPage.objects.values_list("source_id", flat=True)) == {kept.pk}
    remaining = set(Document.objects.values_list("pk", flat=True))
    assert remaining == {uploaded.pk, *CrawlPage.objects.values_list("document_id", flat=True)}
    assert set(Chunk.objects.values_list("document_id", flat=True)) == remaining
    assert set(ChunkEmbedding.objects.values_list("chunk__document_id", flat=True)) == remaining
    stored = lexeme_stats_stored(bot_id=bot.pk)
    assert stored == lexeme_stats_recount(bot_id=bot.pk) and stored["english"][0] == Chunk.objects.count()


def test_retiring_pages_deletes_their_documents_together(organization):
    """Pages gone from the site (`pages_retire`, the crawl's worker): the same queries for 2 pages as for 6; a
    document another live page shares stays, an uploaded one stays; the rows stay, retired; statistics exact."""
    from apps.sources.services import pages_retire

    bot = BotFactory(organization=organization)
    small, large = _source_with_pages(bot, 2), _source_with_pages(bot, 6)
    shared = large.pages.order_by("id").first()
    live = CrawlPageFactory(source=large, url=f"{large.url}copy", run=1, state=CrawlPage.State.INGESTED,
                            document=shared.document)  # fmt: skip
    uploaded = ingest(bot, "upload.md", samples.md() + b"\n\nUploaded.")
    CrawlPageFactory(source=large, url=f"{large.url}upload", run=1, state=CrawlPage.State.INGESTED, document=uploaded)

    def retire(source):
        pages_retire(source=source, pages=source.pages.exclude(pk=live.pk).select_related("document"))

    counts = query_counts(retire, small, large)

    assert counts[0] == counts[1], counts
    assert set(Document.objects.values_list("pk", flat=True)) == {shared.document_id, uploaded.pk}
    retired = CrawlPage.objects.filter(state=CrawlPage.State.RETIRED)
    assert retired.count() == 2 + 7 and not retired.exclude(document=None).exists()
    assert lexeme_stats_stored(bot_id=bot.pk) == lexeme_stats_recount(bot_id=bot.pk)


def test_a_pages_new_version_in_the_pipeline_takes_the_version_it_replaces(organization):
    """A re-crawled page points to its new version while the old one stays searchable until the new one is ready:
    deleting the source then deletes both (no page points to the old one; it would stay in the bot for good)."""
    bot = BotFactory(organization=organization)
    source = _source_with_pages(bot, 1)
    page = source.pages.get()
    old = page.document
    new = Document.objects.create(
        organization=organization, bot=bot, title=old.title, source=Document.Source.URL, url=old.url,
        sha256="f" * 64, replaces=old, status=Document.Status.PROCESSING,
    )  # fmt: skip
    CrawlPage.objects.filter(pk=page.pk).update(document=new)
    kept = ingest(bot, "kept.md", samples.md() + b"\n\nKept.")

    source_delete(source=source)

    assert list(Document.objects.values_list("pk", flat=True)) == [kept.pk]
    assert lexeme_stats_stored(bot_id=bot.pk) == lexeme_stats_recount(bot_id=bot.pk)


def test_retiring_in_several_transactions_keeps_a_document_shared_across_them(organization, monkeypatch):
    """RETIRE_BATCH pages a transaction: a document shared by pages of two batches goes with the second (the first
    still sees the other page), every page ends retired."""
    from apps.sources import services
    from apps.sources.services import pages_retire

    monkeypatch.setattr(services, "RETIRE_BATCH", 2)
    bot = BotFactory(organization=organization)
    source = _source_with_pages(bot, 3)
    first = source.pages.order_by("id").first()
    CrawlPageFactory(source=source, url=f"{source.url}copy", run=1, state=CrawlPage.State.INGESTED,
                     document=first.document)  # fmt: skip
    pages = list(source.pages.order_by("-id"))  # the copy first: its batch leaves the shared document

    assert pages_retire(source=source, pages=pages) == 4

    assert not Document.objects.filter(bot=bot).exists()
    assert set(CrawlPage.objects.values_list("state", "document_id")) == {(CrawlPage.State.RETIRED, None)}
