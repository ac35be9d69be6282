"""The knowledge base: documents of a bot, their chunks (full-text) and chunk embeddings (pgvector).

Embeddings live in their own table keyed by (chunk, model) with an untyped `vector` column, so a
model change needs no migration: each model gets a partial HNSW index on
`(embedding::vector(<dims>))` (created by `services.embeddings.embedding_index_ensure`).
"""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from pgvector.django import VectorField

from apps.core.leases import LeasedWorkModel
from apps.core.models import OrganizationOwnedModel


def document_upload_to(document, filename: str) -> str:
    return f"documents/{document.organization_id}/{document.bot_id}/{document.sha256[:2]}/{document.sha256}/{filename}"


class Document(OrganizationOwnedModel, LeasedWorkModel):
    """A knowledge-base document. While `processing`, the pipeline stage working on it holds a lease
    (`heartbeat_at`, `lease_owner`, `interruptions`; apps/core/leases.py, docs/recovery.md)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PROCESSING = "processing", "Processing"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    class Source(models.TextChoices):
        UPLOAD = "upload", "Upload"
        TEXT = "text", "Text"
        URL = "url", "URL"

    organization = models.ForeignKey(
        "organizations.Organization", on_delete=models.PROTECT, related_name="documents", db_index=True
    )
    bot = models.ForeignKey("bots.Bot", on_delete=models.CASCADE, related_name="documents")
    title = models.CharField(max_length=300)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.UPLOAD)
    file = models.FileField(upload_to=document_upload_to, max_length=500, blank=True)
    original_name = models.CharField(max_length=255, blank=True)
    text = models.TextField(blank=True, help_text="The content of text documents (source=text).")
    url = models.URLField(max_length=1000, blank=True, help_text="Where people can read the original.")
    mime_type = models.CharField(max_length=120, blank=True)
    kind = models.CharField(max_length=8, blank=True, help_text="Detected type: txt, md, html, pdf, docx.")
    size = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64)
    version = models.PositiveIntegerField(default=1)
    # The older version this one replaces once it is ready (then that one is deleted).
    replaces = models.OneToOneField(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="replaced_by"
    )
    # The ids of the versions this one replaced, oldest first: `documents/{id}/` with an earlier version's id (a
    # stored id, a citation's `document_id`) finds this one instead of a 404 (selectors.document_get).
    earlier_ids = ArrayField(models.BigIntegerField(), default=list, blank=True, editable=False)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING, db_index=True)
    error = models.TextField(blank=True)
    chunks_total = models.PositiveIntegerField(default=0)
    chunks_done = models.PositiveIntegerField(default=0)
    chunk_count = models.PositiveIntegerField(default=0)
    token_count = models.PositiveIntegerField(default=0)
    page_count = models.PositiveIntegerField(null=True, blank=True)
    embedding_model = models.CharField(max_length=200, blank=True)
    # The document's language (ISO 639-1; '' = not told) and the PostgreSQL text-search configuration
    # its chunks are indexed with: the bot's language, or detected when the bot's is `auto`
    # (apps/core/languages.py). Set by the pipeline when the text is extracted.
    language = models.CharField(max_length=8, blank=True)
    search_config = models.CharField(max_length=32, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    processing_started_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["bot", "sha256"], name="document_unique_content_per_bot"),
        ]
        indexes = [
            models.Index(fields=["bot", "original_name"]),
            # an earlier version's id (selectors.document_get): one index probe on a miss, not a read of every row
            GinIndex(fields=["earlier_ids"], name="document_earlier_ids"),
        ]

    def __str__(self):
        return self.title

    @property
    def progress(self) -> float:
        return round(self.chunks_done / self.chunks_total, 4) if self.chunks_total else 0.0


class Chunk(models.Model):
    organization = models.ForeignKey("organizations.Organization", on_delete=models.PROTECT, related_name="+")
    bot = models.ForeignKey("bots.Bot", on_delete=models.CASCADE, related_name="+")
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks")
    position = models.PositiveIntegerField()
    text = models.TextField()
    heading_path = ArrayField(models.CharField(max_length=300), default=list, blank=True)
    page = models.PositiveIntegerField(null=True, blank=True)
    char_start = models.PositiveIntegerField(default=0)
    char_end = models.PositiveIntegerField(default=0)
    token_count = models.PositiveIntegerField(default=0)
    content_hash = models.CharField(max_length=64)
    search_vector = SearchVectorField(null=True)
    # The text-search configuration `search_vector` was built with (the document's when chunked; kept per
    # chunk, since a reprocess may index the next generation in another language). A question is parsed
    # with each configuration of the bot's chunks (selectors.chunk_search).
    search_config = models.CharField(max_length=32)
    # True once the document is ready: searches only see searchable chunks, so a new version's
    # chunks appear in the same transaction that removes the old version's.
    searchable = models.BooleanField(default=False)

    class Meta:
        ordering = ["document_id", "position"]
        # Two generations per document at most: the searchable one, and the one being built
        # (a reprocess or a first ingestion); finalize swaps them in one transaction.
        constraints = [
            models.UniqueConstraint(
                fields=["document", "position", "searchable"], name="chunk_unique_position_per_generation"
            )
        ]
        indexes = [
            GinIndex(fields=["search_vector"], name="chunk_search_vector_gin"),
            models.Index(fields=["bot", "searchable"], name="chunk_bot_searchable"),
        ]

    def __str__(self):
        return f"{self.document_id}#{self.position}"

    @property
    def embed_text(self) -> str:
        """What is embedded: the heading path, then the text (so headings steer the meaning)."""
        return chunk_embed_text(self.heading_path, self.text)


def chunk_embed_text(heading_path, text: str) -> str:
    return f"{' > '.join(heading_path)}\n\n{text}" if heading_path else text


class ChunkEmbedding(models.Model):
    """One vector per (chunk, embedding model); upserted, so re-running is idempotent."""

    chunk = models.ForeignKey(Chunk, on_delete=models.CASCADE, related_name="embeddings")
    model = models.CharField(max_length=200)
    embedding = VectorField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["chunk", "model"], name="chunk_embedding_unique_model")]

    def __str__(self):
        return f"{self.chunk_id} @ {self.model}"


class BotTextStats(models.Model):
    """A bot's searchable-corpus totals for BM25, per text-search configuration (its chunks in that
    language): how many chunks, and their summed length in lexeme occurrences (tsvector positions), so
    avgdl = lexeme_total / chunk_count.

    Kept exact by `lexeme_stats.lexeme_stats_apply` in the transaction that changes what is searchable;
    `manage.py rebuild_lexeme_stats` recounts from the chunks."""

    bot = models.ForeignKey("bots.Bot", on_delete=models.CASCADE, related_name="+")
    config = models.CharField(max_length=32)
    chunk_count = models.BigIntegerField(default=0)
    lexeme_total = models.BigIntegerField(default=0)

    class Meta:
        verbose_name_plural = "bot text stats"
        constraints = [models.UniqueConstraint(fields=["bot", "config"], name="bot_text_stats_unique_config")]

    def __str__(self):
        return f"{self.bot_id}/{self.config}: {self.chunk_count} chunks"


class LexemeStat(models.Model):
    """Document frequency of one lexeme among a bot's searchable chunks of one text-search configuration
    (BM25's idf). Rows whose count falls to 0 are deleted."""

    bot = models.ForeignKey("bots.Bot", on_delete=models.CASCADE, related_name="+")
    config = models.CharField(max_length=32)
    lexeme = models.TextField()
    df = models.IntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["bot", "config", "lexeme"], name="lexeme_stat_unique_per_bot")]

    def __str__(self):
        return f"{self.bot_id}/{self.config}:{self.lexeme}={self.df}"
