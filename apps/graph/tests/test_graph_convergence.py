"""Graph sync convergence (issue 12) against the real embedded FalkorDB Bolt endpoint and PostgreSQL.

Covers: names with quotes and backslashes land exactly (FalkorDB prints parameters into the query
unescaped: before issue 12 one "O'Reilly" tag failed every claim it was in); graph down then up
(rows kept with attempts, nothing dead-lettered, then the graph equals a rebuild from PostgreSQL);
a poison row the server really rejects (a non-finite weight) is isolated and dead-lettered while the
rest of its claim applies, is never claimed again, shows in the backlog, and `graph_retry` requeues
it after the fix; a claim made only of rejected rows is dead-lettered (the probe write succeeds);
a row too large for one query is refused before it reaches the server; the GraphOutbox admin
(changelist with the state filter, the "retry" action).
"""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import Count
from django.test import Client
from django.urls import reverse

from apps.core.graph import graph_reset
from apps.graph import projection as graph_projection
from apps.graph import sync as graph_sync
from apps.graph.models import GraphOutbox
from apps.graph.sync import graph_outbox_backlog, graph_rebuild, graph_sync_drain
from apps.graph.tests.graph_utils import (
    build_catalog,
    closed_port,
    node_ids,
    outbox_for_catalog,
    rels_of,
    snapshot,
)
from apps.interests.services import member_interests_set
from apps.progress.models import Interaction
from apps.progress.tests.factories import ContentItemFactory, InteractionFactory
from apps.users.tests.factories import UserFactory


def make_due():
    with connection.cursor() as cursor:
        cursor.execute("SELECT now()")
        now = cursor.fetchone()[0]
    GraphOutbox.objects.update(next_attempt_at=now - timedelta(seconds=1))


def interacted(organization_id: int) -> set[tuple[int, int, str]]:
    return {(row["a"], row["b"], row["p"]["kind"]) for row in rels_of(organization_id, "INTERACTED")}


def poison(organization, world) -> Interaction:
    """An interaction whose weight PostgreSQL stores but FalkorDB cannot take: NaN is printed into
    the query text as `nan`, which its parser rejects (a genuine server rejection, no mock)."""
    event = InteractionFactory(
        organization=organization, user=world["bob"], item=world["article"], kind="rate", value=4.0, weight=1.0
    )
    Interaction.objects.filter(pk=event.pk).update(weight=float("nan"))
    graph_sync.graph_outbox_interactions(organization_id=organization.pk, keys=[(event.user_id, event.item_id, "rate")])
    return event


def test_names_with_quotes_and_backslashes_land_exactly(graph_orgs):
    """Regression (issue 12): tags and interests with ' \\ " and non-ASCII are written verbatim."""
    organization, owner = graph_orgs.create()
    names = ["O'Reilly", "it's", "C:\\new", "ends\\", "a\\'b", 'say "hi"', "naïve 🎓"]
    item = ContentItemFactory(organization=organization, tags=names, categories=["rock 'n' roll"])
    member_interests_set(  # issue 19: structured interests (InterestValue nodes)
        organization=organization, user_id=owner.pk, interests=["it's", "back\\slash"], source="stated"
    )
    graph_sync.graph_outbox_content(organization_id=organization.pk, item_ids=[item.pk])
    graph_sync.graph_outbox_users(organization_id=organization.pk, user_ids=[owner.pk])
    result = graph_sync_drain()
    assert (result.error, result.dead) == ("", 0)
    assert {row["b"] for row in rels_of(organization.pk, "TAGGED")} == set(names)
    assert {row["b"] for row in rels_of(organization.pk, "IN_CATEGORY")} == {"rock 'n' roll"}
    assert {row["b"] for row in rels_of(organization.pk, "INTERESTED_IN")} == {"it's", "back\\slash"}
    assert not GraphOutbox.objects.exists()


def test_graph_down_then_up_converges_with_nothing_dead(graph_orgs, settings):
    """Graph unreachable: every row waits with attempts 1, none is dead; back up, one due drain
    empties the outbox and the graph equals a rebuild from PostgreSQL."""
    organization, _owner = graph_orgs.create()
    world = build_catalog(organization, tag_prefix="o'")
    outbox_for_catalog(organization, world)
    pending = GraphOutbox.objects.count()
    up_uri = settings.NEO4J_URI
    settings.NEO4J_URI = f"bolt://127.0.0.1:{closed_port()}"
    settings.NEO4J_TIMEOUT = 0.5
    graph_reset()

    down = graph_sync_drain()
    assert (down.applied, down.failed, down.dead) == (0, pending, 0)
    assert set(GraphOutbox.objects.values_list("attempts", flat=True)) == {1}
    assert not GraphOutbox.objects.filter(dead_at__isnull=False).exists()
    backlog = graph_outbox_backlog()
    assert (backlog["pending"], backlog["retrying"], backlog["dead"]) == (pending, pending, 0)

    settings.NEO4J_URI = up_uri
    graph_reset()
    make_due()
    up = graph_sync_drain()
    assert (up.applied, up.failed, up.dead, up.error) == (pending, 0, 0, "")
    assert graph_outbox_backlog()["pending"] == 0
    drained = snapshot(organization.pk)
    graph_rebuild(organization=organization)
    assert snapshot(organization.pk) == drained
    assert node_ids(organization.pk, "Content") == {world["course"].pk, world["article"].pk} | {
        lesson.pk for lesson in world["lessons"]
    }


def test_poison_row_is_dead_lettered_the_rest_applies_and_graph_retry_requeues_it(graph_orgs):
    """One NaN-weight aggregate among good rows: exactly that row is dead with the server's error,
    every other row is applied and deleted, a dead row is never claimed again, /health/ figures
    count it; after fixing the data, graph_retry requeues it and the next drain applies it."""
    organization, _owner = graph_orgs.create()
    world = build_catalog(organization)
    outbox_for_catalog(organization, world)
    bad = poison(organization, world)
    good_rows = GraphOutbox.objects.count() - 1

    result = graph_sync_drain()
    assert (result.applied, result.dead, result.failed) == (good_rows, 1, 0)
    dead = GraphOutbox.objects.get()
    assert (dead.kind, dead.object_key) == ("interaction", f"{bad.user_id}:{bad.item_id}:rate")
    assert dead.dead_at is not None and dead.attempts == 1 and dead.claim_token is None
    assert dead.last_error.startswith(("DatabaseError:", "ClientError:", "CypherSyntaxError:"))
    assert dead.state == "dead"
    expected = {
        (row["user_id"], row["item_id"], row["kind"])
        for row in Interaction.objects.filter(organization=organization)
        .exclude(pk=bad.pk)
        .values("user_id", "item_id", "kind")
        .annotate(n=Count("id"))
    }
    assert interacted(organization.pk) == expected
    assert {(row["a"], row["b"]) for row in rels_of(organization.pk, "PREREQUISITE_OF")} == {
        (world["lessons"][0].pk, world["lessons"][1].pk),
        (world["lessons"][1].pk, world["lessons"][2].pk),
    }
    backlog = graph_outbox_backlog()
    assert (backlog["pending"], backlog["retrying"], backlog["dead"]) == (0, 0, 1)
    make_due()
    assert graph_sync_drain().rounds == 0  # dead rows are never claimed

    Interaction.objects.filter(pk=bad.pk).update(weight=2.0)
    out = io.StringIO()
    call_command("graph_retry", "--organization", organization.slug, stdout=out)
    assert out.getvalue().strip() == "1 dead graph outbox row(s) requeued."
    requeued = GraphOutbox.objects.get()
    assert (requeued.attempts, requeued.dead_at, requeued.last_error) == (0, None, "")
    assert graph_sync_drain().applied == 1
    assert not GraphOutbox.objects.exists()
    rate = [row for row in rels_of(organization.pk, "INTERACTED") if row["p"]["kind"] == "rate"]
    assert [(row["a"], row["b"], row["p"]["weight"], row["p"]["count"]) for row in rate] == [
        (bad.user_id, bad.item_id, 2.0, 1)
    ]


def test_a_claim_of_only_rejected_rows_is_dead_lettered(graph_orgs):
    """Every row of the claim fails alone but a known-good write succeeds: the rows are to blame."""
    organization, _owner = graph_orgs.create()
    world = build_catalog(organization)
    graph_sync.graph_sync_drain()  # the owner's row
    bad = poison(organization, world)
    other = InteractionFactory(organization=organization, user=world["alice"], item=world["article"], kind="share")
    Interaction.objects.filter(pk=other.pk).update(weight=float("inf"))
    graph_sync.graph_outbox_interactions(
        organization_id=organization.pk, keys=[(other.user_id, other.item_id, "share")]
    )
    result = graph_sync_drain()
    assert (result.applied, result.dead, result.failed) == (0, 2, 0)
    assert sorted(GraphOutbox.objects.filter(dead_at__isnull=False).values_list("object_key", flat=True)) == sorted(
        [f"{bad.user_id}:{bad.item_id}:rate", f"{other.user_id}:{other.item_id}:share"]
    )


def test_graph_retry_all_and_unknown_organization(graph_orgs):
    """--all requeues every dead row; an unknown slug is a CommandError."""
    from django.core.management.base import CommandError

    organization, _owner = graph_orgs.create()
    world = build_catalog(organization)
    poison(organization, world)
    graph_sync_drain()
    out = io.StringIO()
    call_command("graph_retry", "--all", stdout=out)
    assert out.getvalue().strip() == "1 dead graph outbox row(s) requeued."
    with pytest.raises(CommandError, match="Unknown organization"):
        call_command("graph_retry", "--organization", "no-such-org")


def test_a_row_too_large_for_one_query_is_refused_before_the_server(settings):
    """FalkorDB crashes on a query over 4 KB: a row over the budget raises GraphRowTooLarge (a
    rejection the drain dead-letters) instead of being sent."""
    settings.GRAPH_SYNC_MAX_PARAM_BYTES = 400
    rows = [{"i": 1, "t": "x" * 50}, {"i": 2, "t": "y" * 500}]
    chunks = graph_projection.param_chunks(rows, cypher="UNWIND $rows AS row RETURN row")
    assert next(chunks) == [rows[0]]
    with pytest.raises(graph_projection.GraphRowTooLarge):
        next(chunks)


def test_admin_lists_dead_rows_and_retries_them(graph_orgs):
    """Staff see dead rows under the state filter with their error; the "retry" action requeues them."""
    organization, _owner = graph_orgs.create()
    world = build_catalog(organization)
    bad = poison(organization, world)
    graph_sync_drain()
    dead = GraphOutbox.objects.get(dead_at__isnull=False)
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    changelist = reverse("admin:graph_graphoutbox_changelist")

    page = client.get(changelist, {"state": "dead"})
    assert page.status_code == 200
    assert f"{bad.user_id}:{bad.item_id}:rate" in page.content.decode()
    assert list(page.context["cl"].result_list) == [dead]
    assert client.get(changelist, {"state": "pending"}).context["cl"].result_count == 0
    assert client.get(reverse("admin:graph_graphoutbox_change", args=[dead.pk])).status_code == 200

    response = client.post(changelist, {"action": "retry", "_selected_action": [dead.pk]}, follow=True)
    assert response.status_code == 200
    assert "1 dead row(s) requeued." in response.content.decode()
    requeued = GraphOutbox.objects.get()
    assert (requeued.object_key, requeued.attempts, requeued.dead_at) == (dead.object_key, 0, None)
