"""Receivers of documents (apps/documents/receivers.py, STYLE.md §9), issue 12.

Coverage: `bot_deleting` (sent by `bot_delete`) deletes the bot's documents through the documents
service: chunks and vectors with them and, after commit, the stored files; the documents of another
bot stay; an event naming a bot of another organization deletes nothing; a rolled-back bot delete keeps
documents and files; documents has exactly one receiver of the event.
"""

import os
import weakref

import pytest
from django.db import transaction

from apps.bots import events as bot_events
from apps.bots.models import Bot
from apps.bots.services import bot_delete
from apps.bots.tests.factories import BotFactory
from apps.conversations.tests.utils import ingest
from apps.documents import receivers
from apps.documents.models import BotTextStats, Chunk, ChunkEmbedding, Document, LexemeStat
from apps.documents.tests import samples

pytestmark = pytest.mark.django_db


def test_bot_delete_removes_its_documents_chunks_vectors_and_files(organization, django_capture_on_commit_callbacks):
    """Documents, chunks, vectors and files of the deleted bot are gone; another bot's are kept."""
    bot, other = BotFactory(organization=organization), BotFactory(organization=organization)
    document, kept = ingest(bot, "guide.md", samples.md()), ingest(other, "guide.md", samples.md())
    path = document.file.path
    assert os.path.exists(path) and ChunkEmbedding.objects.filter(chunk__document=document).exists()

    with django_capture_on_commit_callbacks(execute=True):
        bot_delete(bot=bot)

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

    bot_events.bot_deleting_send(organization_id=other_organization.pk, bot_id=bot.pk)

    assert Document.objects.filter(pk=document.pk).exists()
    assert Chunk.objects.filter(document=document).count() == chunks > 0
    assert ChunkEmbedding.objects.filter(chunk__document=document).exists()


def test_a_bot_delete_takes_as_many_queries_with_six_documents_as_with_two(organization):
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
        with CaptureQueriesContext(connection) as queries:
            bot_delete(bot=bot)
        counts.append(len(queries))
        assert not Document.objects.filter(bot_id=bot.pk).exists()
        assert not Chunk.objects.filter(bot_id=bot.pk).exists()
        assert not LexemeStat.objects.filter(bot_id=bot.pk).exists()
        assert not BotTextStats.objects.filter(bot_id=bot.pk).exists()
    assert counts[0] == counts[1], counts


def test_a_rolled_back_bot_delete_keeps_documents_and_files(organization, django_capture_on_commit_callbacks):
    """The documents go in the bot's transaction: a rollback keeps them, and the file is never removed."""
    bot = BotFactory(organization=organization)
    document = ingest(bot, "guide.md", samples.md())

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        bot_delete(bot=bot)
        raise RuntimeError("abort")

    assert callbacks == []
    assert Bot.objects.filter(pk=document.bot_id).exists()
    assert Document.objects.filter(pk=document.pk).exists()
    assert os.path.exists(document.file.path)


def test_documents_has_one_receiver_of_bot_deleting():
    """Connected once, in DocumentsConfig.ready()."""
    assert bot_events.bot_deleting.has_listeners()
    functions = [
        ref() if isinstance(ref, weakref.ref) else ref for _key, ref, *_rest in bot_events.bot_deleting.receivers
    ]
    assert functions.count(receivers.on_bot_deleting) == 1
