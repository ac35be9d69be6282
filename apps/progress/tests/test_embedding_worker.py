"""Catalog embeddings through a real Celery worker: a bulk upsert commits, progress.content_embed is
routed to the "ingestion" queue, the worker (consuming celery + ingestion, as the devstack's two workers do together)
computes the vectors, and the catalog then shows every item as embedded.

The worker runs in a thread on the embedded Redis broker with the real offline model.
"""

import time

import pytest

from apps.organizations.models import Role
from apps.organizations.tests.factories import MembershipFactory
from apps.progress.models import ContentEmbedding
from apps.progress.tests.utils import url
from conftest import client_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_bulk_upsert_items_get_embedded_by_the_worker(celery_worker, transactional_db):
    """Three new items -> three vectors for the current model, written by the worker."""
    admin = MembershipFactory(role=Role.ADMIN)
    organization, client = admin.organization, client_for(admin.user)
    items = [{"external_id": f"i{n}", "title": title} for n, title in enumerate(["Pasta", "Algebra", "Guitar"])]
    response = client.post(url(organization, "content/bulk/"), {"items": items}, format="json")
    assert response.json()["created"] == 3
    deadline = time.monotonic() + 90
    while ContentEmbedding.objects.filter(organization=organization).count() < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert ContentEmbedding.objects.filter(organization=organization).count() == 3
    listed = client.get(url(organization, "content/")).json()["results"]
    assert [row["embedded"] for row in listed] == [True, True, True]
