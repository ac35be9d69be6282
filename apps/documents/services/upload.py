"""What people do to a bot's knowledge base: upload files (with de-duplication and versions), add a
text document, delete documents, ask for a document to be processed again.

Each of these hands the document to the ingestion pipeline (`pipeline.py`) after commit with
`document_pipeline_enqueue`. Stored files are I/O, kept out of transactions: an upload writes the
files first and then the rows in one transaction, deleting the files it wrote if that fails; a
deletion removes the file after commit.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import connection, transaction
from django.db.models import Q, Sum
from django.db.models.functions import Greatest

from apps.bots.models import Bot
from apps.core.exceptions import ApplicationError
from apps.core.locks import transaction_lock
from apps.documents.calibration import calibration_schedule
from apps.documents.extraction import MIME_TYPES, extension_kind
from apps.documents.lexeme_stats import lexeme_stats_clear, lexeme_stats_documents_remove
from apps.documents.models import Document
from apps.organizations.services import plan_limit_check

MB = 1024 * 1024
#: `Document.original_name` holds the name as given, up to this many characters.
NAME_MAX_CHARS = 255
#: The stored file's own name in bytes: file systems refuse a name component over 255 bytes (an
#: accented or CJK name of 100 characters can be 300), so the stored name is shortened to this.
STORED_NAME_MAX_BYTES = 120


@dataclass
class IncomingFile:
    name: str
    data: bytes
    # A page or file of a website source (apps/sources): the document is `source=url`, keeps the URL
    # for citations, and its versions follow the URL instead of the name.
    url: str = ""

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass
class UploadOutcome:
    document: Document
    outcome: str  # created | duplicate | new_version


def document_pipeline_enqueue(document: Document) -> None:
    """The ingestion chain after commit; a lost publish leaves the document pending for the recovery
    sweep (docs/operations.md)."""
    from apps.core.tasks import enqueue_on_commit
    from workers.tasks.chunking import document_pipeline

    enqueue_on_commit(document_pipeline(document.organization_id, document.pk))


def _file_limit_mb(organization) -> int:
    return min(filter(None, [organization.plan.max_file_size_mb, settings.DOCUMENT_MAX_UPLOAD_MB]))


def _check_limits(*, organization, bot, new_sizes: list[int], new_documents: int) -> None:
    plan = organization.plan
    for size in new_sizes:
        limit_mb = _file_limit_mb(organization)
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
        # A deleted bot's documents (their purge under way) no longer count.
        stored = Document.objects.filter(organization=organization, bot__deleted_at__isnull=True)
        used = stored.aggregate(total=Sum("size"))["total"] or 0
        plan_limit_check(
            organization=organization,
            limit="max_storage_mb",
            used=round(used / MB, 2),
            adding=round(sum(new_sizes) / MB, 2),
        )


class _FileNotStored(Exception):
    """The upload's transaction needs the stored file of a digest it did not expect to create (the
    document that had these bytes was deleted meanwhile): store it and run the transaction again."""

    def __init__(self, digest: str):
        super().__init__(digest)
        self.digest = digest


def document_upload(
    *, organization, bot, files: list[IncomingFile], created_by=None, enqueue: bool = True
) -> list[UploadOutcome]:
    """Store uploaded files as documents of `bot` and queue their ingestion.

    All files are checked first (type by name, plan limits); one refused file refuses the request,
    so nothing is half-stored. A file whose sha256 is already in the bot is not stored again (the
    existing document is returned); a changed file under an existing name becomes a new version
    that replaces the old one when it is ready.

    The files are written before the rows, in their own transaction (durable: the caller must not
    hold one, the upload API opts out of ATOMIC_REQUESTS), so no storage I/O happens while rows are
    locked. If the transaction fails, the files written for it are deleted: neither a row without
    its file nor a file without its row.
    """
    assert bot.organization_id == organization.pk
    _check_request(files)
    by_digest: dict[str, IncomingFile] = {}
    for incoming in files:  # the first file of each content names its stored file, as its document
        by_digest.setdefault(incoming.sha256, incoming)
    present = set(Document.objects.filter(bot=bot, sha256__in=list(by_digest)).values_list("sha256", flat=True))
    # Files over the size limit are not written: the transaction refuses them (413) before any row.
    limit = _file_limit_mb(organization) * MB
    wanted = [digest for digest, incoming in by_digest.items() if digest not in present and len(incoming.data) <= limit]
    stored: dict[str, str] = {}
    try:
        while True:
            for digest in wanted:
                if digest not in stored:
                    stored[digest] = _file_store(organization=organization, bot=bot, incoming=by_digest[digest])
            try:
                # Every on_commit callback registered in here is robust (publishes, a replaced
                # version's file deletion): an exception out of this block means nothing committed.
                with transaction.atomic(durable=True):
                    outcomes = _documents_store(
                        organization, bot, files, stored, created_by=created_by, enqueue=enqueue
                    )
                break
            except _FileNotStored as missing:
                wanted.append(missing.digest)
    except BaseException:
        _files_delete(stored.values())
        raise
    # Bytes another upload stored first (it committed between our look and our transaction).
    used = {outcome.document.file.name for outcome in outcomes}
    _files_delete(name for name in stored.values() if name not in used)
    return outcomes


def _check_request(files: list[IncomingFile]) -> None:
    """The request itself: at least one file, supported types by name, no name twice."""
    if not files:
        raise ApplicationError("No file was uploaded; send one or more files in the 'files' field.", code="no_file")
    for incoming in files:
        if extension_kind(incoming.name) is None:
            raise ApplicationError(
                f"'{incoming.name}' is not a supported type; upload txt, md, rst, html, pdf or docx files.",
                code="unsupported_type",
                status_code=415,
            )
    for incoming in files:
        if len(incoming.name) > NAME_MAX_CHARS:
            raise ApplicationError(
                f"The file name '{incoming.name[:60]}…' is {len(incoming.name)} characters long; "
                f"names may have at most {NAME_MAX_CHARS}.",
                code="name_too_long",
            )
    names = [incoming.name for incoming in files]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ApplicationError(
            f"The same file name appears twice in one upload: {', '.join(repeated)}.", code="duplicate_name"
        )


def _file_store(*, organization, bot, incoming: IncomingFile) -> str:
    """Write the bytes where the document of this digest keeps them (`document_upload_to`); the name."""
    holder = Document(organization=organization, bot=bot, sha256=incoming.sha256)
    holder.file.save(stored_name(incoming.name), ContentFile(incoming.data), save=False)
    return holder.file.name


def stored_name(name: str) -> str:
    """The name a file is stored under: the last part of `name`, shortened to STORED_NAME_MAX_BYTES
    of UTF-8 with its extension kept (the document keeps the full name in `original_name`)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, extension = base.rpartition(".")
    if not dot:
        stem, extension = base, ""
    suffix = f".{extension}" if dot else ""
    room = STORED_NAME_MAX_BYTES - len(suffix.encode())
    short = stem.encode()[: max(room, 1)].decode(errors="ignore") or "file"
    return short + suffix


def _files_delete(names) -> None:
    storage = Document._meta.get_field("file").storage
    for name in names:
        storage.delete(name)


def _documents_lock(organization) -> None:
    """Until the transaction ends, the writes that add documents to `organization` run one at a time (a transaction
    advisory lock, as boards and personality use per member), each seeing what the one before it committed. Two
    uploads of the same file at once then make one document and one `duplicate`, not a refused insert, and two
    uploads cannot together pass a plan limit (documents per bot, storage per organization) that each checks
    against what is stored. Held for the rows alone: the files are stored before, outside the transaction. An
    advisory lock, not the organization's row: a row lock would also hold up every insert that references the
    organization (its foreign-key check), events and chunks included."""
    transaction_lock(f"documents:{organization.pk}")


def _documents_store(
    organization, bot, files: list[IncomingFile], stored: dict[str, str], *, created_by, enqueue: bool
) -> list[UploadOutcome]:
    """The rows of an upload, in the caller's transaction; files already in storage (`stored`)."""
    _documents_lock(organization)
    seen: dict[str, Document] = {}
    plan: list[tuple[IncomingFile, Document | None, Document | None]] = []
    for incoming in files:
        digest = incoming.sha256
        existing = seen.get(digest) or Document.objects.filter(bot=bot, sha256=digest).first()
        previous = None
        if existing is None:
            previous = _version_base(bot=bot, name=incoming.name, url=incoming.url)
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
        if digest not in stored:
            raise _FileNotStored(digest)
        kind = extension_kind(incoming.name)
        document = Document(
            organization=organization,
            bot=bot,
            title=document_title_from_name(incoming.name),
            source=Document.Source.URL if incoming.url else Document.Source.UPLOAD,
            url=incoming.url,
            file=stored[digest],
            original_name=incoming.name,
            mime_type=MIME_TYPES[kind],
            kind=kind,
            size=len(incoming.data),
            sha256=digest,
            version=previous.version + 1 if previous else 1,
            replaces=previous,
            created_by=created_by,
        )
        document.save()
        if enqueue:
            document_pipeline_enqueue(document)
        created[digest] = document
        outcomes.append(UploadOutcome(document, "new_version" if previous else "created"))
    return outcomes


def _version_base(*, bot, name: str, url: str = "") -> Document | None:
    """The document a new upload under `name` (a fetched page: under `url`) will replace, or None for a
    new name.

    A newer version still in the pipeline blocks another one (409); a newer version that failed
    is dropped and the new upload replaces the version it was meant to replace.
    """
    same = (
        {"source": Document.Source.URL, "url": url}
        if url
        else {"source": Document.Source.UPLOAD, "original_name": name}
    )
    latest = Document.objects.select_for_update(of=("self",)).filter(bot=bot, **same).order_by("-version").first()
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


def document_title_from_name(name: str) -> str:
    """A readable title from a file name (until extraction finds the document's own title)."""
    stem = name.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return stem.replace("_", " ").replace("-", " ").strip()[:300] or name[:300]


@transaction.atomic
def document_create_from_text(*, organization, bot, title: str, text: str, url: str = "", created_by=None):
    """A document from raw text; returns (document, outcome) like an upload."""
    assert bot.organization_id == organization.pk
    data = text.encode()
    digest = hashlib.sha256(data).hexdigest()
    _documents_lock(organization)
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
    document_pipeline_enqueue(document)
    return document, "created"


@transaction.atomic
def document_delete(*, document: Document) -> None:
    """Delete a document, its chunks and embeddings and, after commit, its file (`documents_delete`). A ready
    document leaves the knowledge base: the bot's refusal cut-off is recalibrated (debounced).

    Its searchable chunks leave the bot's term statistics in the same transaction (row lock on the
    document first, then the statistics: the order finalize uses)."""
    documents_delete(documents=[document])


@transaction.atomic
def documents_delete(*, documents) -> int:
    """Delete these documents together (a website source's pages, a version's predecessor, one document): rows
    (and the versions replacing them) locked in id order, then their searchable chunks out of their bot's term
    statistics in one pass, one recalibration scheduled per bot that loses a ready document, vectors and chunks in
    one statement each, files after commit. Returns how many were deleted (one already gone is skipped).

    Not `document_delete` one by one: each took its chunks out of the statistics alone and scheduled its own
    recalibration, 14 queries and 177 ms a document (a website source of 473 pages, 13,409 chunks: 83.8 s in the
    request)."""
    ids = sorted({document.pk for document in documents})
    # With the newer versions that replace them (the delete sets their `replaces` to null), in one statement in id
    # order: the order `document_finalize` takes a version and its predecessor in.
    wanted = set(ids)
    locked = [
        row
        for row in Document.objects.select_for_update()
        .filter(Q(pk__in=ids) | Q(replaces_id__in=ids))
        .order_by("id")
        .only("id", "file", "bot_id", "organization_id", "status")
        if row.pk in wanted
    ]
    bots: dict[int, list[Document]] = {}
    for document in locked:
        bots.setdefault(document.bot_id, []).append(document)
    for bot_id, of_bot in sorted(bots.items()):  # the bots' statistics locks in one order
        lexeme_stats_documents_remove(document_ids=[document.pk for document in of_bot], bot_id=bot_id)
        if any(document.status == Document.Status.READY for document in of_bot):
            calibration_schedule(organization_id=of_bot[0].organization_id, bot_id=bot_id)
    _documents_delete(locked)
    return len(locked)


@transaction.atomic
def bot_documents_delete(*, organization_id: int, bot_id: int) -> int:
    """Delete every document of a bot (chunks and vectors, files after commit); called when the bot row is about to
    go, in its transaction (`bot_deleting`: what `bot_documents_purge_batch` left, usually nothing). Returns the count.

    Not `document_delete` one by one: that took each document's chunks out of the term statistics and scheduled a
    recalibration, work for a bot that stays (a bot of 1,000 documents and 100,000 chunks took 89 s and 15,516
    queries). The bot's statistics go whole, the vectors and chunks in one statement each, then the documents."""
    # All rows locked first (in id order), so a concurrent finalize cannot hold one of them while waiting for the
    # statistics this deletion holds; NOWAIT: one held by a pipeline stage fails the bot's last transaction at once
    # (the purge comes back later), where waiting could deadlock with that stage's insert checking the bot row.
    documents = list(
        Document.objects.select_for_update(nowait=True)
        .filter(organization_id=organization_id, bot_id=bot_id)
        .order_by("id")
        .only("id", "file")
    )
    if not Bot.all_objects.filter(pk=bot_id, organization_id=organization_id).exists():
        return 0  # not a bot of this organization: its statistics are not this event's
    lexeme_stats_clear(bot_id=bot_id)
    _documents_delete(documents)
    return len(documents)


#: documents per batch of a deleted bot's purge, however few chunks they hold (the ORM's delete of the rows reads
#: their crawl pages and newer versions by id)
PURGE_DOCUMENTS = 1_000


def bot_documents_purge_batch(*, organization_id: int, bot_id: int) -> int:
    """Delete one batch of a deleted bot's documents, in a transaction of its own (`bot_purging`): in id order, at
    most PURGE_DOCUMENTS documents holding at most BOT_PURGE_BATCH_CHUNKS chunks together (at least one document,
    whatever its size); documents locked by a pipeline stage are skipped (`bot_documents_delete` waits for them at
    the end). The term statistics are left to the end (they serve no search of a deleted bot). Returns the
    documents deleted."""
    with transaction.atomic():
        candidates = (
            Document.objects.select_for_update(skip_locked=True)
            .filter(organization_id=organization_id, bot_id=bot_id)
            .order_by("id")
            .annotate(purge_size=Greatest("chunk_count", "chunks_total"))  # chunk_count is set when it turns ready
            .only("id", "file")[:PURGE_DOCUMENTS]
        )
        documents, chunks = [], 0
        for document in candidates:
            if documents and chunks + document.purge_size > settings.BOT_PURGE_BATCH_CHUNKS:
                break
            documents.append(document)
            chunks += document.purge_size
        # A document whose newer version a pipeline stage holds waits for a later batch: its delete updates that
        # version's `replaces`, and waiting for it here while the stage waits for this one would deadlock.
        chosen = {document.pk for document in documents}
        successors = dict(
            Document.objects.filter(replaces_id__in=chosen).exclude(pk__in=chosen).values_list("pk", "replaces_id")
        )
        if successors:
            free = Document.objects.select_for_update(skip_locked=True).filter(pk__in=successors)
            held = set(successors) - set(free.values_list("pk", flat=True))
            documents = [document for document in documents if document.pk not in {successors[pk] for pk in held}]
        _documents_delete(documents)
    return len(documents)


def _documents_delete(documents: list[Document]) -> None:
    """Delete these documents (locked by the caller) with their chunks and vectors, set-based, and their files once
    the transaction commits."""
    if not documents:
        return
    ids = [document.pk for document in documents]
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM documents_chunkembedding e USING documents_chunk c "
            "WHERE e.chunk_id = c.id AND c.document_id = ANY(%s)",
            [ids],
        )
        cursor.execute("DELETE FROM documents_chunk WHERE document_id = ANY(%s)", [ids])
    Document.objects.filter(pk__in=ids).delete()
    for document in documents:
        if document.file:
            storage, name = document.file.storage, document.file.name
            # Robust: once the rows are gone, a storage error is logged, never raised into the caller.
            transaction.on_commit(lambda storage=storage, name=name: storage.delete(name), robust=True)


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
    document_pipeline_enqueue(document)
    return document
