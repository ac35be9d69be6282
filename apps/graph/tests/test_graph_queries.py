"""graph_candidates (issue 7) on a drained graph in the real embedded Bolt endpoint.

Covers: the three path kinds with their reasons (prerequisites completed, what similar users
completed next, shared tags/categories) and profile interests for a user without history; items
completed, dismissed, inactive or deleted never returned; another organization's items never
returned although it uses the same tags; [] when the graph is off or unreachable; profile
interests written to the outbox by user_update and drained as INTERESTED_IN.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from apps.core import graph as graph_module
from apps.core.graph import graph_reset
from apps.graph import sync as graph_sync
from apps.graph.models import GraphOutbox
from apps.graph.queries import GraphCandidate, graph_candidates
from apps.graph.sync import graph_sync_drain
from apps.graph.tests.graph_utils import build_catalog, closed_port, outbox_for_catalog, rels_of
from apps.progress.models import ContentItem, Progress
from apps.progress.tests.factories import ContentItemFactory, InteractionFactory
from apps.users.services import user_update
from apps.users.tests.factories import UserFactory


def complete(organization, user, item, at):
    Progress.objects.update_or_create(
        organization=organization,
        user=user,
        item=item,
        defaults={"status": Progress.Status.COMPLETED, "percent": 100, "completed_at": at, "last_activity_at": at},
    )


@pytest.fixture
def world(graph_orgs):
    """Organization A (Alice completed Lesson 1, liked the article, dismissed one python item; Bob
    completed Lessons 1 and 2 and then "Extra") and organization B with the same tags."""
    organization, _owner = graph_orgs.create("A")
    w = build_catalog(organization)
    l1, l2, _l3 = w["lessons"]
    now = w["now"]
    w["extra"] = ContentItemFactory(organization=organization, title="Extra Practice", tags=["exercises"])
    w["dismissed"] = ContentItemFactory(organization=organization, title="Dismissed One", tags=["python"])
    w["inactive"] = ContentItemFactory(organization=organization, title="Retired", tags=["python"], active=False)
    complete(organization, w["bob"], l1, now - timedelta(days=3))
    complete(organization, w["bob"], l2, now - timedelta(days=2))
    complete(organization, w["bob"], w["extra"], now - timedelta(days=1))
    InteractionFactory(organization=organization, user=w["alice"], item=w["dismissed"], kind="dismiss", weight=-2.0)
    outbox_for_catalog(organization, w)

    other, _ = graph_orgs.create("B")
    w["other"] = build_catalog(other)
    outbox_for_catalog(other, w["other"])
    assert graph_sync_drain().error == ""
    w["organization"] = organization
    return w


def test_paths_and_reasons(world):
    """Alice: Lesson 2 (prerequisite done, and Bob did it next), Extra (Bob's next), tag neighbours."""
    alice, (_l1, l2, l3) = world["alice"], world["lessons"]
    result = graph_candidates(organization_id=world["organization"].pk, user_id=alice.pk, limit=10)
    assert all(isinstance(candidate, GraphCandidate) for candidate in result)
    by_id = {candidate.item_id: candidate for candidate in result}
    assert result[0].item_id == l2.pk  # prerequisite ready + peers + shared tags
    assert by_id[l2.pk].reason == "You completed Lesson 1, which prepares you for Lesson 2"
    assert by_id[world["extra"].pk].reason == "Completed next by 1 person who also completed Lesson 1"
    # Shared labels: which seed and label is named first is the graph's choice; any true one will do.
    assert by_id[l3.pk].reason in {
        "Also about python, like Lesson 1",
        "Also about programming, like Lesson 1",
        "Also about programming, like Data Article",
    }
    assert set(by_id) == {l2.pk, l3.pk, world["extra"].pk, world["course"].pk, world["article"].pk}
    assert [candidate.item_id for candidate in result[:3]] == [l2.pk, world["extra"].pk, l3.pk]
    scores = [candidate.score for candidate in result]
    assert scores == sorted(scores, reverse=True)
    assert all(score > 0 for score in scores)


def test_completed_dismissed_inactive_deleted_and_other_orgs_never_returned(world):
    """No completed, dismissed, inactive or deleted item, and nothing of organization B."""
    alice = world["alice"]
    ContentItem.objects.filter(pk=world["extra"].pk).delete()  # deleted in PostgreSQL, still in the graph
    result = graph_candidates(organization_id=world["organization"].pk, user_id=alice.pk, limit=50)
    ids = {candidate.item_id for candidate in result}
    assert ids
    assert world["lessons"][0].pk not in ids
    assert world["dismissed"].pk not in ids
    assert world["inactive"].pk not in ids
    assert world["extra"].pk not in ids
    other = world["other"]
    other_ids = {other["course"].pk, other["article"].pk, *(item.pk for item in other["lessons"])}
    assert not ids & other_ids
    assert set(ContentItem.objects.filter(pk__in=ids).values_list("organization_id", flat=True)) == {
        world["organization"].pk
    }
    # Bob of organization B asked under A's id: he has no node there, so nothing.
    assert graph_candidates(organization_id=world["organization"].pk, user_id=other["bob"].pk, limit=10) == []


def test_limit_is_respected(world):
    """limit caps the list."""
    result = graph_candidates(organization_id=world["organization"].pk, user_id=world["alice"].pk, limit=2)
    assert len(result) == 2


def test_interests_give_a_new_member_candidates(world):
    """A member without history gets items tagged with their profile interests (user_update ->
    outbox -> INTERESTED_IN)."""
    from apps.organizations.models import Membership

    organization = world["organization"]
    newcomer = UserFactory()
    Membership.objects.create(organization=organization, user=newcomer)
    assert graph_candidates(organization_id=organization.pk, user_id=newcomer.pk, limit=10) == []
    GraphOutbox.objects.all().delete()
    user_update(user=newcomer, data={"interests": ["data", "exercises"]})
    assert list(GraphOutbox.objects.values_list("kind", "object_key")) == [("user", str(newcomer.pk))]
    assert graph_sync_drain().applied == 1
    assert {row["b"] for row in rels_of(organization.pk, "INTERESTED_IN") if row["a"] == newcomer.pk} == {
        "data",
        "exercises",
    }
    result = graph_candidates(organization_id=organization.pk, user_id=newcomer.pk, limit=10)
    assert {candidate.item_id: candidate.reason for candidate in result} == {
        world["article"].pk: "Matches your interest in data",
        world["extra"].pk: "Matches your interest in exercises",
    }


def test_graph_off_or_unreachable_gives_an_empty_list(world, settings, caplog):
    """NEO4J_URI unset -> []; graph unreachable -> [] and a warning (the engine falls back)."""
    organization, alice = world["organization"], world["alice"]
    settings.NEO4J_URI = None
    graph_reset()
    assert graph_candidates(organization_id=organization.pk, user_id=alice.pk, limit=10) == []
    settings.NEO4J_URI = f"bolt://127.0.0.1:{closed_port()}"
    settings.NEO4J_TIMEOUT = 0.5
    graph_reset()
    with caplog.at_level(logging.WARNING, logger="apps.graph.queries"):
        assert graph_candidates(organization_id=organization.pk, user_id=alice.pk, limit=10) == []
    assert "graph candidates unavailable" in caplog.text
    # Paused after the failure: the next call does not try the graph (nothing logged, no driver made).
    caplog.clear()
    graph_reset()
    assert graph_candidates(organization_id=organization.pk, user_id=alice.pk, limit=10) == []
    assert caplog.text == ""
    assert graph_module._driver is None


def test_graph_sync_helpers_are_org_scoped(world):
    """Outbox rows carry their organization: draining B's change leaves A's subgraph alone."""
    other = world["other"]
    before = rels_of(world["organization"].pk, "TAGGED")
    ContentItem.objects.filter(pk=other["article"].pk).update(tags=["changed"])
    graph_sync.graph_outbox_content(organization_id=other["article"].organization_id, item_ids=[other["article"].pk])
    assert graph_sync_drain().applied == 1
    assert rels_of(world["organization"].pk, "TAGGED") == before
    assert {
        row["b"] for row in rels_of(other["article"].organization_id, "TAGGED") if row["a"] == other["article"].pk
    } == {"changed"}
