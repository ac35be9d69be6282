"""Item embeddings: the progress.content_embed task (called directly with ids), its idempotency, the
on-commit enqueueing from the API, the partial HNSW index, and `manage.py content_embed_missing`.

Coverage:
- the task embeds title + description + tags with the configured local model (real model, 384 dimensions),
  stores the item's content_hash beside the vector and the organization; the list shows `embedded: true`;
- idempotent: a second run writes nothing; after a title change the vector is recomputed (upsert, one row);
- ids of another organization or deleted ids are skipped quietly;
- create / PATCH register the task on commit (not run); a change to the body does not;
- the task is named, late-acked, routed to the "ingestion" queue, retries only transient errors;
- the default model's partial HNSW index exists (migration) and a cosine search uses it;
- content_embed_missing: enqueues (on commit) the missing and stale items, or embeds them with --now.
"""

from __future__ import annotations

import numpy as np
import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from apps.core.embeddings import TransientEmbeddingError, get_embedder
from apps.core.tasks import enqueue_now
from apps.organizations.tests.factories import OrganizationFactory
from apps.progress.models import ContentEmbedding, ContentItem
from apps.progress.services import content_embedding_index_name
from apps.progress.tests.factories import ContentItemFactory
from apps.progress.tests.utils import url
from conftest import client_for
from workers.tasks.progress import content_embed_task

pytestmark = pytest.mark.django_db


def embed_calls(callbacks) -> list[tuple]:
    return [
        c.args[1:] for c in callbacks if getattr(c, "func", None) is enqueue_now and c.args[0] is content_embed_task
    ]


def test_task_embeds_items_with_the_current_model(organization, member):
    """Called with ids: one vector per item, equal to encoding title + description + tags; listed as embedded."""
    item = ContentItemFactory(organization=organization, title="Pandas", description="Data frames", tags=["python"])
    assert content_embed_task(organization.pk, [item.pk]) == 1
    row = ContentEmbedding.objects.get()
    embedder = get_embedder()
    assert (row.item_id, row.organization_id, row.model, row.content_hash) == (
        item.pk, organization.pk, embedder.name, item.content_hash,
    )  # fmt: skip
    assert len(row.embedding) == 384
    expected = embedder.encode(["Pandas\n\nData frames\n\nTags: python"])[0]
    assert np.allclose(np.asarray(row.embedding), expected, atol=1e-5)
    body = client_for(member).get(url(organization, f"content/{item.pk}/")).json()
    assert body["embedded"] is True


def test_task_is_idempotent_and_recomputes_after_a_change(organization):
    """A second run writes nothing; a changed title makes the vector stale and it is replaced in place."""
    item = ContentItemFactory(organization=organization, title="One")
    assert content_embed_task(organization.pk, [item.pk]) == 1
    first = ContentEmbedding.objects.get()
    assert content_embed_task(organization.pk, [item.pk]) == 0
    assert ContentEmbedding.objects.get().updated_at == first.updated_at
    ContentItem.objects.filter(pk=item.pk).update(title="Two", content_hash="changed")
    assert content_embed_task(organization.pk, [item.pk]) == 1
    second = ContentEmbedding.objects.get()
    assert second.pk == first.pk
    assert second.content_hash == "changed"
    assert not np.allclose(np.asarray(first.embedding), np.asarray(second.embedding))


def test_task_skips_other_organizations_and_missing_ids(organization):
    """Ids of another organization, or deleted ones, are skipped quietly."""
    theirs = ContentItemFactory(organization=OrganizationFactory())
    assert content_embed_task(organization.pk, [theirs.pk, 987654321]) == 0
    assert not ContentEmbedding.objects.exists()


def test_api_writes_register_the_task_on_commit(organization, admin_user, django_capture_on_commit_callbacks):
    """POST registers progress.content_embed on commit; a title PATCH does too; a body PATCH does not."""
    client = client_for(admin_user)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(url(organization, "content/"), {"title": "New"}, format="json")
    item_id = response.json()["id"]
    assert embed_calls(callbacks) == [(organization.pk, [item_id])]
    assert not ContentEmbedding.objects.exists()  # registered, not run
    with django_capture_on_commit_callbacks() as callbacks:
        client.patch(url(organization, f"content/{item_id}/"), {"body": "text"}, format="json")
    assert embed_calls(callbacks) == []
    with django_capture_on_commit_callbacks() as callbacks:
        client.patch(url(organization, f"content/{item_id}/"), {"tags": ["x"]}, format="json")
    assert embed_calls(callbacks) == [(organization.pk, [item_id])]


def test_task_options():
    """Explicit name, late ack, ingestion queue, retries only on transient errors."""
    assert content_embed_task.name == "progress.content_embed"
    assert content_embed_task.acks_late is True
    assert TransientEmbeddingError in content_embed_task.autoretry_for
    assert Exception not in content_embed_task.autoretry_for
    assert settings.CELERY_TASK_ROUTES["progress.*"] == {"queue": "ingestion", "priority": settings.INGESTION_PRIORITY}


def test_default_model_index_serves_cosine_search(organization):
    """The migration's partial HNSW index exists for the default model and the planner uses it."""
    items = [ContentItemFactory(organization=organization, title=t) for t in ("Cooking pasta", "Linear algebra")]
    content_embed_task(organization.pk, [i.pk for i in items])
    name = content_embedding_index_name(get_embedder().name)
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [name])
        (definition,) = cursor.fetchone()
        assert "hnsw" in definition and "vector(384)" in definition and "vector_cosine_ops" in definition
        vector = "[" + ",".join(f"{x:.7f}" for x in get_embedder().encode(["matrices and vectors"])[0]) + "]"
        cursor.execute("SET LOCAL enable_seqscan = off")
        # As the application's queries do (recommendations.engine.sources.index_query): an HNSW scan hands back at
        # most ef_search candidates, and the index keeps entries of rows other tests inserted and rolled back until
        # a vacuum, so in a long run those dead entries could fill them and leave this test's rows out (seen once in
        # a full run). An iterative scan goes on until it has live rows.
        cursor.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
        query = (
            "SELECT item_id FROM progress_contentembedding WHERE model = %s "
            "ORDER BY (embedding::vector(384)) <=> %s::vector(384) LIMIT 1"
        )
        cursor.execute("EXPLAIN " + query, [get_embedder().name, vector])
        plan = "\n".join(row[0] for row in cursor.fetchall())
        assert name in plan
        cursor.execute(query, [get_embedder().name, vector])
        assert cursor.fetchone()[0] == items[1].pk


def test_embed_missing_command(organization, django_capture_on_commit_callbacks):
    """Missing and stale items are enqueued (on commit); --now embeds them here; then nothing is missing."""
    done, stale, missing = (ContentItemFactory(organization=organization) for _ in range(3))
    content_embed_task(organization.pk, [done.pk, stale.pk])
    ContentItem.objects.filter(pk=stale.pk).update(title="changed", content_hash="new")
    with django_capture_on_commit_callbacks() as callbacks:
        call_command("content_embed_missing", "--org", organization.slug)
    assert embed_calls(callbacks) == [(organization.pk, sorted([stale.pk, missing.pk]))]
    call_command("content_embed_missing", "--now")
    assert ContentEmbedding.objects.count() == 3
    with django_capture_on_commit_callbacks() as callbacks:
        call_command("content_embed_missing")
    assert embed_calls(callbacks) == []
