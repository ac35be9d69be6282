"""Catalog API: /api/v1/orgs/{org}/content/ (list, create) and .../content/{id}/ (detail, PATCH, DELETE).

Coverage:
- create (admin, write-scoped API key): 201 with the whole body, stored row, tags normalised, content hash,
  new children appended after their siblings, prerequisites by ids and by external ids;
- list and detail (members too): whole bodies; filters kind (one or several), tags (all given), category,
  difficulty (exact, min/max), active, parent (children in position order), top_level, external_id, q;
  query count does not grow with the number of items;
- PATCH: partial update, prerequisites replaced, parent moved; the content hash changes only when title,
  description or tags change;
- DELETE: 204 and the item goes with its progress and interactions; an item with children is 409;
- access: anonymous 401, members cannot write (403), read-only API key cannot write (403), other
  organization's slug 404, other organization's item id 404 and absent from the list;
- invalid input (400 naming the problem, nothing written): unknown kind, difficulty 6, blank title, bad URL,
  duplicate external_id, parent and prerequisites of another organization or unknown, parent cycle,
  prerequisite cycle, self-prerequisite, both parent and parent_external_id, string for a number,
  bad filters.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from apps.organizations.tests.factories import OrganizationFactory
from apps.progress.models import ContentItem, ContentPrerequisite, Interaction, Progress, content_hash_of
from apps.progress.tests.factories import ContentItemFactory, InteractionFactory, ProgressFactory
from apps.progress.tests.utils import api_key_client, catalog_state, content_body, url
from conftest import client_for

pytestmark = pytest.mark.django_db


def list_url(organization) -> str:
    return url(organization, "content/")


def detail_url(item, organization=None) -> str:
    return url(organization or item.organization, f"content/{item.pk}/")


# --------------------------------------------------------------------------- create


def test_create_returns_the_whole_item(organization, admin_user):
    """Admin creates an item: 201, whole body, stored fields, normalised tags, content hash."""
    payload = {
        "external_id": "py-101",
        "title": "Python basics",
        "description": "Variables, loops and functions.",
        "body": "Long text",
        "kind": "course",
        "url": "https://learn.example.com/py-101",
        "tags": [" Python ", "beginner", "python"],
        "categories": ["Programming", "Programming"],
        "difficulty": 2,
        "duration_minutes": 90,
        "metadata": {"level": "A1"},
    }
    response = client_for(admin_user).post(list_url(organization), payload, format="json")
    assert response.status_code == 201, response.content
    item = ContentItem.objects.get(organization=organization)
    assert response.json() == content_body(item)
    assert item.tags == ["python", "beginner"]
    assert item.categories == ["Programming"]
    assert item.content_hash == content_hash_of("Python basics", "Variables, loops and functions.", item.tags)
    assert (item.kind, item.difficulty, item.duration_minutes, item.active) == ("course", 2, 90, True)


def test_create_defaults(organization, admin_user):
    """Only a title: kind other, active, no parent, position 0, empty lists."""
    response = client_for(admin_user).post(list_url(organization), {"title": "Just a title"}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert (body["kind"], body["active"], body["parent"], body["position"]) == ("other", True, None, 0)
    assert (body["tags"], body["categories"], body["prerequisites"], body["external_id"]) == ([], [], [], None)


def test_children_are_appended_in_order(organization, admin_user):
    """A child created without a position goes after its siblings; `parent=` lists them in order."""
    course = ContentItemFactory(organization=organization, kind="course")
    client = client_for(admin_user)
    ids = []
    for title in ["one", "two", "three"]:
        response = client.post(list_url(organization), {"title": title, "parent": course.pk}, format="json")
        assert response.status_code == 201
        ids.append(response.json()["id"])
    assert [ContentItem.objects.get(pk=i).position for i in ids] == [0, 1, 2]
    ContentItem.objects.filter(pk=ids[0]).update(position=5)
    listed = client.get(list_url(organization), {"parent": course.pk}).json()["results"]
    assert [row["id"] for row in listed] == [ids[1], ids[2], ids[0]]


def test_create_with_parent_and_prerequisites_by_external_id(organization, admin_user):
    """parent_external_id and prerequisite_external_ids resolve within the organization."""
    course = ContentItemFactory(organization=organization, external_id="course-1")
    intro = ContentItemFactory(organization=organization, external_id="intro")
    setup = ContentItemFactory(organization=organization, external_id="setup")
    response = client_for(admin_user).post(
        list_url(organization),
        {
            "title": "Lesson 2",
            "external_id": "l2",
            "parent_external_id": "course-1",
            "prerequisite_external_ids": ["intro", "setup"],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    item = ContentItem.objects.get(external_id="l2")
    assert item.parent == course
    assert response.json()["prerequisites"] == sorted([intro.pk, setup.pk])
    assert response.json()["parent_external_id"] == "course-1"


def test_write_scoped_api_key_creates(organization):
    """A write-scoped API key creates items; a read-only key gets 403."""
    response = api_key_client(organization).post(list_url(organization), {"title": "By key"}, format="json")
    assert response.status_code == 201
    response = api_key_client(organization, scopes=("read",)).post(
        list_url(organization), {"title": "x"}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["error"]["message"] == "This API key lacks the 'write' scope."
    assert ContentItem.objects.filter(organization=organization).count() == 1


# --------------------------------------------------------------------------- read


def test_member_reads_list_and_detail(organization, member):
    """Members read: list (whole bodies, parent/position order) and detail."""
    course = ContentItemFactory(organization=organization, kind="course", external_id="c")
    lesson = ContentItemFactory(organization=organization, parent=course, position=0)
    lesson.prerequisites.through.objects.create(organization=organization, item=lesson, prerequisite=course)
    client = client_for(member)
    response = client.get(list_url(organization))
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert body["results"] == [content_body(course), content_body(lesson)]
    response = client.get(detail_url(lesson))
    assert response.status_code == 200
    assert response.json() == content_body(lesson)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"kind": "video"}, ["v"]),
        ({"kind": "video,article"}, ["a", "v"]),
        ({"tags": "python"}, ["a", "v"]),
        ({"tags": "python,advanced"}, ["v"]),
        ({"category": "Data"}, ["a"]),
        ({"difficulty": "3"}, ["v"]),
        ({"difficulty_min": "2"}, ["v", "x"]),
        ({"difficulty_max": "2"}, ["a"]),
        ({"active": "false"}, ["x"]),
        ({"active": "true"}, ["a", "v"]),
        ({"q": "pandas"}, ["a"]),
        ({"q": "ADVANCED"}, ["v"]),
        ({"external_id": "x"}, ["x"]),
        ({"top_level": "true"}, ["a", "v", "x"]),
    ],
)
def test_filters(organization, member, params, expected):
    """Each filter narrows the list to the right items."""
    ContentItemFactory(
        organization=organization,
        external_id="a",
        kind="article",
        tags=["python"],
        categories=["Data"],
        difficulty=1,
        title="Intro to pandas",
    )
    ContentItemFactory(
        organization=organization,
        external_id="v",
        kind="video",
        tags=["python", "advanced"],
        difficulty=3,
        title="Decorators",
    )
    ContentItemFactory(organization=organization, external_id="x", kind="product", active=False, difficulty=5)
    response = client_for(member).get(list_url(organization), params)
    assert response.status_code == 200, response.content
    assert sorted(row["external_id"] for row in response.json()["results"]) == expected  # fmt: skip


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"kind": "course,podcastt"}, "kind: Unknown value(s) podcastt"),
        ({"difficulty": "6"}, "difficulty: Ensure this value is less than or equal to 5."),
        ({"parent": "abc"}, "parent: A valid integer is required."),
        ({"active": "maybe"}, "active: Must be a valid boolean."),
    ],
)
def test_bad_filters_are_400(organization, member, params, message):
    """Bad filter values: 400 naming the parameter."""
    response = client_for(member).get(list_url(organization), params)
    assert response.status_code == 400
    assert message in response.json()["error"]["message"]


def test_list_query_count_does_not_grow(organization, member):
    """Listing 3 or 30 items with prerequisites and parents costs the same number of queries."""
    client = client_for(member)

    def count_queries() -> int:
        with CaptureQueriesContext(connection) as context:
            assert client.get(list_url(organization), {"page_size": 100}).status_code == 200
        return len(context.captured_queries)

    def add(n):
        parent = ContentItemFactory(organization=organization)
        for _ in range(n):
            child = ContentItemFactory(organization=organization, parent=parent)
            ContentPrerequisite.objects.create(organization=organization, item=child, prerequisite=parent)

    add(2)
    few = count_queries()
    add(27)
    assert count_queries() == few


# --------------------------------------------------------------------------- update, delete


def test_patch_updates_given_fields_only(organization, admin_user):
    """PATCH changes the given fields, keeps the others, and re-hashes on a title change."""
    item = ContentItemFactory(organization=organization, tags=["a"], difficulty=2)
    old_hash = item.content_hash
    response = client_for(admin_user).patch(detail_url(item), {"title": "New title", "active": False}, format="json")
    assert response.status_code == 200, response.content
    assert response.json() == content_body(item)
    item.refresh_from_db()
    assert (item.title, item.active, item.tags, item.difficulty) == ("New title", False, ["a"], 2)
    assert item.content_hash == content_hash_of("New title", item.description, ["a"]) != old_hash


def test_patch_without_embedded_change_keeps_hash(organization, admin_user):
    """Changing the body or difficulty keeps the content hash (no re-embedding)."""
    item = ContentItemFactory(organization=organization)
    old_hash = item.content_hash
    response = client_for(admin_user).patch(detail_url(item), {"body": "more", "difficulty": 4}, format="json")
    assert response.status_code == 200
    item.refresh_from_db()
    assert item.content_hash == old_hash
    assert item.difficulty == 4


def test_patch_replaces_prerequisites_and_moves_parent(organization, admin_user):
    """Prerequisites are replaced as a set; parent can move and be cleared with null."""
    a, b, c = (ContentItemFactory(organization=organization) for _ in range(3))
    course = ContentItemFactory(organization=organization)
    client = client_for(admin_user)
    response = client.patch(detail_url(c), {"prerequisites": [a.pk, b.pk], "parent": course.pk}, format="json")
    assert response.status_code == 200
    assert set(c.prerequisites.values_list("id", flat=True)) == {a.pk, b.pk}
    response = client.patch(
        detail_url(c), {"prerequisite_external_ids": [b.external_id], "parent": None}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["prerequisites"] == [b.pk]
    c.refresh_from_db()
    assert c.parent_id is None


def test_delete_removes_item_and_its_history(organization, admin_user):
    """DELETE: 204; progress and interactions of the item go with it; other items stay."""
    item, other = ContentItemFactory(organization=organization), ContentItemFactory(organization=organization)
    ProgressFactory(item=item, user=admin_user)
    InteractionFactory(item=item, user=admin_user)
    InteractionFactory(item=other, user=admin_user)
    response = client_for(admin_user).delete(detail_url(item))
    assert response.status_code == 204
    assert list(ContentItem.objects.filter(organization=organization)) == [other]
    assert Progress.objects.count() == 0
    assert Interaction.objects.count() == 1


def test_delete_with_children_is_409(organization, admin_user):
    """An item with children cannot be deleted (PROTECT): 409 has_children, nothing deleted."""
    course = ContentItemFactory(organization=organization)
    ContentItemFactory(organization=organization, parent=course)
    response = client_for(admin_user).delete(detail_url(course))
    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "has_children",
        "message": "This item has 1 child item(s); delete or move them first, or set active=false.",
        "details": {},
    }
    assert ContentItem.objects.filter(organization=organization).count() == 2


# --------------------------------------------------------------------------- access


def test_anonymous_is_401(organization):
    """No credentials: 401 on list and create."""
    assert APIClient().get(list_url(organization)).status_code == 401
    assert APIClient().post(list_url(organization), {"title": "x"}, format="json").status_code == 401


def test_member_cannot_write(organization, member):
    """Members: 403 on create, PATCH and DELETE; nothing changes."""
    item = ContentItemFactory(organization=organization)
    before = catalog_state(organization)
    client = client_for(member)
    assert client.post(list_url(organization), {"title": "x"}, format="json").status_code == 403
    assert client.patch(detail_url(item), {"title": "x"}, format="json").status_code == 403
    response = client.delete(detail_url(item))
    assert response.status_code == 403
    assert response.json()["error"]["message"] == "This action needs the admin role in this organization."
    assert catalog_state(organization) == before


def test_other_organization_is_404(organization, admin_user, other_organization):
    """Another organization's slug, and its item ids under our slug: 404; absent from our list."""
    theirs = ContentItemFactory(organization=other_organization)
    ContentItemFactory(organization=organization)
    client = client_for(admin_user)
    assert client.get(list_url(other_organization)).status_code == 404
    for method in ("get", "patch", "delete"):
        response = getattr(client, method)(detail_url(theirs, organization), {}, format="json")
        assert response.status_code == 404
        assert response.json()["error"]["message"] == "Content item not found."
    assert theirs.pk not in [row["id"] for row in client.get(list_url(organization)).json()["results"]]
    assert ContentItem.objects.filter(pk=theirs.pk).exists()


# --------------------------------------------------------------------------- invalid input


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"title": "x", "kind": "podcasts"}, 'kind: "podcasts" is not a valid choice.'),
        ({"title": "x", "difficulty": 6}, "difficulty: Ensure this value is less than or equal to 5."),
        ({"title": "x", "difficulty": "3"}, "difficulty: A valid integer is required."),
        ({"title": ""}, "title: This field may not be blank."),
        ({"title": "x", "url": "not a url"}, "url: Enter a valid URL."),
        ({"title": "x", "tags": "python"}, 'tags: Expected a list of items but got type "str".'),
        ({"title": "x", "metadata": [1]}, 'metadata: Expected a dictionary of items but got type "list".'),
        ({"title": "x", "external_id": "  "}, "external_id: This field may not be blank."),
        (
            {"title": "x", "parent": 1, "parent_external_id": "p"},
            "parent: Give parent or parent_external_id, not both.",
        ),
        (  # the second was silently ignored
            {"title": "x", "prerequisites": [1], "prerequisite_external_ids": ["p"]},
            "prerequisites: Give prerequisites or prerequisite_external_ids, not both.",
        ),
        ({"description": "no title"}, "title: This field is required."),
    ],
)
def test_invalid_create_is_400(organization, admin_user, payload, message):
    """Malformed input: 400 whose message names the field; nothing created."""
    response = client_for(admin_user).post(list_url(organization), payload, format="json")
    assert response.status_code == 400, response.content
    assert message in response.json()["error"]["message"]
    assert not ContentItem.objects.filter(organization=organization).exists()


def test_duplicate_external_id_is_400(organization, admin_user):
    """external_id unique per organization: 400 duplicate_external_id (another organization may reuse it)."""
    ContentItemFactory(organization=organization, external_id="dup")
    ContentItemFactory(organization=OrganizationFactory(), external_id="mine")
    client = client_for(admin_user)
    response = client.post(list_url(organization), {"title": "x", "external_id": "dup"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "duplicate_external_id",
        "message": "external_id: 'dup' is already used by another item of this organization.",
        "details": {},
    }
    assert client.post(list_url(organization), {"title": "x", "external_id": "mine"}, format="json").status_code == 201


def test_references_to_other_organizations_are_400(organization, admin_user, other_organization):
    """Parent or prerequisites of another organization (or unknown): 400 naming them; nothing written."""
    theirs = ContentItemFactory(organization=other_organization, external_id="theirs")
    client = client_for(admin_user)
    before = catalog_state(organization)
    cases = [
        ({"parent": theirs.pk}, f"parent: no content item with id {theirs.pk} in this organization."),
        ({"parent_external_id": "theirs"}, "parent: no content item with external_id 'theirs' in this organization."),
        (
            {"prerequisites": [theirs.pk, 999999]},
            f"prerequisites: no content item with id {theirs.pk}, 999999 in this organization.",
        ),
        (
            {"prerequisite_external_ids": ["theirs"]},
            "prerequisites: no content item with external_id 'theirs' in this organization.",
        ),
    ]
    for extra, message in cases:
        response = client.post(list_url(organization), {"title": "x", **extra}, format="json")
        assert response.status_code == 400, response.content
        assert response.json()["error"]["code"] == "invalid_reference"
        assert response.json()["error"]["message"] == message
    assert catalog_state(organization) == before


def test_parent_cycle_is_400(organization, admin_user):
    """Making a descendant the parent (or the item itself): 400 cycle; nothing changed."""
    course = ContentItemFactory(organization=organization)
    module = ContentItemFactory(organization=organization, parent=course)
    lesson = ContentItemFactory(organization=organization, parent=module)
    client = client_for(admin_user)
    before = catalog_state(organization)
    response = client.patch(detail_url(course), {"parent": lesson.pk}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "cycle"
    assert f"item {lesson.pk} is inside item {course.pk}" in response.json()["error"]["message"]
    response = client.patch(detail_url(course), {"parent": course.pk}, format="json")
    assert response.json()["error"]["message"] == "parent: an item cannot be its own parent."
    assert catalog_state(organization) == before


def test_prerequisite_cycle_is_400(organization, admin_user):
    """a needs b, b needs c; giving c the prerequisite a is a cycle: 400 naming the path; so is a self-link."""
    a, b, c = (ContentItemFactory(organization=organization) for _ in range(3))
    ContentPrerequisite.objects.create(organization=organization, item=a, prerequisite=b)
    ContentPrerequisite.objects.create(organization=organization, item=b, prerequisite=c)
    client = client_for(admin_user)
    before = catalog_state(organization)
    response = client.patch(detail_url(c), {"prerequisites": [a.pk]}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == (
        f"prerequisites: this would create a cycle ({c.pk} -> {a.pk} -> {b.pk} -> {c.pk}, where a -> b means b is a "
        "prerequisite of a)."
    )
    response = client.patch(detail_url(c), {"prerequisites": [c.pk]}, format="json")
    assert response.json()["error"]["message"] == "prerequisites: an item cannot be its own prerequisite."
    assert catalog_state(organization) == before
