"""Progress writes, by subdomain: catalog (items, hierarchy, prerequisites), bulk (upsert by
external_id), embeddings (item vectors), tracking (progress per user x item, roll-up) and
interactions (events, batch ingestion)."""

from apps.progress.services.bulk import BulkRow, content_bulk_upsert
from apps.progress.services.catalog import content_create, content_delete, content_refs_resolve, content_update
from apps.progress.services.embeddings import (
    content_embed,
    content_embed_missing,
    content_embedding_index_ensure,
    content_embedding_index_name,
    enqueue_embedding,
)
from apps.progress.services.interactions import BatchOutcome, interaction_batch_ingest, interaction_create
from apps.progress.services.tracking import (
    member_resolve,
    progress_complete,
    progress_reset,
    progress_start,
    progress_update,
)

__all__ = [
    "BatchOutcome",
    "BulkRow",
    "content_bulk_upsert",
    "content_create",
    "content_delete",
    "content_embed",
    "content_embed_missing",
    "content_embedding_index_ensure",
    "content_embedding_index_name",
    "content_refs_resolve",
    "content_update",
    "enqueue_embedding",
    "interaction_batch_ingest",
    "interaction_create",
    "member_resolve",
    "progress_complete",
    "progress_reset",
    "progress_start",
    "progress_update",
]
