"""Members' structured interests in the knowledge graph (issue 19), on the real embedded Bolt endpoint.

Covers: set interests -> one user outbox row (member_interests_changed) -> the drain writes
(User)-[:INTERESTED_IN {weight}]->(InterestValue {name, category})-[:BELONGS_TO]->(InterestCategory);
chat topics land under the "topics" category; replacing the interests moves the edges and deletes the
values and categories nobody is interested in any more; leaving the organization removes them; a rebuild
gives the same graph; the graph's interests path reads the weights.
"""

from __future__ import annotations

from apps.core.graph import graph_query
from apps.graph.models import GraphOutbox
from apps.graph.queries import graph_candidates
from apps.graph.sync import graph_outbox_content, graph_rebuild, graph_sync_drain
from apps.interests import services
from apps.organizations.models import Membership, Role
from apps.organizations.services import membership_remove
from apps.organizations.tests.factories import MembershipFactory
from apps.progress.tests.factories import ContentItemFactory


def interest_edges(organization_id: int) -> list[tuple]:
    rows = graph_query(
        "MATCH (u:User {organization_id: $org})-[r:INTERESTED_IN {organization_id: $org}]->"
        "(v:InterestValue {organization_id: $org})-[:BELONGS_TO {organization_id: $org}]->"
        "(c:InterestCategory {organization_id: $org}) "
        "RETURN u.user_id AS u, v.name AS v, v.category AS vc, c.name AS c, r.weight AS w ORDER BY u, c, v",
        {"org": organization_id},
    )
    return [(row["u"], row["c"], row["v"], row["w"]) for row in rows if row["vc"] == row["c"]]


def labels(organization_id: int, label: str) -> set:
    rows = graph_query(f"MATCH (n:{label} {{organization_id: $org}}) RETURN n.name AS n", {"org": organization_id})
    return {row["n"] for row in rows}


def test_interests_are_projected_with_weights_and_categories(graph_orgs):
    """INTERESTED_IN {weight} -> InterestValue -> BELONGS_TO -> InterestCategory; orphans removed."""
    organization, owner = graph_orgs.create()
    GraphOutbox.objects.all().delete()
    services.member_interests_set(
        organization=organization,
        user_id=owner.pk,
        source="stated",
        interests=[{"category": "skills", "value": "python", "weight": 0.8}, "o'reilly books"],
    )
    services.member_interest_evidence_add(
        organization_id=organization.pk, source="chat", evidence=[(owner.pk, "topics", "data", 0.5, [])]
    )
    assert list(GraphOutbox.objects.values_list("kind", "object_key")) == [("user", str(owner.pk))]
    assert graph_sync_drain().applied == 1
    assert interest_edges(organization.pk) == [
        (owner.pk, "general", "o'reilly books", 1.0),
        (owner.pk, "skills", "python", 0.8),
        (owner.pk, "topics", "data", 0.5),
    ]
    services.member_interests_set(organization=organization, user_id=owner.pk, source="stated", interests=["go"])
    graph_sync_drain()
    assert interest_edges(organization.pk) == [(owner.pk, "general", "go", 1.0), (owner.pk, "topics", "data", 0.5)]
    assert labels(organization.pk, "InterestValue") == {"go", "data"}
    assert labels(organization.pk, "InterestCategory") == {"general", "topics"}
    counts_before = interest_edges(organization.pk)
    graph_rebuild(organization=organization)
    assert interest_edges(organization.pk) == counts_before


def test_leaving_removes_the_members_interests_from_the_graph(graph_orgs):
    """membership_remove -> interests deleted -> the drain leaves no INTERESTED_IN and no orphan value."""
    organization, owner = graph_orgs.create()
    member = MembershipFactory(organization=organization, role=Role.MEMBER).user
    services.member_interests_set(organization=organization, user_id=member.pk, source="stated", interests=["x"])
    graph_sync_drain()
    assert interest_edges(organization.pk) == [(member.pk, "general", "x", 1.0)]
    membership_remove(
        membership=Membership.objects.get(organization=organization, user=member),
        actor=Membership.objects.get(organization=organization, user=owner),
    )
    graph_sync_drain()
    assert interest_edges(organization.pk) == []
    assert labels(organization.pk, "InterestValue") == set()


def test_the_graph_interest_path_uses_the_weights(graph_orgs):
    """graph_candidates: items tagged with an interest value's name, stronger interests first."""
    organization, owner = graph_orgs.create()
    strong = ContentItemFactory(organization=organization, title="Strong", tags=["python"])
    weak = ContentItemFactory(organization=organization, title="Weak", tags=["knitting"])
    services.member_interests_set(
        organization=organization,
        user_id=owner.pk,
        source="stated",
        interests=[{"value": "python", "weight": 0.9}, {"value": "knitting", "weight": 0.2}],
    )
    graph_outbox_content(organization_id=organization.pk, item_ids=[strong.pk, weak.pk])
    graph_sync_drain()
    result = graph_candidates(organization_id=organization.pk, user_id=owner.pk, limit=10)
    assert [(c.item_id, c.reason) for c in result] == [
        (strong.pk, "Matches your interest in python"),
        (weak.pk, "Matches your interest in knitting"),
    ]
