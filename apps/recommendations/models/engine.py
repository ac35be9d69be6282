"""Recommendation engine models (issue 7).

- `RecommenderModel`: one training run of an organization's engine (version, status, the
  learnt blend weights and half-lives, validation figures, the popularity snapshot). The latest
  `ready` one serves; older ones are deleted with their factors once a newer one is ready.
- `UserFactor` / `ItemFactor`: the ALS factors of that run in pgvector (untyped column + `dims`,
  one partial HNSW index per dimension count, created by `services.factor_indexes_ensure`), so
  collaborative filtering at request time is an index query.
- `ItemNeighbors`: each item's neighbours of that run in each item-item source (`kind`: co-occurrence,
  EASE, RP3beta, sequence; arrays: one row per item and kind), summed over a user's history at serving.
- `TrendingChart`: what was trending at each moment of that run's data (one row per time bucket),
  so the `trending` source is one index lookup of the bucket of the user's latest event.
- `RecommendationLog`: what was shown to whom, where, from which source and why; click and
  dismiss feedback land on the row, so click-through is measurable per source.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from pgvector.django import VectorField

from apps.core.leases import LeasedWorkModel
from apps.core.models import OrganizationOwnedModel

__all__ = ["ItemFactor", "ItemNeighbors", "RecommendationLog", "RecommenderModel", "TrendingChart", "UserFactor"]


class RecommenderModel(OrganizationOwnedModel, LeasedWorkModel):
    """One training run. While `training`, the run holds the organization's advisory lock (its
    liveness) and the lease fields (docs/recovery.md): a row still `training` whose lock is free lost
    its worker, and is closed `failed` by the next run of the organization or by the recovery sweep."""

    class Status(models.TextChoices):
        TRAINING = "training", "Training"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    version = models.PositiveIntegerField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.TRAINING)
    algorithm = models.CharField(max_length=32, default="implicit-als")
    dims = models.PositiveSmallIntegerField(default=0, help_text="Number of ALS factors (0: no CF in this run).")
    params = models.JSONField(default=dict, help_text="Engine parameters, learnt blend weights and half-lives.")
    validation = models.JSONField(default=dict, help_text="nDCG@10 of the blend and each source on validation.")
    popular = models.JSONField(default=list, help_text="[[item_id, decayed popularity], ...], best first.")
    users_count = models.PositiveIntegerField(default=0)
    items_count = models.PositiveIntegerField(default=0)
    interactions_count = models.PositiveIntegerField(default=0)
    data_until = models.DateTimeField(null=True, blank=True, help_text="Time of the latest interaction used.")
    trained_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "version"], name="recmodel_unique_version"),
        ]
        indexes = [models.Index(fields=["organization", "status", "-version"], name="recmodel_org_status")]

    def __str__(self):
        return f"{self.organization_id} v{self.version} ({self.status})"


class UserFactor(models.Model):
    organization = models.ForeignKey("organizations.Organization", on_delete=models.PROTECT, related_name="+")
    model = models.ForeignKey(RecommenderModel, on_delete=models.CASCADE, related_name="user_factors")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    dims = models.PositiveSmallIntegerField()
    factors = VectorField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["model", "user"], name="userfactor_unique")]

    def __str__(self):
        return f"user {self.user_id} @ model {self.model_id}"


class ItemFactor(models.Model):
    organization = models.ForeignKey("organizations.Organization", on_delete=models.PROTECT, related_name="+")
    model = models.ForeignKey(RecommenderModel, on_delete=models.CASCADE, related_name="item_factors")
    item = models.ForeignKey("progress.ContentItem", on_delete=models.CASCADE, related_name="+")
    dims = models.PositiveSmallIntegerField()
    factors = VectorField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["model", "item"], name="itemfactor_unique")]

    def __str__(self):
        return f"item {self.item_id} @ model {self.model_id}"


class ItemNeighbors(models.Model):
    """One item's top-k neighbours (best first) in one item-item source of one training run: the
    candidate scores of a user are the sums of these weights over their history (engine.sources)."""

    class Kind(models.TextChoices):
        COOCCURRENCE = "cooccurrence", "Item co-occurrence"
        EASE = "ease", "EASE (item-item regression)"
        RP3BETA = "rp3beta", "RP3beta (random walk)"
        SEQUENCE = "sequence", "What people take next"

    organization = models.ForeignKey("organizations.Organization", on_delete=models.PROTECT, related_name="+")
    model = models.ForeignKey(RecommenderModel, on_delete=models.CASCADE, related_name="item_neighbors")
    item = models.ForeignKey("progress.ContentItem", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.COOCCURRENCE)
    neighbors = ArrayField(models.BigIntegerField(), default=list)
    scores = ArrayField(models.FloatField(), default=list)

    class Meta:
        verbose_name_plural = "item neighbors"
        constraints = [models.UniqueConstraint(fields=["model", "item", "kind"], name="itemneighbors_unique_kind")]

    def __str__(self):
        return f"{self.kind} neighbours of {self.item_id} @ model {self.model_id}"


class TrendingChart(models.Model):
    """The items trending at the end of one time bucket of a training run's data, best first
    (engine.fit.trending_fit; the bucket grid is in the run's `params["trending"]`)."""

    organization = models.ForeignKey("organizations.Organization", on_delete=models.PROTECT, related_name="+")
    model = models.ForeignKey(RecommenderModel, on_delete=models.CASCADE, related_name="trending_charts")
    bucket = models.PositiveIntegerField(help_text="Index of the time bucket (0: the one of the first event).")
    items = ArrayField(models.BigIntegerField(), default=list)
    scores = ArrayField(models.FloatField(), default=list)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["model", "bucket"], name="trendingchart_unique_bucket")]

    def __str__(self):
        return f"trending bucket {self.bucket} @ model {self.model_id}"


class RecommendationLog(models.Model):
    """One recommended item as shown in one response (`request_id` groups a response)."""

    class Source(models.TextChoices):
        CF = "cf", "Collaborative filtering"
        COOCCURRENCE = "cooccurrence", "Item co-occurrence"
        EASE = "ease", "EASE (item-item regression)"
        RP3BETA = "rp3beta", "RP3beta (random walk)"
        SEQUENCE = "sequence", "What people take next"
        CONTENT = "content", "Content similarity"
        POPULAR = "popular", "Popular and recent"
        TRENDING = "trending", "Trending"
        COURSE = "course", "Next in course"
        PREREQUISITE = "prerequisite", "Prerequisite"
        GRAPH = "graph", "Knowledge graph"
        INTERESTS = "interests", "Member interests"
        CHAT = "chat", "Asked about in chat"

    id = models.BigAutoField(primary_key=True)
    organization = models.ForeignKey(
        "organizations.Organization", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False)
    item = models.ForeignKey("progress.ContentItem", on_delete=models.CASCADE, related_name="+", db_index=False)
    request_id = models.UUIDField(db_index=True)
    position = models.PositiveIntegerField(help_text="1-based rank in the response (offset included).")
    source = models.CharField(max_length=16, choices=Source.choices)
    reason = models.CharField(max_length=300)
    score = models.FloatField()
    model_version = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    clicked_at = models.DateTimeField(null=True, blank=True)
    dismissed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "user", "created_at"], name="reclog_org_user_created"),
            models.Index(fields=["organization", "source", "created_at"], name="reclog_org_source_created"),
            # Click-through analytics (issue 18, apps.analytics.selectors.analytics_recommendations): an
            # index-only scan of the date range; without the INCLUDE columns every shown item is a heap
            # fetch (13x slower at 20,000 rows in the range, docs/analytics.md).
            models.Index(
                fields=["organization", "created_at"],
                include=["source", "position", "clicked_at", "dismissed_at"],
                name="reclog_org_created_ctr",
            ),
            # The foreign-key check of each catalog item deleted (a deleted organization's purge deletes its whole
            # catalog): without it every item read the whole log (docs/api.md#deleting-an-organization).
            models.Index(fields=["item"], name="reclog_item"),
        ]

    def __str__(self):
        return f"{self.user_id} <- {self.item_id} #{self.position} ({self.source})"
