"""Chunk vectors: the partial HNSW index of each embedding model, the vectors of a batch of chunks,
and re-embedding existing chunks with the current model (`manage.py reembed`).

ChunkEmbedding rows are keyed by (chunk, model) with an untyped `vector` column, so a model change
needs no migration: the first vectors of a model create its index (apps/core/vector_index.py).
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import transaction

from apps.core.embeddings import get_embedder
from apps.core.vector_index import model_index_ensure
from apps.documents.models import Chunk, ChunkEmbedding, Document


def embedding_index_name(model: str) -> str:
    return "chunkemb_hnsw_" + hashlib.sha1(model.encode()).hexdigest()[:12]


def embedding_index_ensure(*, model: str, dimensions: int) -> str:
    """Create (once) the partial HNSW cosine index for one embedding model. Returns its name."""
    return model_index_ensure(
        name=embedding_index_name(model), table="documents_chunkembedding", model=model, dimensions=dimensions
    )


def chunk_embeddings(chunks: list[Chunk], embedder) -> list[ChunkEmbedding]:
    """Unsaved vectors of `chunks` (heading path + text) for the current model, one batch encoded."""
    vectors = embedder.encode([chunk.embed_text for chunk in chunks])
    return [
        ChunkEmbedding(chunk_id=chunk.pk, model=embedder.name, embedding=vector)
        for chunk, vector in zip(chunks, vectors, strict=True)
    ]


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
        rows = chunk_embeddings(batch, embedder)
        with transaction.atomic():
            ChunkEmbedding.objects.filter(chunk_id__in=[c.pk for c in batch], model=embedder.name).delete()
            ChunkEmbedding.objects.bulk_create(rows)
        written += len(batch)
        if progress:
            progress(len(batch))
    Document.objects.filter(chunks__in=ids).distinct().update(embedding_model=embedder.name)
    return written
