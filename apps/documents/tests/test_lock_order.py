"""Lock order between a version being finalized and a delete of the version it replaces: `document_finalize` takes
both rows in one statement in id order (the predecessor first), as `documents_delete` does. Finalize used to lock
the new version first and then wait for the predecessor, while a delete of the predecessor held it and went on to
update the new version's `replaces`: a deadlock (found in review, reproduced with two connections)."""

import pytest
from django.db import transaction

from apps.bots.tests.factories import BotFactory
from apps.core.tests.concurrency import in_another_connection, wait_until_a_lock_is_awaited
from apps.documents.lexeme_stats import lexeme_stats_recount, lexeme_stats_stored
from apps.documents.models import Document
from apps.documents.services.pipeline import document_finalize
from apps.documents.services.upload import IncomingFile, document_delete, document_upload
from apps.documents.tests import samples
from apps.documents.tests.utils import extract_and_embed, ingest


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_finalize_waits_for_the_predecessor_without_holding_the_new_version(organization):
    bot = BotFactory(organization=organization)
    [first] = document_upload(organization=organization, bot=bot, files=[IncomingFile("guide.md", samples.md())])
    old = ingest(first.document)
    changed = samples.md().replace(b"Refunds are", b"Parcels and refunds are")
    [second] = document_upload(organization=organization, bot=bot, files=[IncomingFile("guide.md", changed)])
    new = extract_and_embed(second.document)
    assert new.replaces_id == old.pk
    result: dict = {}

    with transaction.atomic():
        Document.objects.select_for_update().get(pk=old.pk)  # what a delete of the old version takes first
        finalize = in_another_connection(result, lambda: document_finalize(document=new))
        finalize.start()
        wait_until_a_lock_is_awaited(result)
        # The finalize waits without holding the new version, so the delete can take it (it nulls `replaces`).
        Document.objects.select_for_update(nowait=True).get(pk=new.pk)
        document_delete(document=old)
    finalize.join(timeout=60)  # a hang guard only: the finalize goes on once this transaction commits

    assert "error" not in result, result
    new.refresh_from_db()
    assert (new.status, new.replaces_id) == (Document.Status.READY, None)
    assert not Document.objects.filter(pk=old.pk).exists()
    assert lexeme_stats_stored(bot_id=bot.pk) == lexeme_stats_recount(bot_id=bot.pk)
