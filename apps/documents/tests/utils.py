"""Helpers of the documents tests: run the ingestion pipeline synchronously, as the worker would."""

from django.conf import settings
from django.db import connection

from apps.documents.models import Document
from apps.documents.services.pipeline import document_embed, document_extract_chunk, document_finalize


def embed(document, **kwargs) -> int:
    """document_embed as the worker runs it.

    The worker runs in autocommit; a `db` test runs in one transaction, where embedding_index_ensure's
    CREATE INDEX refuses a table with pending deferred foreign-key checks. Fire them first.
    """
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    return document_embed(document=Document.objects.get(pk=document.pk), **kwargs)


def extract_and_embed(document) -> Document:
    """Stages 1 and 2: the new generation is built and embedded, not yet searchable."""
    document_extract_chunk(document=Document.objects.get(pk=document.pk))
    embed(document)
    return Document.objects.get(pk=document.pk)


def ingest(document) -> Document:
    """All three stages: the document ends ready and searchable."""
    extract_and_embed(document)
    return document_finalize(document=Document.objects.get(pk=document.pk))


# The broker list the ingestion queue's work waits in, the chains' extractions among it: kombu's Redis transport keeps
# one list per priority step ("<queue>\x06\x16<step>", the bare name for 0); that work is sent at INGESTION_PRIORITY.
INGESTION_LIST = f"ingestion\x06\x16{settings.INGESTION_PRIORITY}"
