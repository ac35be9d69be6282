"""A small import through the HTTP API converges in the graph with a real Celery worker (issue 12).

Covers: 150 members (`members/sync/`, interests with quotes), 200 catalog items (`content/bulk/`:
tags with quotes and backslashes, categories, parents, prerequisites) and 5,000 events
(`interactions/batch/`, 5 batches, every kind including `rate` with values) posted with an API key
answer 200 (never 5xx); the on-commit kicks and a beat tick make a real worker drain the outbox to
empty with nothing dead-lettered; the graph's nodes and relationships equal what PostgreSQL holds
(counts per label and type, and a rebuild from PostgreSQL changes nothing).
"""

from __future__ import annotations

import random
import time

import pytest
from django.db.models import Count

from apps.core.graph import graph_reset
from apps.graph.models import GraphOutbox
from apps.graph.sync import graph_outbox_backlog, graph_rebuild
from apps.graph.tests.graph_utils import GraphOrgs, snapshot
from apps.organizations.models import Membership
from apps.organizations.services import organization_create
from apps.organizations.tests.factories import plan
from apps.progress.models import ContentItem, ContentPrerequisite, Interaction, Progress
from apps.progress.tests.utils import api_key_client, url
from apps.users.tests.factories import UserFactory
from workers.tasks.graph_sync import graph_sync_drain as graph_sync_drain_task

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

MEMBERS, ITEMS, EVENTS, BATCHES = 150, 200, 5_000, 5
TAGS = ["python", "O'Reilly", "C:\\new", "data science", "rock 'n' roll", "naïve", 'say "hi"', "sql", "ml"]
KINDS = ["view", "view", "view", "start", "complete", "like", "save", "share", "purchase", "rate", "dismiss"]


@pytest.fixture
def graph_orgs(transactional_db, settings):
    graph_reset()
    orgs = GraphOrgs()
    yield orgs
    orgs.cleanup()


def wait_until(predicate, timeout: float = 240.0):
    """Poll until `predicate` holds. The in-thread worker first embeds the 200 items (loading the
    model on a cold process), then drains: seconds, not minutes; the bound only stops a hang and the
    test asserts what converged, never how fast."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    pytest.fail(f"condition not met within {timeout}s (backlog {graph_outbox_backlog()})")


def count(organization_id: int, pattern: str) -> int:
    from apps.core.graph import graph_query

    return graph_query(f"MATCH {pattern} RETURN count(*) AS n", {"org": organization_id})[0]["n"]


def import_payloads(rng: random.Random):
    members = [
        {
            "external_id": f"m{n}",
            "email": f"member{n}@import.example.com",
            "full_name": f"Member {n}",
            "interests": rng.sample(TAGS, rng.randrange(0, 3)),
        }
        for n in range(MEMBERS)
    ]
    items = []
    for n in range(ITEMS):
        row = {
            "external_id": f"i{n}",
            "title": f"Item {n}",
            "kind": "course" if n < 10 else rng.choice(["lesson", "article", "video"]),
            "tags": rng.sample(TAGS, rng.randrange(0, 4)),
            "categories": rng.sample(["Programming", "Data", "Craft's corner"], rng.randrange(0, 2)),
        }
        if n >= 10 and n % 2:
            row["parent_external_id"] = f"i{n % 10}"
        if n >= 20 and n % 3 == 0:
            row["prerequisite_external_ids"] = [f"i{n - 1}"]
        items.append(row)
    return members, items


@pytest.mark.worker
def test_small_import_through_the_api_converges_with_a_real_worker(celery_worker, graph_orgs):
    """members/sync, content/bulk and 5 interaction batches: all 200; the worker drains the outbox to
    empty, nothing dead; graph counts equal PostgreSQL's and a rebuild changes nothing."""
    owner = UserFactory()
    organization = organization_create(user=owner, name="Import Org", plan=plan("enterprise"))
    graph_orgs.forget(organization.pk)
    graph_orgs.ids.append(organization.pk)
    rng = random.Random(12)
    members, items = import_payloads(rng)
    client = api_key_client(organization, scopes=("read", "write", "members:sync"))
    statuses = []

    response = client.post(url(organization, "members/sync/"), {"members": members}, format="json")
    statuses.append(response.status_code)
    user_ids = [row["user"] for row in response.json()["results"]]
    response = client.post(url(organization, "content/bulk/"), {"items": items}, format="json")
    statuses.append(response.status_code)
    item_ids = [row["id"] for row in response.json()["results"]]
    assert len(user_ids) == MEMBERS and len(item_ids) == ITEMS, response.content
    per_batch = EVENTS // BATCHES
    for batch in range(BATCHES):
        events = []
        for n in range(per_batch):
            kind = rng.choice(KINDS)
            event = {
                "idempotency_key": f"e{batch}-{n}",
                "kind": kind,
                "item": rng.choice(item_ids),
                "user": rng.choice(user_ids),
            }
            if kind == "rate":
                event["value"] = float(rng.randrange(1, 6))
            elif kind == "purchase":
                event["value"] = 9.5
            events.append(event)
        response = client.post(url(organization, "interactions/batch/"), {"events": events}, format="json")
        statuses.append(response.status_code)
        assert response.json()["rejected"] == 0, response.content
    assert statuses == [200] * (2 + BATCHES)
    assert Interaction.objects.filter(organization=organization).count() == EVENTS

    graph_sync_drain_task.delay()  # the beat's periodic tick (a kick inside the debounce window is skipped)
    wait_until(lambda: not GraphOutbox.objects.filter(organization=organization, dead_at__isnull=True).exists())
    assert not GraphOutbox.objects.filter(organization=organization).exists()  # nothing dead-lettered

    org = organization.pk
    members_count = Membership.objects.filter(organization=organization).count()
    assert count(org, "(:User {organization_id: $org})") == members_count == MEMBERS + 1
    assert count(org, "(:Content {organization_id: $org})") == ITEMS
    assert count(org, "(:User {organization_id: $org})-[:MEMBER_OF {organization_id: $org}]->()") == members_count
    aggregates = (
        Interaction.objects.filter(organization=organization)
        .values("user_id", "item_id", "kind")
        .annotate(n=Count("id"))
    )
    assert count(org, "(:User {organization_id: $org})-[:INTERACTED {organization_id: $org}]->()") == len(aggregates)
    completed = Progress.objects.filter(organization=organization, status=Progress.Status.COMPLETED).count()
    assert count(org, "(:User {organization_id: $org})-[:COMPLETED {organization_id: $org}]->()") == completed
    catalog = ContentItem.objects.filter(organization=organization)
    tagged = sum(len(set(tags)) for tags in catalog.values_list("tags", flat=True))
    assert count(org, "(:Content {organization_id: $org})-[:TAGGED {organization_id: $org}]->()") == tagged
    assert count(org, "(:Content {organization_id: $org})-[:CHILD_OF {organization_id: $org}]->()") == (
        catalog.filter(parent__isnull=False).count()
    )
    assert count(org, "(:Content {organization_id: $org})-[:PREREQUISITE_OF {organization_id: $org}]->()") == (
        ContentPrerequisite.objects.filter(organization=organization).count()
    )
    drained = snapshot(org)
    graph_rebuild(organization=organization)
    assert snapshot(org) == drained
