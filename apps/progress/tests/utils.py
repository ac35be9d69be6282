"""Helpers of the progress tests: URLs, clients, and the API's bodies computed from stored rows."""

from __future__ import annotations

from apps.organizations.tests.utils import api_key_client, error, iso  # noqa: F401  (re-exported for the tests)
from apps.progress.models import ContentEmbedding, ContentItem, ContentPrerequisite, Interaction, Progress


def url(organization, suffix: str = "") -> str:
    return f"/api/v1/orgs/{organization.slug}/{suffix}"


def content_body(item: ContentItem, *, embedded: bool = False) -> dict:
    """The API's body of an item (ContentOutputSerializer), from the stored row."""
    item = ContentItem.objects.get(pk=item.pk)
    prerequisites = sorted(ContentPrerequisite.objects.filter(item=item).values_list("prerequisite_id", flat=True))
    return {
        "id": item.pk,
        "external_id": item.external_id,
        "title": item.title,
        "description": item.description,
        "body": item.body,
        "kind": item.kind,
        "url": item.url,
        "tags": item.tags,
        "categories": item.categories,
        "difficulty": item.difficulty,
        "duration_minutes": item.duration_minutes,
        "parent": item.parent_id,
        "parent_external_id": item.parent.external_id if item.parent_id else None,
        "position": item.position,
        "prerequisites": prerequisites,
        "metadata": item.metadata,
        "active": item.active,
        "embedded": embedded,
        "created_at": iso(item.created_at),
        "updated_at": iso(item.updated_at),
    }


def progress_body(progress: Progress) -> dict:
    progress = Progress.objects.select_related("user", "item").get(pk=progress.pk)
    return {
        "id": progress.pk,
        "user": progress.user_id,
        "user_email": progress.user.email,
        "item": progress.item_id,
        "item_external_id": progress.item.external_id,
        "item_title": progress.item.title,
        "status": progress.status,
        "percent": progress.percent,
        "score": progress.score,
        "time_spent_seconds": progress.time_spent_seconds,
        "started_at": iso(progress.started_at),
        "completed_at": iso(progress.completed_at),
        "last_activity_at": iso(progress.last_activity_at),
    }


def interaction_body(interaction: Interaction) -> dict:
    interaction = Interaction.objects.select_related("item").get(pk=interaction.pk)
    return {
        "id": interaction.pk,
        "user": interaction.user_id,
        "item": interaction.item_id,
        "item_external_id": interaction.item.external_id,
        "kind": interaction.kind,
        "weight": interaction.weight,
        "value": interaction.value,
        "occurred_at": iso(interaction.occurred_at),
        "idempotency_key": interaction.idempotency_key,
        "created_at": iso(interaction.created_at),
    }


def catalog_state(organization) -> list:
    """Everything stored about a catalog (to show that a refused request changed nothing)."""
    items = sorted(
        ContentItem.objects.filter(organization=organization).values_list(
            "id", "external_id", "title", "description", "kind", "tags", "parent_id", "position", "active",
            "content_hash", "updated_at",
        )
    )  # fmt: skip
    links = sorted(
        ContentPrerequisite.objects.filter(organization=organization).values_list("item_id", "prerequisite_id")
    )
    vectors = ContentEmbedding.objects.filter(organization=organization).count()
    return [items, links, vectors]
