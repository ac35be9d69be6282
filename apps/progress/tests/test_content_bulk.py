"""Catalog bulk upsert: POST /api/v1/orgs/{org}/content/bulk/.

Coverage:
- create: whole response (counts and per-row results with ids), stored rows, parents and prerequisites by
  external_id within the payload (child before parent in the payload too) and to existing items;
- idempotency: the same payload twice -> all "unchanged", nothing rewritten (updated_at kept), no new rows;
- update: a changed field -> "updated", others "unchanged"; omitted fields keep their stored values;
  prerequisites replaced; parent moved and cleared (null);
- embeddings: new items and items whose title/description/tags changed are enqueued on commit, in tasks of
  CONTENT_EMBED_TASK_SIZE ids; a body-only change enqueues nothing;
- a bad row never loses the good ones: invalid fields, duplicate external_id in the payload,
  unknown parent / prerequisite, a reference to another organization's item, parent and prerequisite cycles,
  a row depending on a rejected new row; each with its reason;
- envelope errors (400, nothing written): no items, items not a list, a row that is not an object, too many rows;
- access: anonymous 401, member 403, read-only key 403, write key 200, other organization 404;
- the number of queries does not grow with the number of rows.
"""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.progress.models import ContentItem, ContentPrerequisite
from apps.progress.tests.factories import ContentItemFactory
from apps.progress.tests.utils import api_key_client, catalog_state, url
from conftest import client_for

pytestmark = pytest.mark.django_db


def bulk_url(organization) -> str:
    return url(organization, "content/bulk/")


def by_ext(organization) -> dict[str, ContentItem]:
    return {item.external_id: item for item in ContentItem.objects.filter(organization=organization)}


CATALOG = [
    {"external_id": "l1", "title": "Lesson 1", "kind": "lesson", "parent_external_id": "c1", "position": 0},
    {"external_id": "c1", "title": "Course", "kind": "course", "tags": ["Python"], "description": "All of it."},
    {
        "external_id": "l2",
        "title": "Lesson 2",
        "kind": "lesson",
        "parent_external_id": "c1",
        "position": 1,
        "prerequisite_external_ids": ["l1"],
    },
]


def test_bulk_create_with_references_in_any_order(organization, admin_user):
    """New rows: 200, every row created with its id; parent and prerequisites resolved inside the payload."""
    response = client_for(admin_user).post(bulk_url(organization), {"items": CATALOG}, format="json")
    assert response.status_code == 200, response.content
    items = by_ext(organization)
    assert response.json() == {
        "created": 3,
        "updated": 0,
        "unchanged": 0,
        "rejected": 0,
        "results": [
            {"index": 0, "external_id": "l1", "status": "created", "id": items["l1"].pk, "errors": []},
            {"index": 1, "external_id": "c1", "status": "created", "id": items["c1"].pk, "errors": []},
            {"index": 2, "external_id": "l2", "status": "created", "id": items["l2"].pk, "errors": []},
        ],
    }
    assert items["l1"].parent == items["c1"] and items["l2"].parent == items["c1"]
    assert list(items["l2"].prerequisites.all()) == [items["l1"]]
    assert items["c1"].tags == ["python"]
    assert items["c1"].content_hash == items["c1"].compute_content_hash()


def test_same_payload_twice_is_unchanged(organization, admin_user):
    """Idempotent: the second identical request reports unchanged everywhere and rewrites nothing."""
    client = client_for(admin_user)
    assert client.post(bulk_url(organization), {"items": CATALOG}, format="json").status_code == 200
    before = catalog_state(organization)
    response = client.post(bulk_url(organization), {"items": CATALOG}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert (body["created"], body["updated"], body["unchanged"], body["rejected"]) == (0, 0, 3, 0)
    assert [row["status"] for row in body["results"]] == ["unchanged"] * 3
    assert catalog_state(organization) == before


def test_update_changes_only_what_differs(organization, admin_user):
    """A changed title -> updated; omitted fields keep their values; untouched rows unchanged."""
    client = client_for(admin_user)
    client.post(bulk_url(organization), {"items": CATALOG}, format="json")
    items = by_ext(organization)
    payload = [
        {"external_id": "c1", "title": "Course (2nd edition)"},  # no tags/description: kept
        {"external_id": "l1", "title": "Lesson 1", "parent_external_id": "c1"},
        {"external_id": "l2", "title": "Lesson 2", "prerequisite_external_ids": [], "parent_external_id": None},
    ]
    response = client.post(bulk_url(organization), {"items": payload}, format="json")
    assert [row["status"] for row in response.json()["results"]] == ["updated", "unchanged", "updated"]
    after = by_ext(organization)
    assert after["c1"].title == "Course (2nd edition)"
    assert (after["c1"].tags, after["c1"].description, after["c1"].kind) == (["python"], "All of it.", "course")
    assert after["c1"].content_hash != items["c1"].content_hash
    assert after["l2"].parent_id is None
    assert not ContentPrerequisite.objects.filter(item=after["l2"]).exists()
    assert after["l1"].updated_at == items["l1"].updated_at


def test_references_to_existing_items(organization, admin_user):
    """Parents and prerequisites may be items already in the catalog (not in the payload)."""
    course = ContentItemFactory(organization=organization, external_id="old-course")
    intro = ContentItemFactory(organization=organization, external_id="old-intro")
    payload = [
        {
            "external_id": "new",
            "title": "New lesson",
            "parent_external_id": "old-course",
            "prerequisite_external_ids": ["old-intro"],
        }
    ]
    response = client_for(admin_user).post(bulk_url(organization), {"items": payload}, format="json")
    assert response.json()["created"] == 1
    new = ContentItem.objects.get(external_id="new")
    assert new.parent == course
    assert list(new.prerequisites.all()) == [intro]


def embed_calls(callbacks) -> list[tuple]:
    """The (organization_id, item_ids) of every progress.content_embed registered on commit."""
    from apps.core.tasks import enqueue_now
    from workers.tasks.progress import content_embed_task

    return [
        c.args[1:] for c in callbacks if getattr(c, "func", None) is enqueue_now and c.args[0] is content_embed_task
    ]


def test_embeddings_enqueued_on_commit_for_new_and_rehashed_items(
    organization, admin_user, settings, django_capture_on_commit_callbacks
):
    """New items and title/description/tag changes register progress.content_embed on commit, in tasks of
    CONTENT_EMBED_TASK_SIZE ids; a body-only change registers nothing."""
    settings.CONTENT_EMBED_TASK_SIZE = 2
    client = client_for(admin_user)
    with django_capture_on_commit_callbacks() as callbacks:
        client.post(bulk_url(organization), {"items": CATALOG}, format="json")
    ids = sorted(item.pk for item in by_ext(organization).values())
    assert embed_calls(callbacks) == [(organization.pk, ids[:2]), (organization.pk, ids[2:])]
    rows = [{"external_id": "c1", "title": "Course", "body": "new body"}, {"external_id": "l1", "title": "Renamed"}]
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(bulk_url(organization), {"items": rows}, format="json")
    assert [row["status"] for row in response.json()["results"]] == ["updated", "updated"]
    assert embed_calls(callbacks) == [(organization.pk, [by_ext(organization)["l1"].pk])]


def test_bad_rows_never_lose_good_ones(organization, admin_user, other_organization):
    """Each bad row is rejected with its reason; the good rows are stored."""
    ContentItemFactory(organization=other_organization, external_id="foreign")
    ContentItemFactory(organization=organization, external_id="a")
    ContentItemFactory(organization=organization, external_id="b")
    ContentPrerequisite.objects.create(
        organization=organization, item=by_ext(organization)["a"], prerequisite=by_ext(organization)["b"]
    )
    payload = [
        {"external_id": "ok-1", "title": "Fine"},  # 0
        {"external_id": "bad-kind", "title": "x", "kind": "nope"},  # 1
        {"external_id": "x2", "title": 5},  # 2
        {"title": "no external id"},  # 3
        {"external_id": "ok-1", "title": "Again"},  # 4
        {"external_id": "orphan", "title": "x", "parent_external_id": "missing"},  # 5
        {"external_id": "foreign-ref", "title": "x", "prerequisite_external_ids": ["foreign"]},  # 6
        {"external_id": "b", "title": "B", "prerequisite_external_ids": ["a"]},  # 7: a needs b -> cycle
        {"external_id": "self", "title": "x", "parent_external_id": "self"},  # 8
        {"external_id": "child-of-orphan", "title": "x", "parent_external_id": "orphan"},  # 9
        {"external_id": "ok-2", "title": "Fine too", "difficulty": 5, "parent_external_id": "ok-1"},  # 10
        {"external_id": "bad-diff", "title": "x", "difficulty": 9, "tags": [1]},  # 11
        {"external_id": "under-bad", "title": "x", "parent_external_id": "bad-kind"},  # 12
    ]
    response = client_for(admin_user).post(bulk_url(organization), {"items": payload}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    results = {row["index"]: row for row in body["results"]}
    assert (body["created"], body["updated"], body["unchanged"], body["rejected"]) == (2, 0, 0, 11)
    assert results[0]["status"] == results[10]["status"] == "created"
    expected = {
        1: ['kind: "nope" is not a valid choice.'],
        2: ["title: Not a valid string."],
        3: ["external_id: This field is required."],
        4: ["external_id 'ok-1' appears more than once (first at row 0)."],
        5: ["parent_external_id 'missing' matches no item in this request or the catalog."],
        6: ["prerequisite_external_ids 'foreign' match no item in this request or the catalog."],
        7: ["prerequisite_external_ids would create a cycle (b -> a -> b)."],
        8: ["parent_external_id: an item cannot be its own parent."],
        9: ["refers to 'orphan', which was rejected in this request."],
        11: ["difficulty: Ensure this value is less than or equal to 5.", "tags[0]: Not a valid string."],
        12: ["refers to 'bad-kind', which was rejected in this request."],
    }
    for index, errors in expected.items():
        assert results[index]["status"] == "rejected", index
        assert results[index]["id"] is None
        assert sorted(results[index]["errors"]) == sorted(errors), (index, results[index]["errors"])
    assert results[1]["external_id"] == "bad-kind"
    stored = by_ext(organization)
    assert set(stored) == {"a", "b", "ok-1", "ok-2"}
    assert stored["ok-2"].parent == stored["ok-1"]
    assert stored["b"].title != "B"


def test_parent_cycle_in_payload(organization, admin_user):
    """x under y and y under x: y closes the loop and is rejected; x, whose new parent y was rejected, is
    rejected too (nothing dangles)."""
    payload = [
        {"external_id": "x", "title": "X", "parent_external_id": "y"},
        {"external_id": "y", "title": "Y", "parent_external_id": "x"},
    ]
    response = client_for(admin_user).post(bulk_url(organization), {"items": payload}, format="json")
    body = response.json()
    assert body["rejected"] == 2
    assert body["results"][0]["errors"] == ["refers to 'y', which was rejected in this request."]
    assert body["results"][1]["errors"] == ["parent_external_id 'x' is inside this item; that would create a cycle."]
    assert not ContentItem.objects.filter(organization=organization).exists()


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({}, "items: This field is required."),
        ({"items": []}, "items: Ensure this field has at least 1 elements."),
        ({"items": {"external_id": "x"}}, 'items: Expected a list of items but got type "dict".'),
        (
            {"items": [{"external_id": "x", "title": "t"}, "row"]},
            'items[1]: Expected a dictionary of items but got type "str".',
        ),
    ],
)
def test_bad_envelope_is_400(organization, admin_user, payload, message):
    """No rows, or not a list: 400 naming `items`; nothing written."""
    response = client_for(admin_user).post(bulk_url(organization), payload, format="json")
    assert response.status_code == 400
    assert message in response.json()["error"]["message"]
    assert not ContentItem.objects.exists()


def test_too_many_rows_is_400(organization, admin_user, settings):
    """More rows than CONTENT_BULK_MAX_ITEMS (fixed at import: 5000): 400, nothing written."""
    rows = [{"external_id": str(i), "title": "t"} for i in range(settings.CONTENT_BULK_MAX_ITEMS + 1)]
    response = client_for(admin_user).post(bulk_url(organization), {"items": rows}, format="json")
    assert response.status_code == 400
    assert "items: Ensure this field has no more than 5000 elements." in response.json()["error"]["message"]
    assert not ContentItem.objects.exists()


def test_access(organization, member, other_organization):
    """Anonymous 401, member 403, read-only key 403, write key 200, other organization's owner 404."""
    payload = {"items": [{"external_id": "k", "title": "t"}]}
    assert APIClient().post(bulk_url(organization), payload, format="json").status_code == 401
    assert client_for(member).post(bulk_url(organization), payload, format="json").status_code == 403
    read_only = api_key_client(organization, scopes=("read",))
    assert read_only.post(bulk_url(organization), payload, format="json").status_code == 403
    assert not ContentItem.objects.exists()
    assert api_key_client(organization).post(bulk_url(organization), payload, format="json").status_code == 200
    outsider = other_organization.memberships.get().user
    response = client_for(outsider).post(bulk_url(organization), payload, format="json")
    assert response.status_code == 404
    assert ContentItem.objects.filter(organization=organization).count() == 1


def test_query_count_does_not_grow_with_rows(organization, admin_user):
    """5 or 50 new rows with parents and prerequisites (and the same again, unchanged): same number of queries."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = client_for(admin_user)

    def payload(prefix: str, n: int) -> list[dict]:
        rows = [{"external_id": f"{prefix}-course", "title": "Course", "tags": ["t"]}]
        for i in range(n):
            rows.append(
                {
                    "external_id": f"{prefix}-{i}",
                    "title": f"Lesson {i}",
                    "parent_external_id": f"{prefix}-course",
                    "position": i,
                    "prerequisite_external_ids": [f"{prefix}-{i - 1}"] if i else [],
                }
            )
        return rows

    def queries(rows) -> int:
        with CaptureQueriesContext(connection) as context:
            assert client.post(bulk_url(organization), {"items": rows}, format="json").json()["rejected"] == 0
        return len(context.captured_queries)

    small, large = payload("s", 5), payload("l", 50)
    assert queries(small) == queries(large)
    assert queries(small) == queries(large)  # unchanged the second time
