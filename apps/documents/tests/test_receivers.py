"""Receivers of documents (apps/documents/receivers.py, STYLE.md §9), issue 12.

Coverage: a deleted bot's purge (`bot_purge`) deletes its documents through the documents service, a batch per
transaction on `bot_purging` (at most BOT_PURGE_BATCH_CHUNKS chunks, at least one document) and the rest with the
term statistics on `bot_deleting`: chunks and vectors with them and, after commit, the stored files; the documents
of another bot stay; an event naming a bot of another organization deletes nothing; documents has exactly one
receiver of each event (a rolled-back delete, rows in use: apps/bots/tests/test_deletion.py).
"""

import os
import weakref

import pytest

from apps.bots import events as bot_events
from apps.bots.services import bot_delete, bot_purge
from apps.bots.tests.factories import BotFactory
from apps.conversations.tests.utils import ingest
from apps.documents import receivers
from apps.documents.models import BotTextStats, Chunk, ChunkEmbedding, Document, LexemeStat
from apps.documents.tests import samples

pytestmark = pytest.mark.django_db


def test_bot_purge_removes_its_documents_chunks_vectors_and_files(organization, django_capture_on_commit_callbacks):
    """Documents, chunks, vectors and files of the deleted bot are gone; another bot's are kept."""
    bot, other = BotFactory(organization=organization), BotFactory(organization=organization)
    document, kept = ingest(bot, "guide.md", samples.md()), ingest(other, "guide.md", samples.md())
    path = document.file.path
    assert os.path.exists(path) and ChunkEmbedding.objects.filter(chunk__document=document).exists()

    bot_delete(bot=bot)
    assert os.path.exists(path) and Document.objects.filter(pk=document.pk).exists()  # until the purge
    with django_capture_on_commit_callbacks(execute=True):
        bot_purge(bot_id=bot.pk)

    assert list(Document.objects.values_list("pk", flat=True)) == [kept.pk]
    assert not Chunk.objects.filter(document_id=document.pk).exists()
    assert not ChunkEmbedding.objects.filter(chunk__bot_id=bot.pk).exists()
    assert ChunkEmbedding.objects.filter(chunk__document=kept).exists()
    assert not os.path.exists(path)
    assert os.path.exists(kept.file.path)


def test_an_event_for_another_organizations_bot_deletes_nothing(organization, other_organization):
    """The receiver deletes only documents of the organization the event names."""
    bot = BotFactory(organization=organization)
    document = ingest(bot, "guide.md", samples.md())

    chunks = Chunk.objects.filter(document=document).count()

    assert bot_events.bot_purging_send(organization_id=other_organization.pk, bot_id=bot.pk) == 0
    bot_events.bot_deleting_send(organization_id=other_organization.pk, bot_id=bot.pk)

    assert Document.objects.filter(pk=document.pk).exists()
    assert Chunk.objects.filter(document=document).count() == chunks > 0
    assert ChunkEmbedding.objects.filter(chunk__document=document).exists()
    assert LexemeStat.objects.filter(bot=bot).exists()  # the live bot's statistics too


def test_a_bot_purge_takes_as_many_queries_with_six_documents_as_with_two(organization):
    """The bot's documents go together, not one by one (each through the term statistics and a recalibration:
    89 s and 15,516 queries for 1,000 documents and 100,000 chunks); the statistics go whole."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = []
    for documents in (2, 6):
        bot = BotFactory(organization=organization)
        for number in range(documents):
            ingest(bot, f"guide-{number}.md", samples.md() + f"\n\nPage {number}.".encode())
        assert LexemeStat.objects.filter(bot=bot).exists()
        bot_delete(bot=bot)
        with CaptureQueriesContext(connection) as queries:
            bot_purge(bot_id=bot.pk)
        counts.append(len(queries))
        assert not Document.objects.filter(bot_id=bot.pk).exists()
        assert not Chunk.objects.filter(bot_id=bot.pk).exists()
        assert not LexemeStat.objects.filter(bot_id=bot.pk).exists()
        assert not BotTextStats.objects.filter(bot_id=bot.pk).exists()
    assert counts[0] == counts[1], counts


def test_the_purge_deletes_a_batch_of_documents_per_transaction(organization, settings):
    """Documents in id order holding at most BOT_PURGE_BATCH_CHUNKS chunks together (one in the pipeline counted by
    its planned chunks); one larger than the batch goes alone; other bots' documents stay."""
    bot, other = BotFactory(organization=organization), BotFactory(organization=organization)
    small = [ingest(bot, f"guide-{n}.md", samples.md() + f"\n\nPage {n}.".encode()) for n in range(3)]
    large = ingest(bot, "large.md", b"\n\n".join(samples.md() + f"\n\nPart {n}.".encode() for n in range(4)))
    kept = ingest(other, "guide.md", samples.md())
    per_document = small[0].chunk_count
    assert per_document > 0 and large.chunk_count > 2 * per_document
    settings.BOT_PURGE_BATCH_CHUNKS = 2 * per_document
    # A document still in the pipeline has its chunks but no chunk_count yet: its planned chunks_total counts.
    Document.objects.filter(pk=small[1].pk).update(chunk_count=0, status=Document.Status.PROCESSING)
    bot_delete(bot=bot)

    rounds = []
    while deleted := receivers.on_bot_purging("bots", organization_id=organization.pk, bot_id=bot.pk):
        rounds.append((deleted, sorted(Document.objects.filter(bot_id=bot.pk).values_list("pk", flat=True))))
    assert rounds == [(2, [small[2].pk, large.pk]), (1, [large.pk]), (1, [])]
    assert not Chunk.objects.filter(bot_id=bot.pk).exists()
    assert not ChunkEmbedding.objects.filter(chunk__bot_id=bot.pk).exists()
    assert LexemeStat.objects.filter(bot_id=bot.pk).exists()  # the term statistics go with the bot row
    assert list(Document.objects.values_list("pk", flat=True)) == [kept.pk]
    assert ChunkEmbedding.objects.filter(chunk__document=kept).exists()


def test_documents_has_one_receiver_of_each_bot_event():
    """Connected once, in DocumentsConfig.ready()."""
    for signal, receiver in ((bot_events.bot_purging, receivers.on_bot_purging),
                             (bot_events.bot_deleting, receivers.on_bot_deleting)):  # fmt: skip
        assert signal.has_listeners()
        functions = [ref() if isinstance(ref, weakref.ref) else ref for _key, ref, *_rest in signal.receivers]
        assert functions.count(receiver) == 1
