"""Graph projection models: `GraphOutbox`, the pending writes to the knowledge graph (issue 7).

A row is a *change notice*, written in the same transaction as the change it announces: "the
graph state of this user / content item / (user, item) progress / (user, item, kind) interaction
aggregate in this organization may have changed". The drain (`apps.graph.sync`)
reads the entity's *current* state from PostgreSQL and applies it with idempotent MERGE Cypher,
so the graph converges on what is committed whatever the order, duplication or retries of rows.
A row is deleted once applied; a failed row stays with `attempts`, `last_error` and a backed-off
`next_attempt_at`. See docs/graph.md.

The table keeps its `recommendations_` name: the model was created in the recommendations app
(issue 7) and moved here without touching the database (issue 15, migrations 0001 here and
recommendations 0007: state only).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

__all__ = ["GraphOutbox"]


class GraphOutbox(models.Model):
    class Kind(models.TextChoices):
        USER = "user", "User (membership and profile)"
        CONTENT = "content", "Content item (tags, categories, parent, prerequisites)"
        PROGRESS = "progress", "Progress (completion of an item by a user)"
        INTERACTION = "interaction", "Interaction aggregate (user, item, kind)"

    id = models.BigAutoField(primary_key=True)
    # CASCADE, not PROTECT: pending graph writes of a deleted organization have nothing left to do.
    organization = models.ForeignKey(
        "organizations.Organization", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # The entity's key within the organization: "<user_id>", "<item_id>", "<user_id>:<item_id>",
    # "<user_id>:<item_id>:<interaction kind>". Pending rows are unique per key (coalescing).
    object_key = models.CharField(max_length=100)
    # The ids the drain needs to reload the entity: {"user_id": .., "item_id": .., "kind": ..}.
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0)
    # Due time; while a drain holds the row (claim_token set) it is the end of that claim's lease.
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claim_token = models.UUIDField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    # Set when the graph rejected this row on its own (issue 12): never claimed again until
    # graph_outbox_retry (admin action, `manage.py graph_retry`) requeues it.
    dead_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "recommendations_graph_outbox"
        ordering = ["id"]
        verbose_name = "graph outbox row"
        constraints = [
            # At most one fresh (never claimed, never failed) row per entity: writers upsert into it
            # with ON CONFLICT ... DO UPDATE, which also row-locks it until their transaction commits,
            # so a drain (FOR UPDATE SKIP LOCKED) never reads the entity before that commit.
            models.UniqueConstraint(
                fields=["organization", "kind", "object_key"],
                condition=Q(claim_token__isnull=True, attempts=0),
                name="graph_outbox_one_fresh_per_object",
            ),
        ]
        indexes = [
            models.Index(fields=["next_attempt_at", "id"], name="graph_outbox_due"),
            models.Index(fields=["organization", "created_at"], name="graph_outbox_org_created"),
        ]

    def __str__(self):
        return f"{self.kind} {self.object_key} @ org {self.organization_id} (attempts {self.attempts})"

    @property
    def state(self) -> str:
        """dead (rejected by the graph), retrying (failed before, will be retried) or pending."""
        if self.dead_at is not None:
            return "dead"
        return "retrying" if self.attempts else "pending"
