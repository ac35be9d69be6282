"""Helpers of the graph tests: organizations with a clean subgraph, graph snapshots, a catalog."""

from __future__ import annotations

import socket
from datetime import timedelta

from django.utils import timezone

from apps.core.graph import graph_query, graph_reset
from apps.graph.projection import organization_subgraph_delete
from apps.organizations.models import Role
from apps.organizations.services import organization_create
from apps.organizations.tests.factories import MembershipFactory, plan
from apps.progress.models import ContentPrerequisite, Progress
from apps.progress.tests.factories import ContentItemFactory, InteractionFactory
from apps.users.tests.factories import UserFactory


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class GraphOrgs:
    """Creates organizations through the service (so the owner's outbox row is real) and removes
    their subgraphs before use and after the test: the embedded graph is shared by every test
    database on this machine, and organization ids of other databases may be the same."""

    def __init__(self):
        self.ids: list[int] = []

    def create(self, name: str = "Graph Org"):
        owner = UserFactory()
        # An explicit plan: a transactional test may run after another one flushed the seeded plans.
        organization = organization_create(user=owner, name=name, plan=plan("pro"))
        self.forget(organization.pk)
        self.ids.append(organization.pk)
        return organization, owner

    def forget(self, organization_id: int) -> None:
        organization_subgraph_delete(organization_id)

    def cleanup(self) -> None:
        graph_reset()
        for organization_id in self.ids:
            organization_subgraph_delete(organization_id)


def snapshot(organization_id: int) -> tuple[set, set]:
    """(nodes, relationships) of one organization as comparable sets of tuples."""
    nodes, rels = set(), set()
    for label in ("Organization", "User", "Content", "Tag", "Category"):
        for row in graph_query(
            f"MATCH (n:{label} {{organization_id: $org}}) RETURN properties(n) AS p", {"org": organization_id}
        ):
            nodes.add((label, tuple(sorted(row["p"].items(), key=lambda kv: kv[0]))))
    for label, key in (("User", "user_id"), ("Content", "item_id")):
        for row in graph_query(
            f"MATCH (a:{label} {{organization_id: $org}})-[r]->(b) "
            "RETURN a.{key} AS a, type(r) AS t, properties(r) AS p, labels(b)[0] AS bl, "
            "coalesce(b.user_id, b.item_id, b.name, b.organization_id) AS b".replace("{key}", key),
            {"org": organization_id},
        ):
            props = tuple(sorted(row["p"].items(), key=lambda kv: kv[0]))
            rels.add((label, row["a"], row["t"], props, row["bl"], row["b"]))
    return nodes, rels


def rels_of(organization_id: int, rel_type: str) -> list[dict]:
    return graph_query(
        f"MATCH (a {{organization_id: $org}})-[r:{rel_type} {{organization_id: $org}}]->(b {{organization_id: $org}}) "
        "RETURN coalesce(a.user_id, a.item_id) AS a, coalesce(b.item_id, b.name, b.organization_id) AS b, "
        "properties(r) AS p ORDER BY a, b",
        {"org": organization_id},
    )


def node_ids(organization_id: int, label: str) -> set:
    key = {"User": "user_id", "Content": "item_id", "Tag": "name", "Category": "name"}[label]
    rows = graph_query(f"MATCH (n:{label} {{organization_id: $org}}) RETURN n.{key} AS k", {"org": organization_id})
    return {row["k"] for row in rows}


def build_catalog(organization, *, tag_prefix: str = ""):
    """A small course world: a course with 3 lessons (1 -> 2 -> 3 as prerequisites), an article,
    two learners. Returns a dict of the objects. Rows are created with the ORM; outbox rows are the
    caller's business."""
    t = tag_prefix
    course = ContentItemFactory(organization=organization, title="Python Course", kind="course", tags=[f"{t}python"])
    lessons = [
        ContentItemFactory(
            organization=organization,
            title=f"Lesson {n}",
            parent=course,
            position=n,
            tags=[f"{t}python", f"{t}basics" if n == 1 else f"{t}advanced"],
            categories=[f"{t}programming"],
            difficulty=n,
        )
        for n in (1, 2, 3)
    ]
    ContentPrerequisite.objects.create(organization=organization, item=lessons[1], prerequisite=lessons[0])
    ContentPrerequisite.objects.create(organization=organization, item=lessons[2], prerequisite=lessons[1])
    article = ContentItemFactory(
        organization=organization,
        title="Data Article",
        kind="article",
        tags=[f"{t}data"],
        categories=[f"{t}programming"],
    )
    alice = MembershipFactory(organization=organization, role=Role.MEMBER).user
    bob = MembershipFactory(organization=organization, role=Role.ADMIN).user
    now = timezone.now().replace(microsecond=0)
    Progress.objects.create(
        organization=organization,
        user=alice,
        item=lessons[0],
        status=Progress.Status.COMPLETED,
        percent=100,
        score=90,
        started_at=now - timedelta(hours=2),
        completed_at=now - timedelta(hours=1),
        last_activity_at=now - timedelta(hours=1),
    )
    for _ in range(3):
        InteractionFactory(organization=organization, user=alice, item=lessons[0], kind="view", weight=1.0)
    InteractionFactory(organization=organization, user=alice, item=article, kind="like", weight=3.0)
    InteractionFactory(organization=organization, user=bob, item=lessons[0], kind="view", weight=1.0)
    return {"course": course, "lessons": lessons, "article": article, "alice": alice, "bob": bob, "now": now}


def outbox_for_catalog(organization, world) -> None:
    """The outbox rows the services write for everything in the organization (as if each row had
    been created through them)."""
    from apps.graph import sync as graph_sync
    from apps.organizations.models import Membership
    from apps.progress.models import ContentItem, Interaction

    graph_sync.graph_outbox_content(
        organization_id=organization.pk,
        item_ids=ContentItem.objects.filter(organization=organization).values_list("id", flat=True),
    )
    graph_sync.graph_outbox_users(
        organization_id=organization.pk,
        user_ids=Membership.objects.filter(organization=organization).values_list("user_id", flat=True),
    )
    graph_sync.graph_outbox_progress(
        organization_id=organization.pk,
        pairs=Progress.objects.filter(organization=organization).values_list("user_id", "item_id"),
    )
    graph_sync.graph_outbox_interactions(
        organization_id=organization.pk,
        keys=Interaction.objects.filter(organization=organization).values_list("user_id", "item_id", "kind"),
    )
