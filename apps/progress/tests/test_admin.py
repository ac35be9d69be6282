"""Django admin of the progress app: every model's changelist (with search) and change page render for staff;
saving an item in the admin goes through the service (content hash kept current); deleting a course with
lessons is refused there too. Issue 16: single and bulk deletes go through `content_delete` (graph outbox
rows, vectors, progress and interactions with the item); a selection holding a course with lessons is
refused as a whole with a message (nothing deleted); progress and interactions cannot be deleted here."""

import pytest
from django.contrib import admin
from django.urls import reverse

from apps.graph.models import GraphOutbox
from apps.progress.models import ContentEmbedding, ContentItem, ContentPrerequisite, Interaction, Progress
from apps.progress.tests.factories import ContentItemFactory, InteractionFactory, ProgressFactory
from apps.users.tests.factories import UserFactory

MODELS = [model for model in admin.site._registry if model._meta.app_label == "progress"]


@pytest.fixture
def populated(organization, member):
    course = ContentItemFactory(organization=organization, title="example course")
    lesson = ContentItemFactory(organization=organization, title="example lesson", parent=course)
    ContentPrerequisite.objects.create(organization=organization, item=lesson, prerequisite=course)
    ContentEmbedding.objects.create(
        organization=organization, item=lesson, model="test", content_hash="x", embedding=[0.1, 0.2, 0.3]
    )
    ProgressFactory(item=lesson, user=member)
    InteractionFactory(item=lesson, user=member, idempotency_key="example")
    return course, lesson


def test_every_progress_model_is_registered():
    """The catalog, embeddings, progress and interactions are in the admin."""
    assert {m.__name__ for m in MODELS} == {"ContentItem", "ContentEmbedding", "Progress", "Interaction"}


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m._meta.label)
def test_changelist_and_change_page_render(staff_client, populated, model):
    """Changelist, a search, and the first object's change page answer 200."""
    prefix = f"admin:{model._meta.app_label}_{model._meta.model_name}"
    changelist = reverse(f"{prefix}_changelist")
    assert staff_client.get(changelist).status_code == 200
    assert staff_client.get(changelist, {"q": "example"}).status_code == 200
    obj = model.objects.first()
    assert staff_client.get(reverse(f"{prefix}_change", args=[obj.pk])).status_code == 200


def test_admin_save_goes_through_the_service(staff_client, populated):
    """Renaming an item in the admin updates its content hash (so it is re-embedded)."""
    course, lesson = populated
    change = reverse("admin:progress_contentitem_change", args=[lesson.pk])
    form = {
        "title": "renamed lesson", "description": lesson.description, "body": "", "kind": "lesson", "url": "",
        "tags": "a,b", "categories": "", "external_id": lesson.external_id, "parent": course.pk, "position": 0,
        "metadata": "{}", "active": "on", "difficulty": "", "duration_minutes": "",
        "prerequisite_links-TOTAL_FORMS": "1", "prerequisite_links-INITIAL_FORMS": "1",
        "prerequisite_links-MIN_NUM_FORMS": "0", "prerequisite_links-MAX_NUM_FORMS": "1000",
        "prerequisite_links-0-id": ContentPrerequisite.objects.get().pk, "prerequisite_links-0-item": lesson.pk,
        "prerequisite_links-0-prerequisite": course.pk,
    }  # fmt: skip
    response = staff_client.post(change, form)
    assert response.status_code == 302, response.content.decode()[:2000]
    lesson.refresh_from_db()
    assert (lesson.title, lesson.tags) == ("renamed lesson", ["a", "b"])
    assert lesson.content_hash == lesson.compute_content_hash()


def test_admin_refuses_deleting_a_course_with_lessons(staff_client, populated):
    """The delete page of a course with lessons does not delete it (PROTECT)."""
    course, _lesson = populated
    response = staff_client.post(reverse("admin:progress_contentitem_delete", args=[course.pk]), {"post": "yes"})
    assert response.status_code == 200
    assert ContentItem.objects.filter(pk=course.pk).exists()


def outbox(organization) -> set[tuple[str, str]]:
    return set(GraphOutbox.objects.filter(organization=organization).values_list("kind", "object_key"))


def bulk_delete(client, ids: list[int]):
    """Confirm "Delete selected" for `ids` (the POST of the confirmation page)."""
    url = reverse("admin:progress_contentitem_changelist")
    return client.post(url, {"action": "delete_selected", "_selected_action": ids, "post": "yes"}, follow=True)


def test_bulk_delete_goes_through_the_service(staff_client, organization, populated):
    """Two leaves go with their vectors, progress and interactions; the graph outbox records both."""
    course, lesson = populated
    other = ContentItemFactory(organization=organization, title="example article")
    GraphOutbox.objects.all().delete()

    response = bulk_delete(staff_client, [lesson.pk, other.pk])

    assert "Successfully deleted 2 content items." in response.content.decode()
    assert list(ContentItem.objects.values_list("pk", flat=True)) == [course.pk]
    assert not ContentEmbedding.objects.exists() and not Progress.objects.exists()
    assert not Interaction.objects.exists()
    assert outbox(organization) == {("content", str(lesson.pk)), ("content", str(other.pk))}


def test_single_delete_writes_the_outbox_row(staff_client, organization, populated):
    """The delete page calls `content_delete`: the graph learns of it."""
    _course, lesson = populated
    GraphOutbox.objects.all().delete()

    response = staff_client.post(reverse("admin:progress_contentitem_delete", args=[lesson.pk]), {"post": "yes"})

    assert response.status_code == 302
    assert not ContentItem.objects.filter(pk=lesson.pk).exists()
    assert outbox(organization) == {("content", str(lesson.pk))}


def test_bulk_delete_with_a_course_with_lessons_deletes_nothing(staff_client, organization, populated):
    """A course whose lesson is not selected makes the whole selection refused, with the lesson named."""
    course, lesson = populated
    leaf = ContentItemFactory(organization=organization, title="example article")
    GraphOutbox.objects.all().delete()

    response = bulk_delete(staff_client, [course.pk, leaf.pk])

    body = response.content.decode()
    assert "Cannot delete content items" in body and "example lesson" in body
    assert set(ContentItem.objects.values_list("pk", flat=True)) == {course.pk, lesson.pk, leaf.pk}
    assert outbox(organization) == set()


def test_a_refusal_by_the_service_rolls_the_whole_selection_back(rf, organization, populated):
    """Past the confirmation page (a lesson added meanwhile), `content_delete`'s 409 refuses the course:
    the action answers with the message and the leaf deleted before it is back."""
    from django.contrib.messages.storage.fallback import FallbackStorage

    course, lesson = populated
    leaf = ContentItemFactory(organization=organization, title="example article")
    model_admin = admin.site._registry[ContentItem]
    request = rf.post("/", {"post": "yes"})
    request.user = UserFactory(is_staff=True, is_superuser=True)
    request.session, request._messages = {}, None
    request._messages = FallbackStorage(request)
    action = model_admin.get_actions(request)["delete_selected"][0]
    model_admin.get_deleted_objects = lambda objs, request: ([], {}, set(), [])  # confirmation passed earlier
    GraphOutbox.objects.all().delete()

    assert action(model_admin, request, ContentItem.objects.filter(pk__in=[leaf.pk, course.pk])) is None

    messages = [str(m) for m in request._messages]
    assert messages == [
        "Nothing was deleted: This item has 1 child item(s); delete or move them first, or set active=false."
    ]
    assert set(ContentItem.objects.values_list("pk", flat=True)) == {course.pk, lesson.pk, leaf.pk}
    assert outbox(organization) == set()


def test_progress_and_interactions_cannot_be_deleted(staff_client, populated):
    """They are history (the graph and the recommender keep them): no delete action, no delete page."""
    for model in (Progress, Interaction):
        prefix = f"admin:progress_{model._meta.model_name}"
        changelist = staff_client.get(reverse(f"{prefix}_changelist")).content.decode()
        assert "delete_selected" not in changelist
        pk = model.objects.first().pk
        change = staff_client.get(reverse(f"{prefix}_change", args=[pk])).content.decode()
        assert reverse(f"{prefix}_delete", args=[pk]) not in change
        assert staff_client.post(reverse(f"{prefix}_delete", args=[pk]), {"post": "yes"}).status_code == 403
        assert model.objects.filter(pk=pk).exists()
