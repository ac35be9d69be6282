"""Graph outbox rows written by the progress services in the same transaction (docs/graph.md):
content (create, update, bulk, delete), progress (including a course's roll-up), interactions (single,
batch, and the ones progress records) and member sync. With the graph off nothing is written."""

import pytest

from apps.graph.models import GraphOutbox
from apps.progress.tests.factories import ContentItemFactory
from apps.progress.tests.utils import url
from conftest import client_for

pytestmark = pytest.mark.django_db


def outbox(organization) -> set[tuple[str, str]]:
    return set(GraphOutbox.objects.filter(organization=organization).values_list("kind", "object_key"))


def test_content_writes(organization, admin_user):
    """Create, bulk and delete record the items."""
    client = client_for(admin_user)
    item_id = client.post(url(organization, "content/"), {"title": "x"}, format="json").json()["id"]
    body = client.post(
        url(organization, "content/bulk/"), {"items": [{"external_id": "b", "title": "B"}]}, format="json"
    )
    bulk_id = body.json()["results"][0]["id"]
    assert outbox(organization) == {("content", str(item_id)), ("content", str(bulk_id))}
    GraphOutbox.objects.all().delete()
    client.delete(url(organization, f"content/{item_id}/"))
    assert outbox(organization) == {("content", str(item_id))}


def test_progress_and_its_interactions(organization, member):
    """Completing a lesson records the lesson's and the course's progress and their start/complete events."""
    course = ContentItemFactory(organization=organization)
    lesson = ContentItemFactory(organization=organization, parent=course)
    client_for(member).post(url(organization, "progress/complete/"), {"item": lesson.pk}, format="json")
    u = member.pk
    assert outbox(organization) == {
        ("progress", f"{u}:{lesson.pk}"), ("progress", f"{u}:{course.pk}"),
        ("interaction", f"{u}:{lesson.pk}:start"), ("interaction", f"{u}:{lesson.pk}:complete"),
        ("interaction", f"{u}:{course.pk}:start"), ("interaction", f"{u}:{course.pk}:complete"),
    }  # fmt: skip


def test_batch_interactions_and_member_sync(organization, admin_user, member):
    """A batch records one row per (user, item, kind); a retried batch adds nothing; sync records users."""
    item = ContentItemFactory(organization=organization)
    events = [{"idempotency_key": str(i), "kind": "view", "item": item.pk, "user": member.pk} for i in range(3)]
    client = client_for(admin_user)
    client.post(url(organization, "interactions/batch/"), {"events": events}, format="json")
    assert outbox(organization) == {("interaction", f"{member.pk}:{item.pk}:view")}
    GraphOutbox.objects.all().delete()
    client.post(url(organization, "interactions/batch/"), {"events": events}, format="json")
    assert outbox(organization) == set()
    body = client.post(
        url(organization, "members/sync/"), {"members": [{"external_id": "x", "email": "x@example.com"}]}, format="json"
    ).json()
    assert outbox(organization) == {("user", str(body["results"][0]["user"]))}


def test_nothing_written_while_the_graph_is_off(organization, admin_user, settings):
    """NEO4J_URI unset: no outbox rows."""
    settings.NEO4J_URI = None
    client_for(admin_user).post(url(organization, "content/"), {"title": "x"}, format="json")
    assert not GraphOutbox.objects.exists()
