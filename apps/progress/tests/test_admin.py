"""Django admin of the progress app: every model's changelist (with search) and change page render for staff;
saving an item in the admin goes through the service (content hash kept current); deleting a course with
lessons is refused there too."""

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from apps.progress.models import ContentEmbedding, ContentItem, ContentPrerequisite
from apps.progress.tests.factories import ContentItemFactory, InteractionFactory, ProgressFactory
from apps.users.tests.factories import UserFactory

MODELS = [model for model in admin.site._registry if model._meta.app_label == "progress"]


@pytest.fixture
def staff_client(db):
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


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
