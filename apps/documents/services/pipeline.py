"""The ingestion pipeline: the stages the workers run on a document, in a Celery chain enqueued on
commit (`upload.document_pipeline_enqueue`; workers/tasks/chunking.py and embedding.py):

  document_extract_chunk  -> extract text, chunk it, store the chunks (not yet searchable)
  document_embed          -> embed chunks in batches, counting chunks_done
  document_finalize       -> one transaction: make the new chunks searchable, drop the old
                             generation (or the old version), update the bot's term statistics
                             (lexeme_stats.py), status ready

Every stage is idempotent and resumable: a redelivered or re-run stage keeps what is already
done (same chunk hashes, existing embeddings) and does the rest. Each stage first claims the
document's lease (`recovery.document_stage_claim`, docs/recovery.md). `document_ingest_now` runs the
same stages in this process.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from apps.bots.models import Bot
from apps.core.embeddings import get_embedder
from apps.core.languages import AUTO, DETECT_SAMPLE_CHARS, document_language
from apps.documents.calibration import calibration_schedule
from apps.documents.chunking import chunk_blocks
from apps.documents.events import document_finished_send
from apps.documents.extraction import ExtractionError
from apps.documents.lexeme_stats import lexeme_stats_document_swap
from apps.documents.models import Chunk, ChunkEmbedding, Document
from apps.documents.sandbox import extract_isolated
from apps.documents.services.embeddings import chunk_embeddings, embedding_index_ensure
from apps.documents.services.upload import document_delete, document_title_from_name

logger = logging.getLogger(__name__)


@transaction.atomic
def document_fail(*, document_id: int, message: str) -> None:
    """Mark the document failed, in one transaction with its domain event (so whoever sees `failed` sees
    the rest done): `document_finished` once, when the document turns failed (not when a failed one is
    failed again)."""
    owner = (
        Document.objects.select_for_update()
        .filter(pk=document_id)
        .exclude(status=Document.Status.FAILED)
        .values_list("organization_id", "bot_id")
        .first()
    )
    Document.objects.filter(pk=document_id).update(
        status=Document.Status.FAILED, error=message[:2000], lease_owner="", updated_at=timezone.now()
    )
    # The half-built generation is dropped; a ready generation (if any) stays searchable.
    Chunk.objects.filter(document_id=document_id, searchable=False).delete()
    if owner is not None:
        document_finished_send(
            organization_id=owner[0], bot_id=owner[1], document_id=document_id, status=Document.Status.FAILED
        )


def _read(document: Document) -> tuple[str, bytes]:
    if document.source == Document.Source.TEXT:
        return f"{document.title}.txt", document.text.encode()
    try:
        with document.file.open("rb") as handle:
            return document.original_name or document.file.name, handle.read()
    except (FileNotFoundError, ValueError) as exc:
        raise ExtractionError("The stored file is missing; upload it again.") from exc


def document_extract_chunk(*, document: Document) -> int:
    """Extract and chunk; store the chunks as the building generation. Returns the chunk count.

    Idempotent: if the building generation already holds exactly these chunks (same hashes, same
    order) it is kept with its embeddings, so a redelivered task resumes instead of restarting.
    """
    Document.objects.filter(pk=document.pk).update(
        status=Document.Status.PROCESSING,
        attempts=document.attempts + 1,
        processing_started_at=timezone.now(),
        heartbeat_at=timezone.now(),
        error="",
    )
    name, data = _read(document)
    # In a child process bounded in CPU time and memory (apps.documents.sandbox, issue 13).
    extracted = extract_isolated(name, data)
    del data
    if extracted.kind != document.kind:  # a .txt that is reStructuredText by its content (issue 14)
        Document.objects.filter(pk=document.pk).update(kind=extracted.kind)
    embedder = get_embedder()
    drafts = chunk_blocks(
        extracted.blocks,
        count_tokens=embedder.count_tokens,
        max_tokens=settings.CHUNK_MAX_TOKENS,
        overlap_tokens=settings.CHUNK_OVERLAP_TOKENS,
        model_limit=embedder.max_tokens,
    )
    if not drafts:
        raise ExtractionError("The file contains no text to learn from.")
    hashes = [draft.content_hash for draft in drafts]
    bot_language = Bot.objects.filter(pk=document.bot_id).values_list("language", flat=True).first() or AUTO
    language, config = document_language(_language_sample(drafts), language=bot_language)
    with transaction.atomic():
        current = list(
            Chunk.objects.filter(document=document, searchable=False)
            .order_by("position")
            .values_list("content_hash", flat=True)
        )
        if current != hashes:
            Chunk.objects.filter(document=document, searchable=False).delete()
            Chunk.objects.bulk_create(
                [
                    Chunk(
                        organization_id=document.organization_id,
                        bot_id=document.bot_id,
                        document=document,
                        position=index,
                        text=draft.text,
                        heading_path=list(draft.heading_path),
                        page=draft.page,
                        char_start=draft.char_start,
                        char_end=draft.char_end,
                        token_count=draft.token_count,
                        content_hash=draft.content_hash,
                        search_config=config,
                    )
                    for index, draft in enumerate(drafts)
                ],
                batch_size=500,
            )
        with connection.cursor() as cursor:
            # In the document's language; chunks kept from an earlier run in another one are redone.
            cursor.execute(
                "UPDATE documents_chunk SET search_config = %(cfg)s, search_vector = "
                "setweight(to_tsvector(%(cfg)s::regconfig, array_to_string(heading_path, ' ')), 'A') || "
                "setweight(to_tsvector(%(cfg)s::regconfig, text), 'B') "
                "WHERE document_id = %(document)s AND NOT searchable "
                "AND (search_vector IS NULL OR search_config <> %(cfg)s)",
                {"cfg": config, "document": document.pk},
            )
        title = document.title
        if (
            document.source == Document.Source.UPLOAD
            and extracted.title
            and title == document_title_from_name(document.original_name)
        ):
            title = extracted.title[:300]
        Document.objects.filter(pk=document.pk).update(
            chunks_total=len(drafts),
            chunks_done=_building_chunks_embedded(document=document, model=embedder.name),
            token_count=sum(draft.token_count for draft in drafts),
            page_count=extracted.page_count,
            kind=extracted.kind,
            title=title,
            language=language,
            search_config=config,
            heartbeat_at=timezone.now(),
        )
    return len(drafts)


def _language_sample(drafts) -> str:
    """The text a document's language is told from: its first chunks, up to DETECT_SAMPLE_CHARS."""
    sample, size = [], 0
    for draft in drafts:
        if size >= DETECT_SAMPLE_CHARS:
            break
        sample.append(draft.text)
        size += len(draft.text)
    return "\n".join(sample)


def _building_chunks_embedded(*, document: Document, model: str) -> int:
    """How many chunks of the generation being built have a vector for `model` (chunks_done)."""
    return ChunkEmbedding.objects.filter(chunk__document=document, chunk__searchable=False, model=model).count()


def _building_chunks_unembedded(*, document: Document, model: str):
    """The chunks of the generation being built that have no vector for `model` yet."""
    return Chunk.objects.filter(document=document, searchable=False).exclude(embeddings__model=model)


def document_embed(
    *, document: Document, batch_size: int | None = None, token: str | None = None, deadline: float | None = None
) -> int:
    """Embed the building generation's chunks that have no vector for the current model yet.

    Batches are committed as they go (chunks_done climbs, the heartbeat is renewed), so a killed
    worker loses one batch at most. With the `token` of the lease holder, embedding stops when the
    lease has passed to another run (the sweep or a reprocess took over). With a `deadline`
    (`time.monotonic()`), it stops after the batch that passes it: the task continues the rest in
    a continuation (`document_embed_unfinished`). Returns how many chunks were embedded now.
    """
    embedder = get_embedder()
    embedding_index_ensure(model=embedder.name, dimensions=embedder.dimensions)
    batch_size = batch_size or settings.EMBEDDING_BATCH_SIZE * 4
    done_now = 0
    while True:
        batch = list(
            _building_chunks_unembedded(document=document, model=embedder.name)
            .order_by("position")
            .only("id", "text", "heading_path")[:batch_size]
        )
        if not batch:
            break
        ChunkEmbedding.objects.bulk_create(chunk_embeddings(batch, embedder), ignore_conflicts=True)
        done_now += len(batch)
        holder = Document.objects.filter(pk=document.pk)
        if token is not None:
            holder = holder.filter(lease_owner=token)
        renewed = holder.update(
            chunks_done=_building_chunks_embedded(document=document, model=embedder.name), heartbeat_at=timezone.now()
        )
        if not renewed:
            logger.info("document %s: embedding stopped, the lease passed to another run", document.pk)
            break
        if deadline is not None and time.monotonic() >= deadline:
            break
    return done_now


def document_embed_unfinished(*, document: Document, token: str) -> bool:
    """Whether the lease holder `token` still has chunks of the building generation to embed (a
    `document_embed` stopped by its deadline). False once the lease passed to another run: that run
    embeds the rest."""
    if not Document.objects.filter(pk=document.pk, lease_owner=token, status=Document.Status.PROCESSING).exists():
        return False
    return _building_chunks_unembedded(document=document, model=get_embedder().name).exists()


@transaction.atomic
def document_finalize(*, document: Document) -> Document | None:
    """Swap generations in one transaction: the bot never has neither the old nor the new chunks.

    The document and the version it replaces are locked in one statement in id order (the predecessor first), the
    order `documents_delete` takes them in: locking this one first and then its predecessor deadlocked with a
    delete of the predecessor (which updates this row's `replaces`)."""
    replaces_id = Document.objects.filter(pk=document.pk).values_list("replaces_id", flat=True).first()
    ids = [document.pk] if replaces_id is None else [replaces_id, document.pk]
    locked = {row.pk: row for row in Document.objects.select_for_update().filter(pk__in=ids).order_by("id")}
    document = locked.get(document.pk)
    if document is None or document.status == Document.Status.FAILED:
        return None
    building = Chunk.objects.filter(document=document, searchable=False)
    count = building.count()
    if count == 0 and document.status == Document.Status.READY:
        return document  # already finalized (redelivered task)
    embedder = get_embedder()
    # `replaces` only ever turns null after creation (its document deleted), so the lock above covers it.
    # The bot's term statistics follow what is searchable, in this transaction (lexeme_stats.py).
    lexeme_stats_document_swap(document_id=document.pk, bot_id=document.bot_id)
    Chunk.objects.filter(document=document, searchable=True).delete()
    building.update(searchable=True)
    replaced = document.replaces
    document.status = Document.Status.READY
    document.error = ""
    document.chunk_count = count
    document.chunks_done = count
    document.chunks_total = count
    document.embedding_model = embedder.name
    document.processed_at = timezone.now()
    document.replaces = None
    if replaced is not None:  # its id keeps finding the document (selectors.document_get)
        document.earlier_ids = [*replaced.earlier_ids, replaced.pk]
    document.lease_owner = ""
    document.save()
    if replaced is not None:
        document_delete(document=replaced)
    document_finished_send(
        organization_id=document.organization_id,
        bot_id=document.bot_id,
        document_id=document.pk,
        status=document.status,
    )
    calibration_schedule(organization_id=document.organization_id, bot_id=document.bot_id)
    return document


def document_ingest_now(*, document: Document) -> Document:
    """Run the whole pipeline in this process (management commands, benchmarks baseline).

    Same stages and failure handling as the Celery chain.
    """
    from apps.core.embeddings import EmbeddingError

    try:
        document_extract_chunk(document=document)
        document.refresh_from_db()
        document_embed(document=document)
        document_finalize(document=document)
    except (ExtractionError, EmbeddingError) as exc:
        document_fail(document_id=document.pk, message=str(exc))
    document.refresh_from_db()
    return document
