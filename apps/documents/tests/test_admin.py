"""Admin deletes of documents and bots go through the services (issue 16, apps/core/admin.py).

Coverage: "Delete selected" on documents removes the selected documents with their chunks and vectors,
takes their chunks out of the bot's term statistics and removes their files after commit, leaving the
others; the single delete page does the same; deleting a bot in the admin removes its documents' files
(the `bot_deleting` event of `bot_delete`).
"""

import os

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from apps.bots.models import Bot
from apps.bots.services import bot_purge
from apps.bots.tests.factories import BotFactory
from apps.conversations.tests.utils import ingest
from apps.core.purge import PURGE_DONE
from apps.documents.models import BotTextStats, Chunk, ChunkEmbedding, Document
from apps.documents.tests import samples

pytestmark = pytest.mark.django_db


def bulk_delete(client, model: str, ids: list[int]):
    """Confirm the admin's "Delete selected" action for `ids` (the POST of the confirmation page)."""
    url = reverse(f"admin:{model.replace('.', '_')}_changelist")
    return client.post(url, {"action": "delete_selected", "_selected_action": ids, "post": "yes"}, follow=True)


def test_bulk_delete_of_documents_goes_through_the_service(
    staff_client, organization, django_capture_on_commit_callbacks
):
    """Two of three documents go: rows, chunks, vectors, files and their part of the term statistics."""
    bot = BotFactory(organization=organization)
    first, second = ingest(bot, "guide.md", samples.md()), ingest(bot, "notes.txt", samples.txt())
    kept = ingest(bot, "page.html", samples.html())
    paths = [first.file.path, second.file.path]
    kept_chunks = Chunk.objects.filter(document=kept, searchable=True).count()

    with django_capture_on_commit_callbacks(execute=True):
        response = bulk_delete(staff_client, "documents.document", [first.pk, second.pk])

    assert response.status_code == 200
    assert "Successfully deleted 2 documents." in response.content.decode()
    assert list(Document.objects.values_list("pk", flat=True)) == [kept.pk]
    assert not Chunk.objects.filter(document_id__in=[first.pk, second.pk]).exists()
    assert not ChunkEmbedding.objects.filter(chunk__document_id__in=[first.pk, second.pk]).exists()
    assert [os.path.exists(path) for path in paths] == [False, False]
    assert os.path.exists(kept.file.path)
    assert BotTextStats.objects.get(bot=bot).chunk_count == kept_chunks
    assert LogEntry.objects.filter(object_id__in=[str(first.pk), str(second.pk)]).count() == 2


def test_single_delete_of_a_document_removes_its_file(staff_client, organization, django_capture_on_commit_callbacks):
    """The delete page calls the service: the file goes after commit, the statistics follow."""
    bot = BotFactory(organization=organization)
    document = ingest(bot, "guide.md", samples.md())
    path = document.file.path

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(reverse("admin:documents_document_delete", args=[document.pk]), {"post": "yes"})

    assert response.status_code == 302
    assert not Document.objects.filter(pk=document.pk).exists()
    assert not os.path.exists(path)
    assert not BotTextStats.objects.filter(bot=bot).exists()  # no searchable chunk in any language


def test_bulk_delete_of_bots_removes_their_documents_files(
    staff_client, organization, django_capture_on_commit_callbacks
):
    """Deleting a bot in the admin runs `bot_delete`: the bot is gone at once, and its purge removes its documents'
    files too."""
    bot, other = BotFactory(organization=organization), BotFactory(organization=organization)
    document, kept = ingest(bot, "guide.md", samples.md()), ingest(other, "guide.md", samples.md())
    path = document.file.path

    with django_capture_on_commit_callbacks(execute=True):
        response = bulk_delete(staff_client, "bots.bot", [bot.pk])

    assert "Successfully deleted 1 bot." in response.content.decode()
    assert list(Bot.objects.values_list("pk", flat=True)) == [other.pk]
    with django_capture_on_commit_callbacks(execute=True):
        assert bot_purge(bot_id=bot.pk) == PURGE_DONE  # the worker's part
    assert list(Document.objects.values_list("pk", flat=True)) == [kept.pk]
    assert not os.path.exists(path)
    assert os.path.exists(kept.file.path)
