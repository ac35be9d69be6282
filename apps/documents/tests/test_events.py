"""Domain events of documents (apps/documents/events.py, STYLE.md §9): document_finished once when a
document becomes ready (inside finalize's transaction; a redelivered finalize sends nothing) and once
when it turns failed (failing a failed document again sends nothing). Its receiver (webhooks) is tested
in apps/webhooks/tests/test_receivers.py."""

import pytest

from apps.core.tests.events import events_sent, only
from apps.documents import events
from apps.documents.models import Document
from apps.documents.services.pipeline import document_fail, document_finalize
from apps.documents.tests.factories import DocumentFactory
from apps.documents.tests.utils import ingest

pytestmark = pytest.mark.django_db


def test_finalize_sends_document_finished_ready_once():
    document = DocumentFactory(text="Refunds are possible within 14 days of purchase.")
    with events_sent(events.document_finished) as sent:
        ingest(document)
        document_finalize(document=document)  # redelivered
    assert only(sent, events.document_finished) == [
        {
            "organization_id": document.organization_id,
            "bot_id": document.bot_id,
            "document_id": document.pk,
            "status": "ready",
        }
    ]


def test_fail_sends_document_finished_failed_once():
    document = DocumentFactory(status=Document.Status.PROCESSING)
    with events_sent(events.document_finished) as sent:
        document_fail(document_id=document.pk, message="Unreadable.")
        document_fail(document_id=document.pk, message="Still unreadable.")
    assert [s.kwargs for s in sent] == [
        {"organization_id": document.organization_id, "bot_id": document.bot_id, "document_id": document.pk,
         "status": "failed"}
    ]  # fmt: skip
