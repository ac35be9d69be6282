"""Progress tracking: the content catalog, progress per user x item, and the interaction event log.

- `ContentItem`: anything an organization offers (course, lesson, article, product, business...).
  A course's lessons point at it through `parent` (ordered by `position`); prerequisites are a
  self-M2M through `ContentPrerequisite`, which carries the organization like every tenant row.
  `parent` is PROTECT: deleting a course never silently deletes its lessons (the API answers 409
  and asks to delete or move them first; retire items with `active=false`).
- `ContentEmbedding`: one vector of (title, description, tags) per (item, embedding model), in an
  untyped pgvector column with one partial HNSW cosine index per model, as for document chunks.
  `content_hash` on the item and on the vector says whether the vector is stale.
- `Progress`: one row per (organization, user, item).
- `Interaction`: the append-only event log (view, start, complete, like, ...), idempotent per
  (organization, idempotency_key). Sized for millions of rows: composite btree indexes that match
  the analytics queries (apps/analytics/selectors.py reads these tables), and no single-column FK
  indexes they would make redundant (fewer index writes per event; see Meta.indexes).
"""

from __future__ import annotations

import hashlib
import json

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import Q
from pgvector.django import VectorField

from apps.core.models import OrganizationOwnedModel


class ContentKind(models.TextChoices):
    COURSE = "course", "Course"
    MODULE = "module", "Module"
    LESSON = "lesson", "Lesson"
    QUIZ = "quiz", "Quiz"
    ARTICLE = "article", "Article"
    VIDEO = "video", "Video"
    PODCAST = "podcast", "Podcast"
    EVENT = "event", "Event"
    PRODUCT = "product", "Product"
    BUSINESS = "business", "Business"
    OTHER = "other", "Other"


def content_embed_text(title: str, description: str, tags) -> str:
    """What is embedded for an item: its title, description and tags."""
    parts = [title.strip()]
    if description and description.strip():
        parts.append(description.strip())
    if tags:
        parts.append("Tags: " + ", ".join(tags))
    return "\n\n".join(parts)


def content_hash_of(title: str, description: str, tags) -> str:
    """SHA-256 of the embedded fields: the vector is recomputed only when this changes."""
    payload = json.dumps([title, description or "", list(tags or [])], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


class ContentItem(OrganizationOwnedModel):
    external_id = models.CharField(
        max_length=255, null=True, blank=True, help_text="The item's id in the system that owns the catalog."
    )
    title = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    body = models.TextField(blank=True)
    kind = models.CharField(max_length=32, choices=ContentKind.choices, default=ContentKind.OTHER)
    url = models.URLField(max_length=1000, blank=True)
    tags = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    categories = ArrayField(models.CharField(max_length=100), default=list, blank=True)
    difficulty = models.PositiveSmallIntegerField(null=True, blank=True, help_text="1 (easiest) to 5.")
    duration_minutes = models.PositiveIntegerField(null=True, blank=True)
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="children", db_index=False
    )
    position = models.PositiveIntegerField(default=0, help_text="Order within the parent.")
    prerequisites = models.ManyToManyField(
        "self",
        through="ContentPrerequisite",
        through_fields=("item", "prerequisite"),
        symmetrical=False,
        related_name="required_by",
        blank=True,
    )
    metadata = models.JSONField(default=dict, blank=True)
    active = models.BooleanField(default=True)
    content_hash = models.CharField(max_length=64, blank=True, help_text="SHA-256 of title, description and tags.")

    class Meta:
        ordering = ["parent_id", "position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "external_id"],
                condition=Q(external_id__isnull=False),
                name="content_unique_external_id",
            ),
            models.CheckConstraint(
                condition=Q(difficulty__isnull=True) | Q(difficulty__gte=1, difficulty__lte=5),
                name="content_difficulty_1_5",
            ),
            models.CheckConstraint(condition=Q(kind__in=ContentKind.values), name="content_kind_valid"),
            models.CheckConstraint(condition=~Q(parent=models.F("id")), name="content_not_own_parent"),
        ]
        indexes = [
            models.Index(fields=["organization", "kind"], name="content_org_kind"),
            models.Index(fields=["organization", "active"], name="content_org_active"),
            models.Index(fields=["parent", "position"], name="content_parent_position"),
            GinIndex(fields=["tags"], name="content_tags_gin"),
            GinIndex(fields=["categories"], name="content_categories_gin"),
        ]

    def __str__(self):
        return self.title

    @property
    def embed_text(self) -> str:
        return content_embed_text(self.title, self.description, self.tags)

    def compute_content_hash(self) -> str:
        return content_hash_of(self.title, self.description, self.tags)


class ContentPrerequisite(models.Model):
    """`prerequisite` should be done before `item`. Both belong to `organization`."""

    organization = models.ForeignKey("organizations.Organization", on_delete=models.PROTECT, related_name="+")
    item = models.ForeignKey(ContentItem, on_delete=models.CASCADE, related_name="prerequisite_links")
    prerequisite = models.ForeignKey(ContentItem, on_delete=models.CASCADE, related_name="required_by_links")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["item_id", "prerequisite_id"]
        constraints = [
            models.UniqueConstraint(fields=["item", "prerequisite"], name="content_prerequisite_unique"),
            models.CheckConstraint(condition=~Q(item=models.F("prerequisite")), name="content_prerequisite_not_self"),
        ]

    def __str__(self):
        return f"{self.prerequisite_id} before {self.item_id}"


class ContentEmbedding(models.Model):
    """One vector per (item, embedding model); upserted, so re-running is idempotent.

    `content_hash` is the item's hash when the vector was computed: a mismatch means stale.
    Searched by cosine distance through a partial HNSW index per model
    (`services.content_embedding_index_ensure`; the default model's index is in migration 0001).
    """

    organization = models.ForeignKey("organizations.Organization", on_delete=models.PROTECT, related_name="+")
    item = models.ForeignKey(ContentItem, on_delete=models.CASCADE, related_name="embeddings")
    model = models.CharField(max_length=200)
    content_hash = models.CharField(max_length=64)
    embedding = VectorField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "model"], name="content_embedding_unique_model")]
        indexes = [models.Index(fields=["organization", "model"], name="contentemb_org_model")]

    def __str__(self):
        return f"{self.item_id} @ {self.model}"


class Progress(OrganizationOwnedModel):
    class Status(models.TextChoices):
        NOT_STARTED = "not_started", "Not started"
        IN_PROGRESS = "in_progress", "In progress"
        COMPLETED = "completed", "Completed"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False)
    item = models.ForeignKey(ContentItem, on_delete=models.CASCADE, related_name="progress_rows")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NOT_STARTED)
    percent = models.FloatField(default=0)
    score = models.FloatField(null=True, blank=True, help_text="0 to 100 (e.g. a quiz result).")
    time_spent_seconds = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    last_activity_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_activity_at", "-id"]
        verbose_name_plural = "progress"
        constraints = [
            models.UniqueConstraint(fields=["organization", "user", "item"], name="progress_unique_user_item"),
            models.CheckConstraint(condition=Q(percent__gte=0, percent__lte=100), name="progress_percent_0_100"),
            models.CheckConstraint(
                condition=Q(score__isnull=True) | Q(score__gte=0, score__lte=100), name="progress_score_0_100"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["not_started", "in_progress", "completed"]), name="progress_status_valid"
            ),
            models.CheckConstraint(
                condition=~Q(status="completed") | Q(completed_at__isnull=False, percent=100),
                name="progress_completed_consistent",
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "user", "status"], name="progress_org_user_status"),
            models.Index(fields=["organization", "status", "completed_at"], name="progress_org_status_done"),
            # The progress list's order (selectors.progress_list): a page is read from this index instead of
            # sorting every row of the organization (first page at 200,000 rows: 238 -> 5 ms, EXPLAIN ANALYZE).
            models.Index(fields=["organization", "-last_activity_at", "-id"], name="progress_org_last_activity"),
        ]

    def __str__(self):
        return f"{self.user_id} x {self.item_id}: {self.status} {self.percent:g}%"


class InteractionKind(models.TextChoices):
    VIEW = "view", "View"
    START = "start", "Start"
    COMPLETE = "complete", "Complete"
    LIKE = "like", "Like"
    SAVE = "save", "Save"
    SHARE = "share", "Share"
    PURCHASE = "purchase", "Purchase"
    RATE = "rate", "Rate"
    DISMISS = "dismiss", "Dismiss"


#: weight of an event when the sender gives none (a negative weight is a negative signal).
DEFAULT_INTERACTION_WEIGHTS = {
    InteractionKind.VIEW: 1.0,
    InteractionKind.START: 2.0,
    InteractionKind.COMPLETE: 5.0,
    InteractionKind.LIKE: 3.0,
    InteractionKind.SAVE: 3.0,
    InteractionKind.SHARE: 4.0,
    InteractionKind.PURCHASE: 5.0,
    InteractionKind.RATE: 2.0,
    InteractionKind.DISMISS: -2.0,
}


class Interaction(models.Model):
    """An event: `user` did `kind` with `item` at `occurred_at`. Append-only.

    Retries never double-count: `idempotency_key` is unique per organization, and batch ingestion
    inserts with ON CONFLICT DO NOTHING. The composite indexes below serve every query
    (organization-leading), and each index is one more write per event; `user` has no index of its own, so
    deleting a user scans this table (rare admin work). `item` has one: PostgreSQL checks the foreign key of
    every catalog item deleted with a `WHERE item_id = ...` here, and a deleted organization's purge deletes its
    whole catalog — without it, on PostgreSQL 17 (no skip scan) each item read the whole composite index of
    every organization (docs/api.md#deleting-an-organization). It costs 12% of a bulk insert (500,000 rows:
    7.4 -> 8.3 s, 7 December 2026).
    """

    id = models.BigAutoField(primary_key=True)
    organization = models.ForeignKey(
        "organizations.Organization", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False)
    item = models.ForeignKey(ContentItem, on_delete=models.CASCADE, related_name="interactions", db_index=False)
    kind = models.CharField(max_length=16, choices=InteractionKind.choices)
    weight = models.FloatField(default=1.0)
    value = models.FloatField(null=True, blank=True, help_text="Rating for `rate`, amount for `purchase`...")
    occurred_at = models.DateTimeField()
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="interaction_unique_idempotency_key",
            ),
            models.CheckConstraint(condition=Q(kind__in=InteractionKind.values), name="interaction_kind_valid"),
        ]
        indexes = [
            models.Index(fields=["organization", "occurred_at"], name="interaction_org_occurred"),
            models.Index(fields=["organization", "item", "kind"], name="interaction_org_item_kind"),
            models.Index(fields=["organization", "user", "occurred_at"], name="interaction_org_user_occurred"),
            models.Index(fields=["item"], name="interaction_item"),
        ]

    def __str__(self):
        return f"{self.user_id} {self.kind} {self.item_id} @ {self.occurred_at:%Y-%m-%d %H:%M}"
