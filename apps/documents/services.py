"""Knowledge-base writes: uploads, text documents, versions, deletion, and the ingestion pipeline.

Pipeline (Celery chain, enqueued on commit; see workers/tasks/chunking.py and embedding.py):
  document_extract_chunk  -> extract text, chunk it, store the chunks (not yet searchable)
  document_embed          -> embed chunks in batches, counting chunks_done
  document_finalize       -> one transaction: make the new chunks searchable, drop the old
                             generation (or the old version), update the bot's term statistics
                             (lexeme_stats.py), status ready
Every stage is idempotent and resumable: a redelivered or re-run stage keeps what is already
done (same chunk hashes, existing embeddings) and does the rest.

Recovery (docs/recovery.md): each stage claims the document's lease (`document_stage_claim`) and
embedding renews its heartbeat per batch. A stage redelivered after its worker died counts an
interruption; `documents_recover_stuck` (beat) re-enqueues documents whose heartbeat expired while
`processing` and documents `pending` for longer than a grace period (a lost publish). Past
RECOVERY_MAX_ATTEMPTS interruptions the document ends `failed` with a readable error.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import connection, transaction
from django.db.models import Q, Sum
from django.utils import timezone

from apps.core.embeddings import get_embedder
from apps.core.exceptions import ApplicationError
from apps.core.leases import (
    attempts_exhausted,
    interrupted_message,
    lease_cutoff,
    lease_is_fresh,
    token_run,
)
from apps.documents.calibration import calibration_schedule
from apps.documents.chunking import chunk_blocks
from apps.documents.extraction import MIME_TYPES, ExtractionError, extension_kind
from apps.documents.lexeme_stats import lexeme_stats_document_swap, lexeme_stats_documents_remove
from apps.documents.models import Chunk, ChunkEmbedding, Document
from apps.documents.sandbox import extract_isolated
from apps.organizations.services import plan_limit_check

logger = logging.getLogger(__name__)

MB = 1024 * 1024


# --------------------------------------------------------------------------- uploads


@dataclass
class IncomingFile:
    name: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass
class UploadOutcome:
    document: Document
    outcome: str  # created | duplicate | new_version


def _enqueue(document: Document) -> None:
    """The ingestion chain after commit; a lost publish leaves the document pending for the recovery
    sweep (docs/operations.md)."""
    from apps.core.tasks import enqueue_on_commit
    from workers.tasks.chunking import document_pipeline

    enqueue_on_commit(document_pipeline(document.organization_id, document.pk))


def _check_limits(*, organization, bot, new_sizes: list[int], new_documents: int) -> None:
    plan = organization.plan
    for size in new_sizes:
        limit_mb = min(filter(None, [plan.max_file_size_mb, settings.DOCUMENT_MAX_UPLOAD_MB]))
        if size > limit_mb * MB:
            raise ApplicationError(
                f"A file of {size / MB:.1f} MB is over the {limit_mb} MB limit per file of the {plan.name} plan.",
                code="file_too_large",
                status_code=413,
                extra={"limit": "max_file_size_mb", "allowed": limit_mb},
            )
    if new_documents:
        count = Document.objects.filter(bot=bot).count()
        plan_limit_check(organization=organization, limit="max_documents_per_bot", used=count, adding=new_documents)
    if new_sizes:
        used = Document.objects.filter(organization=organization).aggregate(total=Sum("size"))["total"] or 0
        plan_limit_check(
            organization=organization,
            limit="max_storage_mb",
            used=round(used / MB, 2),
            adding=round(sum(new_sizes) / MB, 2),
        )


@transaction.atomic
def document_upload(
    *, organization, bot, files: list[IncomingFile], created_by=None, enqueue: bool = True
) -> list[UploadOutcome]:
    """Store uploaded files as documents of `bot` and queue their ingestion.

    All files are checked first (type by name, plan limits); one refused file refuses the request,
    so nothing is half-stored. A file whose sha256 is already in the bot is not stored again (the
    existing document is returned); a changed file under an existing name becomes a new version
    that replaces the old one when it is ready.
    """
    assert bot.organization_id == organization.pk
    if not files:
        raise ApplicationError("No file was uploaded; send one or more files in the 'files' field.", code="no_file")
    for incoming in files:
        if extension_kind(incoming.name) is None:
            raise ApplicationError(
                f"'{incoming.name}' is not a supported type; upload txt, md, rst, html, pdf or docx files.",
                code="unsupported_type",
                status_code=415,
            )
    names = [incoming.name for incoming in files]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ApplicationError(
            f"The same file name appears twice in one upload: {', '.join(repeated)}.", code="duplicate_name"
        )
    seen: dict[str, Document] = {}
    plan: list[tuple[IncomingFile, Document | None, Document | None]] = []
    for incoming in files:
        digest = incoming.sha256
        existing = seen.get(digest) or Document.objects.filter(bot=bot, sha256=digest).first()
        previous = None
        if existing is None:
            previous = _version_base(bot=bot, name=incoming.name)
        plan.append((incoming, existing, previous))
        seen.setdefault(digest, existing or Document(sha256=digest))
    new = [(incoming, previous) for incoming, existing, previous in plan if existing is None]
    _check_limits(
        organization=organization,
        bot=bot,
        new_sizes=[len(incoming.data) for incoming, _ in new],
        new_documents=sum(1 for _, previous in new if previous is None),
    )
    outcomes: list[UploadOutcome] = []
    created: dict[str, Document] = {}
    for incoming, existing, previous in plan:
        digest = incoming.sha256
        if existing is not None and existing.pk:
            outcomes.append(UploadOutcome(existing, "duplicate"))
            continue
        if digest in created:
            outcomes.append(UploadOutcome(created[digest], "duplicate"))
            continue
        kind = extension_kind(incoming.name)
        document = Document(
            organization=organization,
            bot=bot,
            title=_title_from_name(incoming.name),
            source=Document.Source.UPLOAD,
            original_name=incoming.name,
            mime_type=MIME_TYPES[kind],
            kind=kind,
            size=len(incoming.data),
            sha256=digest,
            version=previous.version + 1 if previous else 1,
            replaces=previous,
            created_by=created_by,
        )
        document.file.save(incoming.name, ContentFile(incoming.data), save=False)
        document.save()
        if enqueue:
            _enqueue(document)
        created[digest] = document
        outcomes.append(UploadOutcome(document, "new_version" if previous else "created"))
    return outcomes


def _version_base(*, bot, name: str) -> Document | None:
    """The document a new upload under `name` will replace, or None for a new name.

    A newer version still in the pipeline blocks another one (409); a newer version that failed
    is dropped and the new upload replaces the version it was meant to replace.
    """
    latest = (
        Document.objects.select_for_update(of=("self",))
        .filter(bot=bot, original_name=name)
        .order_by("-version")
        .first()
    )
    if latest is None or latest.replaces_id is None:
        return latest
    if latest.status in (Document.Status.PENDING, Document.Status.PROCESSING):
        raise ApplicationError(
            f"A newer version of '{name}' is still processing; upload again when it is ready.",
            code="version_in_progress",
            status_code=409,
        )
    base = latest.replaces
    document_delete(document=latest)
    return base


def _title_from_name(name: str) -> str:
    stem = name.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return stem.replace("_", " ").replace("-", " ").strip()[:300] or name[:300]


@transaction.atomic
def document_create_from_text(*, organization, bot, title: str, text: str, url: str = "", created_by=None):
    """A document from raw text; returns (document, outcome) like an upload."""
    assert bot.organization_id == organization.pk
    data = text.encode()
    digest = hashlib.sha256(data).hexdigest()
    existing = Document.objects.filter(bot=bot, sha256=digest).first()
    if existing is not None:
        return existing, "duplicate"
    _check_limits(organization=organization, bot=bot, new_sizes=[len(data)], new_documents=1)
    document = Document.objects.create(
        organization=organization,
        bot=bot,
        title=title,
        source=Document.Source.TEXT,
        text=text,
        url=url,
        mime_type="text/plain",
        kind="txt",
        size=len(data),
        sha256=digest,
        created_by=created_by,
    )
    _enqueue(document)
    return document, "created"


@transaction.atomic
def document_delete(*, document: Document) -> None:
    """Delete a document, its chunks and embeddings (cascade) and, after commit, its file. A ready
    document leaves the knowledge base: the bot's refusal cut-off is recalibrated (debounced).

    Its searchable chunks leave the bot's term statistics in the same transaction (row lock on the
    document first, then the statistics: the order finalize uses)."""
    locked = Document.objects.select_for_update().filter(pk=document.pk).values_list("bot_id", flat=True).first()
    if locked is not None:
        lexeme_stats_documents_remove(document_ids=[document.pk], bot_id=locked)
    file = document.file
    name = file.name if file else None
    if document.status == Document.Status.READY:
        calibration_schedule(organization_id=document.organization_id, bot_id=document.bot_id)
    document.delete()
    if name:
        transaction.on_commit(lambda: file.storage.delete(name))


@transaction.atomic
def bot_documents_delete(*, organization_id: int, bot_id: int) -> int:
    """Delete every document of a bot (chunks and vectors by cascade, files after commit), as
    `document_delete` does one by one; called when the bot is being deleted. Returns the count."""
    # All rows locked first (in id order), so a concurrent finalize cannot hold one of them while
    # waiting for the statistics this deletion holds.
    documents = list(
        Document.objects.select_for_update().filter(organization_id=organization_id, bot_id=bot_id).order_by("id")
    )
    for document in documents:
        document_delete(document=document)
    return len(documents)


@transaction.atomic
def document_reprocess(*, document: Document) -> Document:
    """Queue the pipeline again (after a failure, a stuck worker, or a chunking change).

    A ready document stays searchable with its current chunks until the new ones are ready.
    """
    document = Document.objects.select_for_update().get(pk=document.pk)
    document.status = Document.Status.PENDING
    document.error = ""
    # A new request by a person: a fresh run, with its own count of interruptions.
    document.interruptions = 0
    document.lease_owner = ""
    document.save(update_fields=["status", "error", "interruptions", "lease_owner", "updated_at"])
    _enqueue(document)
    return document


# --------------------------------------------------------------------------- pipeline


PIPELINE_STAGES = ("extract", "embed", "finalize")


def document_stage_claim(*, organization_id: int, document_id: int, token: str, stage: str) -> Document | None:
    """Take the document's lease for one pipeline stage: the document to work on, or None when the
    stage must return quietly.

    None when the document is gone, failed or ready (nothing to do: a late duplicate), still pending
    for a stage after extraction, or held by another run (another chain) whose heartbeat is fresh.
    `token` identifies this delivery (`apps.core.leases.task_lease_token`); finding it already on the
    row means the same delivery ran before and its worker died: one more interruption, and past
    RECOVERY_MAX_ATTEMPTS the document fails with a readable error instead of looping.
    """
    assert stage in PIPELINE_STAGES
    now = timezone.now()
    with transaction.atomic():
        document = Document.objects.select_for_update().filter(pk=document_id, organization_id=organization_id).first()
        if document is None or document.status in (Document.Status.FAILED, Document.Status.READY):
            return None
        if document.status == Document.Status.PENDING and stage != "extract":
            return None
        held_by_other_run = (
            document.status == Document.Status.PROCESSING
            and document.lease_owner
            and token_run(document.lease_owner) != token_run(token)
            and lease_is_fresh(document.heartbeat_at, now)
        )
        if held_by_other_run:
            logger.info("document %s: %s skipped, another run holds the lease", document_id, stage)
            return None
        if document.lease_owner == token:
            document.interruptions += 1
            logger.warning(
                "document %s: %s redelivered after its worker was lost (interruption %s)",
                document_id, stage, document.interruptions,
            )  # fmt: skip
            if attempts_exhausted(document.interruptions):
                _document_give_up(document)
                return None
        document.lease_owner = token
        document.heartbeat_at = now
        document.save(update_fields=["lease_owner", "heartbeat_at", "interruptions"])
    return document


def _document_give_up(document: Document) -> None:
    """Fail a document interrupted too often (inside the caller's transaction, row locked)."""
    message = interrupted_message(
        what="Processing",
        interruptions=document.interruptions,
        last_seen=document.heartbeat_at or document.updated_at,
        action="use 'reprocess' to try again",
    )
    logger.error("document %s: %s", document.pk, message)
    Document.objects.filter(pk=document.pk).update(
        status=Document.Status.FAILED,
        error=message,
        interruptions=document.interruptions,
        lease_owner="",
        updated_at=timezone.now(),
    )
    Chunk.objects.filter(document_id=document.pk, searchable=False).delete()


def document_fail(*, document_id: int, message: str) -> None:
    Document.objects.filter(pk=document_id).update(
        status=Document.Status.FAILED, error=message[:2000], lease_owner="", updated_at=timezone.now()
    )
    # The half-built generation is dropped; a ready generation (if any) stays searchable.
    Chunk.objects.filter(document_id=document_id, searchable=False).delete()


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
                    )
                    for index, draft in enumerate(drafts)
                ],
                batch_size=500,
            )
            with connection.cursor() as cursor:
                cursor.execute(
                    "UPDATE documents_chunk SET search_vector = "
                    "setweight(to_tsvector(%s::regconfig, array_to_string(heading_path, ' ')), 'A') || "
                    "setweight(to_tsvector(%s::regconfig, text), 'B') "
                    "WHERE document_id = %s AND NOT searchable",
                    [settings.SEARCH_TEXT_CONFIG, settings.SEARCH_TEXT_CONFIG, document.pk],
                )
        title = document.title
        if (
            document.source == Document.Source.UPLOAD
            and extracted.title
            and title == _title_from_name(document.original_name)
        ):
            title = extracted.title[:300]
        Document.objects.filter(pk=document.pk).update(
            chunks_total=len(drafts),
            chunks_done=_building_chunks_embedded(document=document, model=embedder.name),
            token_count=sum(draft.token_count for draft in drafts),
            page_count=extracted.page_count,
            kind=extracted.kind,
            title=title,
            heartbeat_at=timezone.now(),
        )
    return len(drafts)


def embedding_index_name(model: str) -> str:
    return "chunkemb_hnsw_" + hashlib.sha1(model.encode()).hexdigest()[:12]


_indexes_seen: set[str] = set()


def embedding_index_ensure(*, model: str, dimensions: int) -> str:
    """Create (once) the partial HNSW cosine index for one embedding model. Returns its name.

    Checked before any DDL (and remembered per process): CREATE INDEX, even IF NOT EXISTS, fails
    inside a transaction that has pending deferred constraint checks.
    """
    name = embedding_index_name(model)
    if name in _indexes_seen:
        return name
    literal = model.replace("'", "''")
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_class WHERE relname = %s AND relkind = 'i'", [name])
        if cursor.fetchone():
            _indexes_seen.add(name)
            return name
        cursor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON documents_chunkembedding "
            f"USING hnsw ((embedding::vector({int(dimensions)})) vector_cosine_ops) WHERE model = '{literal}'"
        )
    return name


def _building_chunks_embedded(*, document: Document, model: str) -> int:
    """How many chunks of the generation being built have a vector for `model` (chunks_done)."""
    return ChunkEmbedding.objects.filter(chunk__document=document, chunk__searchable=False, model=model).count()


def _embeddings(chunks: list[Chunk], embedder) -> list[ChunkEmbedding]:
    """Unsaved vectors of `chunks` (heading path + text) for the current model, one batch encoded."""
    vectors = embedder.encode([chunk.embed_text for chunk in chunks])
    return [
        ChunkEmbedding(chunk_id=chunk.pk, model=embedder.name, embedding=vector)
        for chunk, vector in zip(chunks, vectors, strict=True)
    ]


def document_embed(*, document: Document, batch_size: int | None = None, token: str | None = None) -> int:
    """Embed the building generation's chunks that have no vector for the current model yet.

    Batches are committed as they go (chunks_done climbs, the heartbeat is renewed), so a killed
    worker loses one batch at most. With the `token` of the lease holder, embedding stops when the
    lease has passed to another run (the sweep or a reprocess took over). Returns how many chunks
    were embedded now.
    """
    embedder = get_embedder()
    embedding_index_ensure(model=embedder.name, dimensions=embedder.dimensions)
    batch_size = batch_size or settings.EMBEDDING_BATCH_SIZE * 4
    done_now = 0
    while True:
        batch = list(
            Chunk.objects.filter(document=document, searchable=False)
            .exclude(embeddings__model=embedder.name)
            .order_by("position")
            .only("id", "text", "heading_path")[:batch_size]
        )
        if not batch:
            break
        ChunkEmbedding.objects.bulk_create(_embeddings(batch, embedder), ignore_conflicts=True)
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
    return done_now


@transaction.atomic
def document_finalize(*, document: Document) -> Document | None:
    """Swap generations in one transaction: the bot never has neither the old nor the new chunks."""
    document = Document.objects.select_for_update().filter(pk=document.pk).first()
    if document is None or document.status == Document.Status.FAILED:
        return None
    building = Chunk.objects.filter(document=document, searchable=False)
    count = building.count()
    if count == 0 and document.status == Document.Status.READY:
        return document  # already finalized (redelivered task)
    embedder = get_embedder()
    if document.replaces_id is not None:
        # Lock order: documents before the bot's statistics, as document_delete does.
        list(Document.objects.select_for_update().filter(pk=document.replaces_id).values_list("pk"))
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
    document.lease_owner = ""
    document.save()
    if replaced is not None:
        document_delete(document=replaced)
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


def chunks_reembed(*, chunks, batch_size: int | None = None, progress=None) -> int:
    """(Re)compute the current model's vectors for `chunks` (a Chunk queryset); upsert, so idempotent.

    Returns how many vectors were written. `progress(n)` is called after each batch.
    """
    embedder = get_embedder()
    embedding_index_ensure(model=embedder.name, dimensions=embedder.dimensions)
    batch_size = batch_size or settings.EMBEDDING_BATCH_SIZE * 4
    written = 0
    ids = list(chunks.order_by("id").values_list("id", flat=True))
    for start in range(0, len(ids), batch_size):
        batch = list(Chunk.objects.filter(id__in=ids[start : start + batch_size]).only("id", "text", "heading_path"))
        rows = _embeddings(batch, embedder)
        with transaction.atomic():
            ChunkEmbedding.objects.filter(chunk_id__in=[c.pk for c in batch], model=embedder.name).delete()
            ChunkEmbedding.objects.bulk_create(rows)
        written += len(batch)
        if progress:
            progress(len(batch))
    Document.objects.filter(chunks__in=ids).distinct().update(embedding_model=embedder.name)
    return written


# --------------------------------------------------------------------------- recovery


@dataclass
class RecoveryReport:
    requeued: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)


def documents_recover_stuck(*, limit: int = 500) -> RecoveryReport:
    """Beat: re-enqueue documents whose worker or task was lost; never leave one running for ever.

    Picks documents `processing` whose heartbeat is older than RECOVERY_LEASE_SECONDS (their worker
    died and the broker did not redeliver) and documents `pending` for longer than
    RECOVERY_PENDING_GRACE_SECONDS (the publish on commit may have been lost).

    - A lost `processing` document counts one interruption: below the limit it goes back to
      `pending` (queued again, no lease) and the pipeline is enqueued after commit; past it, it ends
      `failed` with a readable error.
    - A `pending` document never ran, or is still waiting its turn behind a long ingestion queue: it
      is published again without counting an interruption (a duplicate message finds the document
      claimed or ready and returns at once), so a big upload never fails documents that only waited.

    Safe when two sweeps run at once: rows are locked with SKIP LOCKED, and a re-enqueued row has a
    fresh `updated_at`, so the other sweep neither waits for nor takes it.
    """
    now = timezone.now()
    expired = lease_cutoff(now)
    pending_since = now - timedelta(seconds=settings.RECOVERY_PENDING_GRACE_SECONDS)
    stuck = Q(status=Document.Status.PROCESSING) & (
        Q(heartbeat_at__lt=expired) | Q(heartbeat_at__isnull=True, updated_at__lt=expired)
    )
    lost = Q(status=Document.Status.PENDING, updated_at__lt=pending_since)
    report = RecoveryReport()
    with transaction.atomic():
        documents = list(
            Document.objects.select_for_update(skip_locked=True).filter(stuck | lost).order_by("id")[:limit]
        )
        for document in documents:
            if document.status == Document.Status.PENDING:
                logger.warning("document %s: pending since %s, published again", document.pk, document.updated_at)
                document.save(update_fields=["updated_at"])
                _enqueue(document)
                report.requeued.append(document.pk)
                continue
            document.interruptions += 1
            if attempts_exhausted(document.interruptions):
                _document_give_up(document)
                report.failed.append(document.pk)
                continue
            logger.warning(
                "document %s: processing, last seen %s, queued again (interruption %s)",
                document.pk, document.heartbeat_at or document.updated_at, document.interruptions,
            )  # fmt: skip
            document.status = Document.Status.PENDING
            document.lease_owner = ""
            document.save(update_fields=["status", "lease_owner", "interruptions", "updated_at"])
            _enqueue(document)
            report.requeued.append(document.pk)
    return report
