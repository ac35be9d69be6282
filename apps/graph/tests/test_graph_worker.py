"""Graph sync across committed transactions: a real Celery worker and concurrent connections.

Covers: a committed change kicks `graph.sync_drain` on commit and a real worker (embedded Redis
broker) applies it to the embedded Bolt graph; a row whose writer has not committed yet is
skipped by the drain (SKIP LOCKED) and applied once the writer commits, with the committed state.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connections, transaction

from apps.core.graph import graph_reset
from apps.core.tests.waiting import until
from apps.graph import sync as graph_sync
from apps.graph.models import GraphOutbox
from apps.graph.tests.graph_utils import GraphOrgs, node_ids, rels_of
from apps.progress.models import ContentItem
from apps.progress.tests.factories import ContentItemFactory

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture
def graph_orgs(transactional_db, settings):
    graph_reset()
    orgs = GraphOrgs()
    uri = settings.NEO4J_URI
    yield orgs
    settings.NEO4J_URI = uri
    orgs.cleanup()


@pytest.mark.worker
def test_commit_kicks_a_drain_that_a_real_worker_applies(celery_worker, graph_orgs):
    """organization_create and a content change commit -> on-commit kick -> the worker drains both."""
    organization, owner = graph_orgs.create()
    with transaction.atomic():
        item = ContentItemFactory(organization=organization, tags=["kicked"])
        graph_sync.graph_outbox_content(organization_id=organization.pk, item_ids=[item.pk])
    until(lambda: not GraphOutbox.objects.filter(organization=organization).exists(), "the drain", interval=0.2)
    assert node_ids(organization.pk, "User") == {owner.pk}
    assert node_ids(organization.pk, "Content") == {item.pk}
    assert [(row["a"], row["b"]) for row in rels_of(organization.pk, "TAGGED")] == [(item.pk, "kicked")]
    assert [row["a"] for row in rels_of(organization.pk, "MEMBER_OF")] == [owner.pk]


def test_a_writer_still_in_its_transaction_hides_its_row_from_the_drain(graph_orgs):
    """A committed fresh row re-announced by a writer whose transaction is open is skipped (the
    writer's ON CONFLICT DO UPDATE locks it); after the commit the drain applies the new state."""
    organization, _owner = graph_orgs.create()
    item = ContentItemFactory(organization=organization, tags=["old"])
    graph_sync.graph_outbox_content(organization_id=organization.pk, item_ids=[item.pk])  # committed, fresh
    assert graph_sync.graph_sync_drain().applied == 2  # the owner's row and this one
    graph_sync.graph_outbox_content(organization_id=organization.pk, item_ids=[item.pk])  # fresh again

    written, release, done = threading.Event(), threading.Event(), threading.Event()
    errors = []

    def writer():
        try:
            with transaction.atomic():
                ContentItem.objects.filter(pk=item.pk).update(tags=["new"])
                graph_sync.graph_outbox_content(organization_id=organization.pk, item_ids=[item.pk])
                written.set()
                release.wait(timeout=60)
        except Exception as exc:  # noqa: BLE001 - reported to the test below
            errors.append(exc)
        finally:
            connections.close_all()
            done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    assert written.wait(timeout=60)
    blocked = graph_sync.graph_sync_drain()
    assert (blocked.rounds, blocked.applied) == (0, 0)
    assert [(row["a"], row["b"]) for row in rels_of(organization.pk, "TAGGED")] == [(item.pk, "old")]
    release.set()
    assert done.wait(timeout=60)
    thread.join()
    assert errors == []
    assert graph_sync.graph_sync_drain().applied == 1
    assert [(row["a"], row["b"]) for row in rels_of(organization.pk, "TAGGED")] == [(item.pk, "new")]
