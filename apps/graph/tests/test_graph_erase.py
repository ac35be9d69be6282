"""Erasing a member (`member_erase`) on the real embedded Bolt endpoint: a member who only leaves stays in the graph
while they have activity there (their history), an erased one leaves it with every edge."""

from __future__ import annotations

from apps.core.graph import graph_query
from apps.graph.sync import graph_sync_drain
from apps.organizations.models import Membership, Role
from apps.organizations.services import member_erase, membership_remove
from apps.organizations.tests.factories import MembershipFactory
from apps.progress.services import interaction_create
from apps.progress.tests.factories import ContentItemFactory


def users(organization_id: int) -> set:
    rows = graph_query("MATCH (u:User {organization_id: $org}) RETURN u.user_id AS u", {"org": organization_id})
    return {row["u"] for row in rows}


def interacted(organization_id: int) -> set:
    rows = graph_query(
        "MATCH (u:User {organization_id: $org})-[:INTERACTED]->(c:Content {organization_id: $org}) "
        "RETURN u.user_id AS u",
        {"org": organization_id},
    )
    return {row["u"] for row in rows}


def test_an_erased_member_leaves_the_graph_with_their_edges(graph_orgs):
    organization, owner = graph_orgs.create()
    leaver, erased = (MembershipFactory(organization=organization, role=Role.MEMBER) for _ in range(2))
    item = ContentItemFactory(organization=organization)
    for membership in (leaver, erased):
        interaction_create(organization=organization, user=membership.user, item=item, kind="view")
    graph_sync_drain()
    assert interacted(organization.pk) == {leaver.user_id, erased.user_id}
    actor = Membership.objects.get(organization=organization, user=owner)

    membership_remove(membership=leaver, actor=actor)
    member_erase(membership=erased, actor=actor)
    graph_sync_drain()

    assert users(organization.pk) == {owner.pk, leaver.user_id}  # the leaver's history stays
    assert interacted(organization.pk) == {leaver.user_id}
