"""Item embeddings: one vector of (title, description, tags) per (item, embedding model), computed by
the `progress.content_embed` task when an item's content_hash changes, upserted so re-runs are
idempotent, searched by cosine distance through a partial HNSW index per model."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import transaction

from apps.core.embeddings import get_embedder
from apps.core.tasks import enqueue_on_commit
from apps.core.vector_index import model_index_ensure
from apps.progress.models import ContentEmbedding, ContentItem


def enqueue_embedding(organization_id: int, item_ids: list[int]) -> None:
    """Embed these items after the transaction commits, in tasks of CONTENT_EMBED_TASK_SIZE ids (a lost
    publish is caught up by the `progress-content-embed-missing` beat sweep)."""
    from workers.tasks.progress import content_embed_task

    size = settings.CONTENT_EMBED_TASK_SIZE
    for start in range(0, len(item_ids), size):
        enqueue_on_commit(content_embed_task, organization_id, item_ids[start : start + size])


def content_embedding_index_name(model: str) -> str:
    return "contentemb_hnsw_" + hashlib.sha1(model.encode()).hexdigest()[:12]


def content_embedding_index_ensure(*, model: str, dimensions: int) -> str:
    """Create (once) the partial HNSW cosine index of one embedding model (apps/core/vector_index.py).
    Returns its name. The default model's index comes with migration 0001."""
    return model_index_ensure(
        name=content_embedding_index_name(model), table="progress_contentembedding", model=model, dimensions=dimensions
    )


def content_embed(*, organization_id: int, item_ids: list[int], force: bool = False) -> int:
    """Compute the current model's vectors of these items (of this organization) whose vector is
    missing or stale (content_hash differs); upsert on (item, model). Returns how many were written.

    Idempotent: a second run finds every vector current and writes nothing. Unknown ids, and ids
    of another organization, are skipped.
    """
    embedder = get_embedder()
    items = list(
        ContentItem.objects.filter(organization_id=organization_id, pk__in=item_ids)
        .only("id", "organization_id", "title", "description", "tags", "content_hash")
        .order_by("id")
    )
    if not items:
        return 0
    if not force:
        current = dict(
            ContentEmbedding.objects.filter(item__in=items, model=embedder.name).values_list("item_id", "content_hash")
        )
        items = [item for item in items if current.get(item.pk) != item.content_hash]
    if not items:
        return 0
    content_embedding_index_ensure(model=embedder.name, dimensions=embedder.dimensions)
    written = 0
    size = settings.EMBEDDING_BATCH_SIZE * 4
    for start in range(0, len(items), size):
        batch = items[start : start + size]
        vectors = embedder.encode([item.embed_text for item in batch])
        ContentEmbedding.objects.bulk_create(
            [
                ContentEmbedding(
                    organization_id=item.organization_id,
                    item_id=item.pk,
                    model=embedder.name,
                    content_hash=item.content_hash,
                    embedding=vector,
                )
                for item, vector in zip(batch, vectors, strict=True)
            ],
            update_conflicts=True,
            unique_fields=["item", "model"],
            update_fields=["embedding", "content_hash", "updated_at"],
        )
        written += len(batch)
    return written


def content_embed_missing(*, organization=None, enqueue: bool = True) -> int:
    """Items whose vector for the current model is missing or stale: enqueue them (or embed them
    now with `enqueue=False`). Returns how many items that concerns. An organization being deleted is left out
    (its purge deletes the vectors before the items: they would look missing)."""
    from django.db.models import Exists, OuterRef

    embedder = get_embedder()
    current = ContentEmbedding.objects.filter(
        item=OuterRef("pk"), model=embedder.name, content_hash=OuterRef("content_hash")
    )
    queryset = ContentItem.objects.filter(~Exists(current), organization__deleted_at__isnull=True)
    if organization is not None:
        queryset = queryset.filter(organization=organization)
    by_org: dict[int, list[int]] = {}
    for organization_id, item_id in queryset.order_by("organization_id", "id").values_list("organization_id", "id"):
        by_org.setdefault(organization_id, []).append(item_id)
    total = 0
    for organization_id, ids in by_org.items():
        total += len(ids)
        if enqueue:
            with transaction.atomic():
                enqueue_embedding(organization_id, ids)
        else:
            content_embed(organization_id=organization_id, item_ids=ids)
    return total
