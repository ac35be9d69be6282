"""Domain events of progress (apps/progress/events.py, STYLE.md §9): the single and the bulk paths
send the same event, inside the caller's transaction, with the ids of what changed; a write that
changes nothing (an idempotent replay) sends nothing."""

import pytest

from apps.core.tests.events import events_sent, only
from apps.progress import events
from apps.progress.models import ContentItem
from apps.progress.services import interaction_create, progress_reset
from apps.progress.tests.factories import ContentItemFactory
from apps.progress.tests.utils import url
from conftest import client_for

pytestmark = pytest.mark.django_db

ALL = (events.interactions_recorded, events.progress_changed, events.content_changed)


def test_one_interaction_and_a_batch_send_interactions_recorded(organization, admin_user, member):
    item, other = ContentItemFactory(organization=organization), ContentItemFactory(organization=organization)
    u = member.pk
    with events_sent(*ALL) as sent:
        response = client_for(member).post(url(organization, "interactions/"), {"kind": "like", "item": item.pk})
    assert response.status_code == 201, response.content
    assert only(sent, events.interactions_recorded) == [
        {"organization_id": organization.pk, "keys": [(u, item.pk, "like")], "user_ids": [u]}
    ]
    assert len(sent) == 1

    batch = [
        {"idempotency_key": "a", "kind": "view", "item": item.pk, "user": u},
        {"idempotency_key": "b", "kind": "view", "item": item.pk, "user": u},  # same key of the graph
        {"idempotency_key": "c", "kind": "rate", "value": 4, "item": other.pk, "user": u},
        {"idempotency_key": "d", "kind": "view", "item": 10**9, "user": u},  # rejected: not stored
    ]
    client = client_for(admin_user)
    with events_sent(*ALL) as sent:
        assert client.post(url(organization, "interactions/batch/"), {"events": batch}, format="json").status_code in (
            200,
            201,
        )
    assert only(sent, events.interactions_recorded) == [
        {
            "organization_id": organization.pk,
            "keys": sorted([(u, item.pk, "view"), (u, other.pk, "rate")]),
            "user_ids": [u],
        }
    ]
    with events_sent(*ALL) as sent:  # the same batch again: all duplicates, nothing stored, nothing sent
        client.post(url(organization, "interactions/batch/"), {"events": batch}, format="json")
    assert sent == []


def test_an_idempotent_replay_sends_nothing(organization, member):
    item = ContentItemFactory(organization=organization)
    with events_sent(*ALL) as sent:
        interaction_create(organization=organization, user=member, item=item, kind="view", idempotency_key="k")
        interaction_create(organization=organization, user=member, item=item, kind="view", idempotency_key="k")
    assert [s.kwargs["keys"] for s in sent] == [[(member.pk, item.pk, "view")]]
    assert all(s.in_transaction for s in sent)


def test_progress_sends_progress_changed_and_the_interactions_it_records(organization, member):
    """Completing a lesson: its progress and its course's roll-up, and their start/complete events."""
    course = ContentItemFactory(organization=organization)
    lesson = ContentItemFactory(organization=organization, parent=course)
    u = member.pk
    with events_sent(*ALL) as sent:
        client_for(member).post(url(organization, "progress/complete/"), {"item": lesson.pk}, format="json")
    changed = only(sent, events.progress_changed)
    assert {pair for kwargs in changed for pair in kwargs["pairs"]} == {(u, lesson.pk), (u, course.pk)}
    assert {user for kwargs in changed for user in kwargs["user_ids"]} == {u}
    recorded = only(sent, events.interactions_recorded)
    assert {key for kwargs in recorded for key in kwargs["keys"]} == {
        (u, lesson.pk, "start"), (u, lesson.pk, "complete"), (u, course.pk, "start"), (u, course.pk, "complete"),
    }  # fmt: skip
    assert only(sent, events.content_changed) == []


def test_reset_sends_the_items_below_in_one_event(organization, member):
    course = ContentItemFactory(organization=organization)
    lessons = [ContentItemFactory(organization=organization, parent=course) for _ in range(3)]
    client = client_for(member)
    for lesson in lessons:
        client.post(url(organization, "progress/complete/"), {"item": lesson.pk}, format="json")
    with events_sent(*ALL) as sent:
        progress_reset(organization=organization, user=member, item=course)
    changed = only(sent, events.progress_changed)
    below = [kwargs for kwargs in changed if len(kwargs["pairs"]) == 3]
    assert below == [
        {
            "organization_id": organization.pk,
            "pairs": sorted((member.pk, x.pk) for x in lessons),
            "user_ids": [member.pk],
        }
    ]


def test_catalog_single_and_bulk_send_content_changed(organization, admin_user):
    client = client_for(admin_user)
    with events_sent(*ALL) as sent:
        item_id = client.post(url(organization, "content/"), {"title": "x"}, format="json").json()["id"]
        client.patch(url(organization, f"content/{item_id}/"), {"title": "y"}, format="json")
    assert only(sent, events.content_changed) == [{"organization_id": organization.pk, "item_ids": [item_id]}] * 2

    rows = [{"external_id": f"b{n}", "title": f"B{n}"} for n in range(3)]
    with events_sent(*ALL) as sent:
        body = client.post(url(organization, "content/bulk/"), {"items": rows}, format="json").json()
    ids = sorted(result["id"] for result in body["results"])
    assert len(ids) == 3 and set(ids) == set(
        ContentItem.objects.filter(external_id__startswith="b").values_list("id", flat=True)
    )
    assert only(sent, events.content_changed) == [{"organization_id": organization.pk, "item_ids": ids}]

    with events_sent(*ALL) as sent:
        client.delete(url(organization, f"content/{item_id}/"))
    assert only(sent, events.content_changed) == [{"organization_id": organization.pk, "item_ids": [item_id]}]
