"""The progress services feed the graph (issue 6 services -> issue 7 outbox -> drain -> Bolt).

Covers: content_create / content_update / content_delete, progress_complete (course roll-up) and
progress_reset, interaction_create and interaction_batch_ingest (one outbox INSERT per batch,
a resent batch adds nothing), each announced in the service's transaction and drained into the
graph with the expected nodes and relationships; member sync (members and their interests).
"""

from __future__ import annotations

from apps.graph.models import GraphOutbox
from apps.graph.sync import graph_sync_drain
from apps.graph.tests.graph_utils import node_ids, rels_of
from apps.organizations.models import Membership
from apps.progress.services import (
    content_create,
    content_delete,
    content_update,
    interaction_batch_ingest,
    interaction_create,
    progress_complete,
    progress_reset,
)
from apps.users.tests.factories import UserFactory


def kinds(organization) -> list[tuple[str, str]]:
    return sorted(GraphOutbox.objects.filter(organization=organization).values_list("kind", "object_key"))


def drain():
    result = graph_sync_drain()
    assert result.error == "", result.error
    return result


def test_catalog_services_announce_and_the_drain_projects_them(graph_orgs):
    """Create a course with two lessons and a prerequisite, retag one, delete another."""
    organization, _owner = graph_orgs.create()
    GraphOutbox.objects.all().delete()
    course = content_create(organization=organization, data={"title": "Course", "kind": "course", "tags": ["sql"]})
    first = content_create(organization=organization, data={"title": "Joins", "parent": course.pk, "tags": ["sql"]})
    second = content_create(
        organization=organization,
        data={"title": "Window functions", "parent": course.pk, "prerequisites": [first.pk], "categories": ["db"]},
    )
    assert kinds(organization) == sorted(("content", str(item.pk)) for item in (course, first, second))
    drain()
    org = organization.pk
    assert node_ids(org, "Content") == {course.pk, first.pk, second.pk}
    assert [(row["a"], row["b"]) for row in rels_of(org, "PREREQUISITE_OF")] == [(first.pk, second.pk)]
    assert {(row["a"], row["b"]) for row in rels_of(org, "CHILD_OF")} == {(first.pk, course.pk), (second.pk, course.pk)}
    assert node_ids(org, "Category") == {"db"}

    content_update(item=first, data={"tags": ["sql", "joins"]})
    assert kinds(organization) == [("content", str(first.pk))]
    content_delete(item=second)
    drain()
    assert {row["b"] for row in rels_of(org, "TAGGED") if row["a"] == first.pk} == {"sql", "joins"}
    assert node_ids(org, "Content") == {course.pk, first.pk}
    assert rels_of(org, "PREREQUISITE_OF") == []
    assert node_ids(org, "Category") == set()


def test_progress_and_events_reach_the_graph(graph_orgs):
    """Completing the only lesson completes its course (roll-up); reset removes both completions;
    batch events are announced with one INSERT and a resent batch adds nothing."""
    organization, _owner = graph_orgs.create()
    learner = UserFactory()
    Membership.objects.create(organization=organization, user=learner)
    course = content_create(organization=organization, data={"title": "Course", "kind": "course"})
    lesson = content_create(organization=organization, data={"title": "Lesson", "parent": course.pk})
    drain()

    progress_complete(organization=organization, user=learner, item=lesson)
    assert ("progress", f"{learner.pk}:{course.pk}") in kinds(organization)
    assert ("interaction", f"{learner.pk}:{lesson.pk}:complete") in kinds(organization)
    drain()
    org = organization.pk
    assert {row["b"] for row in rels_of(org, "COMPLETED") if row["a"] == learner.pk} == {lesson.pk, course.pk}
    assert {(row["b"], row["p"]["kind"]) for row in rels_of(org, "INTERACTED")} >= {
        (lesson.pk, "start"),
        (lesson.pk, "complete"),
    }

    progress_reset(organization=organization, user=learner, item=course)
    drain()
    assert rels_of(org, "COMPLETED") == []

    interaction_create(organization=organization, user=learner, item=course, kind="like")
    assert kinds(organization) == [("interaction", f"{learner.pk}:{course.pk}:like")]
    drain()
    events = [
        {"idempotency_key": f"e{n}", "kind": "view", "item": lesson.pk, "user": learner.pk, "weight": 1.0}
        for n in range(20)
    ]
    outcome = interaction_batch_ingest(organization=organization, events=events)
    assert outcome.created == 20
    assert kinds(organization) == [("interaction", f"{learner.pk}:{lesson.pk}:view")]
    drain()
    again = interaction_batch_ingest(organization=organization, events=events)
    assert again.created == 0
    assert kinds(organization) == []
    views = [row["p"] for row in rels_of(org, "INTERACTED") if row["p"]["kind"] == "view"]
    assert [(p["count"], p["weight"]) for p in views] == [(20, 20.0)]
    assert {row["p"]["kind"] for row in rels_of(org, "INTERACTED") if row["b"] == course.pk} == {
        "start",
        "complete",
        "like",
    }


def test_member_sync_announces_members_with_their_interests(graph_orgs):
    """members_sync creates members (one outbox INSERT for the batch); the drain links them to the
    organization and to their interests."""
    from apps.organizations.member_sync import MemberSyncRow, members_sync

    organization, _owner = graph_orgs.create()
    GraphOutbox.objects.all().delete()
    rows = [
        MemberSyncRow(
            index=n, data={"external_id": f"ext-{n}", "email": f"synced{n}@example.com", "interests": ["sql"]}
        )
        for n in range(3)
    ]
    members_sync(organization=organization, rows=rows)
    assert [row.status for row in rows] == ["created"] * 3
    user_ids = {row.user.pk for row in rows}
    assert kinds(organization) == sorted(("user", str(user_id)) for user_id in user_ids)
    drain()
    org = organization.pk
    assert {row["a"] for row in rels_of(org, "MEMBER_OF")} >= user_ids
    assert {(row["a"], row["b"]) for row in rels_of(org, "INTERESTED_IN")} == {(user_id, "sql") for user_id in user_ids}
