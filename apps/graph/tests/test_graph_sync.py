"""Graph sync (issue 7) against the real embedded Bolt endpoint and PostgreSQL.

Covers: outbox rows written in the change's transaction (and gone with a rollback), coalescing of
repeated changes, nothing recorded while the graph is off; the drain projecting nodes and
relationships; changes and deletions converging; duplicate delivery applying nothing twice; graph
down then up (rows wait with attempts and backoff, nothing lost); a crashed drain's claim expiring;
one drain at a time; claims of at most GRAPH_SYNC_CLAIM_SIZE rows; tenancy (one organization's drain and
rebuild never touch another's nodes); graph_rebuild equal to the drained graph and its command;
the outbox backlog in /health/ (also while the graph is down); parameter batches under FalkorDB's limit
(statement text included). Dead letters and convergence: test_graph_convergence.py (issue 12).
"""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone

from apps.core.graph import graph_query, graph_reset
from apps.graph import sync as graph_sync
from apps.graph.models import GraphOutbox
from apps.graph.sync import graph_rebuild, graph_sync_drain
from apps.graph.tests.graph_utils import (
    build_catalog,
    closed_port,
    node_ids,
    outbox_for_catalog,
    rels_of,
    snapshot,
)
from apps.organizations.models import Membership, Role
from apps.organizations.services import membership_remove, membership_role_change
from apps.progress.models import ContentItem, Interaction, Progress
from apps.progress.tests.factories import InteractionFactory


def outbox(organization) -> list[tuple[str, str]]:
    return sorted(GraphOutbox.objects.filter(organization=organization).values_list("kind", "object_key"))


def db_now():
    """PostgreSQL's now(): the test's transaction start, which the drain compares due times with."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT now()")
        return cursor.fetchone()[0]


def drain_all():
    result = graph_sync_drain(max_seconds=60)
    assert result.error == "", result.error
    return result


# --------------------------------------------------------------------------- outbox writes


def test_membership_services_write_outbox_rows_in_their_transaction(graph_orgs):
    """organization_create, a role change and a removal each leave one fresh 'user' row (coalesced)."""
    organization, owner = graph_orgs.create()
    assert outbox(organization) == [("user", str(owner.pk))]
    GraphOutbox.objects.all().delete()
    actor = Membership.objects.get(organization=organization, user=owner)
    member = Membership.objects.create(organization=organization, user=build_user(), role=Role.MEMBER)
    membership_role_change(membership=member, role=Role.ADMIN, actor=actor)
    membership_role_change(membership=member, role=Role.MEMBER, actor=actor)
    assert outbox(organization) == [("user", str(member.user_id))]
    membership_remove(membership=member, actor=actor)
    assert outbox(organization) == [("user", str(member.user_id))]


def build_user():
    from apps.users.tests.factories import UserFactory

    return UserFactory()


def test_rolled_back_change_leaves_no_outbox_row(graph_orgs):
    """A change whose transaction rolls back leaves no outbox row behind."""
    organization, owner = graph_orgs.create()
    GraphOutbox.objects.all().delete()
    actor = Membership.objects.get(organization=organization, user=owner)
    member = Membership.objects.create(organization=organization, user=build_user(), role=Role.MEMBER)
    with pytest.raises(RuntimeError), transaction.atomic():
        membership_role_change(membership=member, role=Role.ADMIN, actor=actor)
        assert outbox(organization) == [("user", str(member.user_id))]
        raise RuntimeError("roll back")
    assert outbox(organization) == []
    member.refresh_from_db()
    assert member.role == Role.MEMBER


def test_kick_is_registered_on_commit_and_debounced(graph_orgs, django_capture_on_commit_callbacks, monkeypatch):
    """Writes register graph_sync_kick on commit; a burst of commits enqueues a single drain."""
    organization, _owner = graph_orgs.create()
    sent = []
    monkeypatch.setattr(graph_sync.graph_sync_drain_task, "apply_async", lambda *args, **options: sent.append(1))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        graph_sync.graph_outbox_content(organization_id=organization.pk, item_ids=[1, 2])
        graph_sync.graph_outbox_users(organization_id=organization.pk, user_ids=[3])
    assert [callback.__name__ for callback in callbacks] == ["graph_sync_kick", "graph_sync_kick"]
    assert sent == [1]


def test_batch_keys_collapse_into_one_insert_and_one_row_per_key(graph_orgs, django_assert_num_queries):
    """Batch ingestion: one INSERT for a whole batch, repeated (user, item, kind) keys give one row."""
    organization, _owner = graph_orgs.create()
    GraphOutbox.objects.all().delete()
    keys = [(7, 8, "view")] * 50 + [(7, 8, "like"), (7, 9, "view")]
    with django_assert_num_queries(1):
        graph_sync.graph_outbox_interactions(organization_id=organization.pk, keys=keys)
    graph_sync.graph_outbox_interactions(organization_id=organization.pk, keys=[(7, 8, "view")])
    assert outbox(organization) == [
        ("interaction", "7:8:like"),
        ("interaction", "7:8:view"),
        ("interaction", "7:9:view"),
    ]
    assert GraphOutbox.objects.get(organization=organization, object_key="7:8:like").payload == {
        "user_id": 7,
        "item_id": 8,
        "kind": "like",
    }


def test_graph_off_records_nothing(graph_orgs, settings):
    """NEO4J_URI unset: no outbox rows (graph_rebuild catches up when the graph is turned on)."""
    organization, _owner = graph_orgs.create()
    GraphOutbox.objects.all().delete()
    settings.NEO4J_URI = None
    graph_reset()
    assert graph_sync.graph_outbox_content(organization_id=organization.pk, item_ids=[1]) == 0
    assert outbox(organization) == []
    assert graph_sync_drain().skipped == "graph off"


# --------------------------------------------------------------------------- drain


def test_drain_projects_the_organization_into_the_graph(graph_orgs):
    """Members, content with tags/categories/parent/prerequisites, completions and interaction
    aggregates all land in the graph, every node and relationship with the organization's id."""
    organization, owner = graph_orgs.create()
    world = build_catalog(organization)
    outbox_for_catalog(organization, world)
    result = drain_all()
    assert result.applied == GraphOutbox.objects.count() + result.applied  # the outbox is now empty
    assert GraphOutbox.objects.count() == 0

    org = organization.pk
    course, (l1, l2, l3), article = world["course"], world["lessons"], world["article"]
    alice, bob = world["alice"], world["bob"]
    assert node_ids(org, "User") == {owner.pk, alice.pk, bob.pk}
    assert node_ids(org, "Content") == {course.pk, l1.pk, l2.pk, l3.pk, article.pk}
    assert node_ids(org, "Tag") == {"python", "basics", "advanced", "data"}
    assert node_ids(org, "Category") == {"programming"}
    member_of = {row["a"]: row["p"]["role"] for row in rels_of(org, "MEMBER_OF")}
    assert member_of == {owner.pk: "owner", alice.pk: "member", bob.pk: "admin"}
    children = {(row["a"], row["b"]) for row in rels_of(org, "CHILD_OF")}
    assert children == {(lesson.pk, course.pk) for lesson in (l1, l2, l3)}
    assert {(row["a"], row["b"]) for row in rels_of(org, "PREREQUISITE_OF")} == {(l1.pk, l2.pk), (l2.pk, l3.pk)}
    assert {(row["a"], row["b"]) for row in rels_of(org, "TAGGED") if row["a"] == l1.pk} == {
        (l1.pk, "python"),
        (l1.pk, "basics"),
    }
    completed = rels_of(org, "COMPLETED")
    assert completed == [
        {
            "a": alice.pk,
            "b": l1.pk,
            "p": {"organization_id": org, "at": int((world["now"] - timedelta(hours=1)).timestamp()), "score": 90.0},
        }
    ]
    interacted = {(row["a"], row["b"], row["p"]["kind"]): row["p"] for row in rels_of(org, "INTERACTED")}
    assert set(interacted) == {(alice.pk, l1.pk, "view"), (alice.pk, article.pk, "like"), (bob.pk, l1.pk, "view")}
    assert interacted[(alice.pk, l1.pk, "view")]["count"] == 3
    assert interacted[(alice.pk, l1.pk, "view")]["weight"] == 3.0
    assert interacted[(alice.pk, article.pk, "like")]["weight"] == 3.0
    last = Interaction.objects.filter(user=alice, item=l1).order_by("-occurred_at").first().occurred_at
    assert interacted[(alice.pk, l1.pk, "view")]["last_at"] == int(last.timestamp())
    lesson_node = graph_query(
        "MATCH (c:Content {organization_id: $org, item_id: $id}) RETURN properties(c) AS p", {"org": org, "id": l2.pk}
    )[0]["p"]
    assert lesson_node == {
        "organization_id": org,
        "item_id": l2.pk,
        "kind": "lesson",
        "difficulty": 2,
        "active": True,
        "position": 2,
    }
    # Every relationship of the organization's nodes carries its id.
    stray = graph_query(
        "MATCH (a {organization_id: $org})-[r]-() WHERE r.organization_id <> $org OR r.organization_id IS NULL "
        "RETURN count(r) AS n",
        {"org": org},
    )
    assert stray == [{"n": 0}]


def test_changes_and_deletions_converge(graph_orgs):
    """Tag changes replace edges (orphan tags go), deleted items and reset progress disappear,
    a removed member keeps their history but loses MEMBER_OF, a member without history disappears."""
    organization, owner = graph_orgs.create()
    world = build_catalog(organization)
    outbox_for_catalog(organization, world)
    drain_all()
    org = organization.pk
    l1, l2, l3 = world["lessons"]
    alice, bob = world["alice"], world["bob"]

    ContentItem.objects.filter(pk=l1.pk).update(tags=["python", "intro"], active=False)
    l3.prerequisite_links.all().delete()
    Progress.objects.filter(user=alice, item=l1).update(
        status=Progress.Status.IN_PROGRESS, percent=50, completed_at=None
    )
    article_id = world["article"].pk
    world["article"].delete()  # cascades its interactions
    actor = Membership.objects.get(organization=organization, user=owner)
    membership_remove(membership=Membership.objects.get(organization=organization, user=alice), actor=actor)
    newcomer = Membership.objects.create(organization=organization, user=build_user(), role=Role.MEMBER)
    graph_sync.graph_outbox_users(organization_id=org, user_ids=[newcomer.user_id])
    drain_all()
    assert node_ids(org, "User") == {owner.pk, alice.pk, bob.pk, newcomer.user_id}
    membership_remove(membership=newcomer, actor=actor)

    graph_sync.graph_outbox_content(organization_id=org, item_ids=[l1.pk, l3.pk, article_id])
    graph_sync.graph_outbox_progress(organization_id=org, pairs=[(alice.pk, l1.pk)])
    graph_sync.graph_outbox_interactions(organization_id=org, keys=[(alice.pk, article_id, "like")])
    drain_all()

    assert {row["b"] for row in rels_of(org, "TAGGED") if row["a"] == l1.pk} == {"python", "intro"}
    assert node_ids(org, "Tag") == {"python", "intro", "advanced"}  # basics and data had no item left
    assert graph_query(
        "MATCH (c:Content {organization_id: $org, item_id: $id}) RETURN c.active AS a", {"org": org, "id": l1.pk}
    ) == [{"a": False}]
    assert {(row["a"], row["b"]) for row in rels_of(org, "PREREQUISITE_OF")} == {(l1.pk, l2.pk)}
    assert rels_of(org, "COMPLETED") == []
    assert article_id not in node_ids(org, "Content")
    assert node_ids(org, "User") == {owner.pk, alice.pk, bob.pk}  # the newcomer had no history
    assert {row["a"] for row in rels_of(org, "MEMBER_OF")} == {owner.pk, bob.pk}
    assert {(row["a"], row["p"]["kind"]) for row in rels_of(org, "INTERACTED")} == {
        (alice.pk, "view"),
        (bob.pk, "view"),
    }


def test_duplicate_delivery_applies_nothing_twice(graph_orgs):
    """The same rows drained twice, and re-applied by hand, leave counts and weights unchanged."""
    organization, _owner = graph_orgs.create()
    world = build_catalog(organization)
    outbox_for_catalog(organization, world)
    rows = list(GraphOutbox.objects.values_list("id", "organization_id", "kind", "payload"))
    drain_all()
    before = snapshot(organization.pk)
    outbox_for_catalog(organization, world)  # a redelivery: the same changes announced again
    again = GraphOutbox.objects.count()
    assert again == len(rows)
    assert drain_all().applied == again
    graph_sync.outbox_rows_apply(rows)
    graph_sync.outbox_rows_apply(rows)
    assert snapshot(organization.pk) == before
    view = [
        row for row in rels_of(organization.pk, "INTERACTED") if row["p"]["kind"] == "view" and row["p"]["count"] == 3
    ]
    assert len(view) == 1


def test_new_events_update_the_aggregate_not_add_to_it(graph_orgs):
    """A new interaction re-reads the (user, item, kind) aggregate: count 3 -> 4, never 3 + 4."""
    organization, _owner = graph_orgs.create()
    world = build_catalog(organization)
    outbox_for_catalog(organization, world)
    drain_all()
    alice, l1 = world["alice"], world["lessons"][0]
    InteractionFactory(organization=organization, user=alice, item=l1, kind="view", weight=2.0)
    graph_sync.graph_outbox_interactions(organization_id=organization.pk, keys=[(alice.pk, l1.pk, "view")])
    drain_all()
    drain_all()
    view = [
        row["p"]
        for row in rels_of(organization.pk, "INTERACTED")
        if row["a"] == alice.pk and row["p"]["kind"] == "view"
    ]
    assert [(p["count"], p["weight"]) for p in view] == [(4, 5.0)]


def test_graph_down_then_up_loses_nothing(graph_orgs, settings):
    """Graph unreachable: the drain backs rows off (attempts, next_attempt_at, last_error) and they
    are not retried before they are due; back up, the next due drain applies all of them."""
    organization, owner = graph_orgs.create()
    world = build_catalog(organization)
    outbox_for_catalog(organization, world)
    pending = GraphOutbox.objects.count()
    up_uri = settings.NEO4J_URI
    settings.NEO4J_URI = f"bolt://127.0.0.1:{closed_port()}"
    settings.NEO4J_TIMEOUT = 0.5
    graph_reset()

    result = graph_sync_drain()
    assert result.applied == 0
    assert result.failed == pending
    assert "ServiceUnavailable" in result.error or "Error" in result.error
    rows = list(GraphOutbox.objects.all())
    assert len(rows) == pending
    now = db_now()
    for row in rows:
        assert row.attempts == 1
        assert row.claim_token is None
        assert row.last_error
        # base 5 s * 2**0 with jitter in [0.5, 1]: due 2.5..5 s later (now() is the test's transaction start)
        assert (
            now - timedelta(seconds=60)
            < row.next_attempt_at
            <= now + timedelta(seconds=settings.GRAPH_SYNC_RETRY_BASE_SECONDS)
        )
    assert graph_sync_drain().failed == 0  # nothing is due yet: no retry storm

    GraphOutbox.objects.update(next_attempt_at=now - timedelta(seconds=1))
    second = graph_sync_drain()
    assert second.failed == pending
    assert set(GraphOutbox.objects.values_list("attempts", flat=True)) == {2}

    settings.NEO4J_URI = up_uri
    graph_reset()
    GraphOutbox.objects.update(next_attempt_at=now - timedelta(seconds=1))
    assert drain_all().applied == pending
    assert GraphOutbox.objects.count() == 0
    assert node_ids(organization.pk, "User") == {owner.pk, world["alice"].pk, world["bob"].pk}
    assert len(rels_of(organization.pk, "INTERACTED")) == 3


def test_retry_delay_grows_and_is_capped(graph_orgs, settings):
    """The backoff doubles per attempt, with jitter, up to GRAPH_SYNC_RETRY_MAX_SECONDS."""
    organization, _owner = graph_orgs.create()
    settings.NEO4J_URI = f"bolt://127.0.0.1:{closed_port()}"
    settings.NEO4J_TIMEOUT = 0.5
    settings.GRAPH_SYNC_RETRY_MAX_SECONDS = 30
    graph_reset()
    GraphOutbox.objects.update(attempts=10)  # the owner's row, after many failures
    now = db_now()
    GraphOutbox.objects.update(next_attempt_at=now - timedelta(seconds=1))
    graph_sync_drain()
    row = GraphOutbox.objects.get(organization=organization)
    assert row.attempts == 11
    assert now + timedelta(seconds=15) <= row.next_attempt_at <= now + timedelta(seconds=30)


def test_expired_claim_of_a_dead_drain_is_taken_over(graph_orgs):
    """A drain that died after claiming leaves rows claimed; once the lease has passed they are applied."""
    organization, owner = graph_orgs.create()
    now = db_now()
    GraphOutbox.objects.update(
        claim_token="00000000-0000-0000-0000-000000000001", next_attempt_at=now + timedelta(minutes=5)
    )
    assert graph_sync_drain().applied == 0
    GraphOutbox.objects.update(next_attempt_at=now - timedelta(seconds=1))
    assert graph_sync_drain().applied == 1
    assert node_ids(organization.pk, "User") == {owner.pk}


def test_a_second_drain_waits_its_turn(graph_orgs):
    """While one drain holds the lock another returns at once ("busy") and claims nothing."""
    graph_orgs.create()
    with graph_sync._drain_lock(wait=False) as acquired:
        assert acquired
        result = []
        # The lock is per session: take it from another connection, as a second worker would.
        thread = threading.Thread(target=lambda: result.append(_drain_in_new_connection()))
        thread.start()
        thread.join()
    assert result == ["busy"]
    assert GraphOutbox.objects.count() == 1


def _drain_in_new_connection() -> str:
    from django.db import connections

    try:
        return graph_sync_drain().skipped
    finally:
        connections.close_all()


# --------------------------------------------------------------------------- tenancy, rebuild


def test_tenancy_drain_and_rebuild_never_touch_another_organization(graph_orgs):
    """Two organizations with the same tag names: each subgraph holds only its own nodes, and
    rebuilding A (which deletes A's subgraph first) leaves B's exactly as it was."""
    org_a, _ = graph_orgs.create("A")
    org_b, _ = graph_orgs.create("B")
    world_a = build_catalog(org_a)
    world_b = build_catalog(org_b)
    outbox_for_catalog(org_a, world_a)
    outbox_for_catalog(org_b, world_b)
    drain_all()
    b_before = snapshot(org_b.pk)
    a_items = {world_a["course"].pk, world_a["article"].pk, *(item.pk for item in world_a["lessons"])}
    assert node_ids(org_a.pk, "Content") == a_items
    assert not node_ids(org_b.pk, "Content") & a_items
    assert node_ids(org_b.pk, "Tag") == node_ids(org_a.pk, "Tag")  # same names, separate nodes
    crossing = graph_query(
        "MATCH (a {organization_id: $a})-[r]-(b {organization_id: $b}) RETURN count(r) AS n",
        {"a": org_a.pk, "b": org_b.pk},
    )
    assert crossing == [{"n": 0}]
    graph_rebuild(organization=org_a)
    assert snapshot(org_b.pk) == b_before


def test_rebuild_equals_the_drained_graph(graph_orgs):
    """graph_rebuild from PostgreSQL produces exactly the graph the drain built, and repairs drift."""
    organization, _owner = graph_orgs.create()
    world = build_catalog(organization)
    outbox_for_catalog(organization, world)
    drain_all()
    drained = snapshot(organization.pk)
    assert drained[0] and drained[1]
    graph_query(  # drift: a stray node and a lost relationship
        "MERGE (:Content {organization_id: $org, item_id: -1})", {"org": organization.pk}
    )
    graph_query(
        "MATCH (:User {organization_id: $org})-[r:COMPLETED {organization_id: $org}]->() DELETE r",
        {"org": organization.pk},
    )
    assert snapshot(organization.pk) != drained
    counts = graph_rebuild(organization=organization)
    assert snapshot(organization.pk) == drained
    assert counts["users"] == 3
    assert counts["content"] == 5
    assert counts["completed"] == 1
    assert counts["interactions"] == 3
    assert counts["deleted_nodes"] >= len(drained[0])


def test_graph_rebuild_command_prints_progress(graph_orgs, capsys):
    """manage.py graph_rebuild --org SLUG rebuilds that organization and reports what it wrote; off a
    terminal, progress is a plain line (issue 16)."""
    organization, _owner = graph_orgs.create()
    world = build_catalog(organization)
    outbox_for_catalog(organization, world)
    drain_all()
    drained = snapshot(organization.pk)
    call_command("graph_rebuild", "--org", organization.slug)
    out = capsys.readouterr().out
    assert f"graph_rebuild: 1/1 organization (100%) - {organization.slug} rebuilt" in out
    assert f"{organization.slug}: 3 users, 5 content items, 1 completions, 3 interaction aggregates" in out
    assert snapshot(organization.pk) == drained


def test_graph_rebuild_command_rejects_an_unknown_org(db):
    """An unknown slug is a CommandError naming it."""
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no-such-org"):
        call_command("graph_rebuild", "--org", "no-such-org")


# --------------------------------------------------------------------------- health


def test_health_shows_the_outbox_backlog(graph_orgs, settings):
    """/health/ reports pending rows (dead ones excluded), retrying rows, dead rows and the oldest
    pending row's age under checks.graph.outbox."""
    settings.HEALTH_REQUIRE_CELERY = False
    settings.HEALTH_TOKEN = "health-token"
    organization, _owner = graph_orgs.create()
    graph_sync.graph_outbox_content(organization_id=organization.pk, item_ids=[1, 2, 3])
    GraphOutbox.objects.filter(object_key="1").update(
        attempts=2,
        created_at=timezone.now() - timedelta(minutes=10),
        next_attempt_at=timezone.now() + timedelta(hours=1),
    )
    GraphOutbox.objects.filter(object_key="3").update(
        attempts=1, dead_at=timezone.now(), created_at=timezone.now() - timedelta(days=2)
    )
    response = Client().get("/health/", HTTP_X_HEALTH_TOKEN="health-token")
    assert response.status_code == 200, response.content
    backlog = response.json()["checks"]["graph"]["outbox"]
    assert backlog["pending"] == GraphOutbox.objects.filter(dead_at__isnull=True).count() == 3
    assert backlog["retrying"] == 1
    assert backlog["dead"] == 1
    assert 600 <= backlog["oldest_age_seconds"] < 3600


def test_a_round_claims_at_most_claim_size_rows(graph_orgs):
    """Rows are claimed GRAPH_SYNC_CLAIM_SIZE at a time (5 rows, 2 per claim: 3 rounds)."""
    organization, _owner = graph_orgs.create()
    graph_sync.graph_outbox_content(organization_id=organization.pk, item_ids=[1, 2, 3, 4])
    result = graph_sync_drain(claim_size=2)
    assert (result.applied, result.rounds, result.error) == (5, 3, "")


def test_large_items_are_sent_in_small_parameter_batches(graph_orgs, settings):
    """An item with 120 long tags (~9 KB of names) is drained in queries of at most
    GRAPH_SYNC_MAX_PARAM_BYTES, statement text included (FalkorDB crashes on ~4 KB), and lands whole."""
    from apps.graph.projection import CONTENT_TAGGED, param_chunks
    from apps.progress.tests.factories import ContentItemFactory

    organization, _owner = graph_orgs.create()
    tags = [(f"tag-{n:03d}-" + "x" * 64)[:64] for n in range(120)]
    item = ContentItemFactory(organization=organization, tags=tags)
    rows = [[item.pk, tag] for tag in tags]
    chunks = list(param_chunks(rows, cypher=CONTENT_TAGGED))
    assert len(chunks) > 1
    assert all(len(json.dumps(chunk)) + len(CONTENT_TAGGED) <= settings.GRAPH_SYNC_MAX_PARAM_BYTES for chunk in chunks)
    assert [row for chunk in chunks for row in chunk] == rows
    graph_sync.graph_outbox_content(organization_id=organization.pk, item_ids=[item.pk])
    drain_all()
    assert {row["b"] for row in rels_of(organization.pk, "TAGGED")} == set(tags)


def test_health_shows_the_backlog_while_the_graph_is_down(graph_orgs, settings):
    """Graph unreachable: /health/ is 503 naming the graph, and still reports the waiting rows."""
    settings.HEALTH_REQUIRE_CELERY = False
    settings.HEALTH_REQUIRE_GRAPH = True
    settings.HEALTH_TIMEOUT = 0.3
    settings.HEALTH_TOKEN = "health-token"
    graph_orgs.create()
    settings.NEO4J_URI = f"bolt://127.0.0.1:{closed_port()}"
    settings.NEO4J_TIMEOUT = 0.5
    graph_reset()
    response = Client().get("/health/", HTTP_X_HEALTH_TOKEN="health-token")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["graph"]
    assert body["checks"]["graph"]["outbox"]["pending"] == GraphOutbox.objects.count() == 1
