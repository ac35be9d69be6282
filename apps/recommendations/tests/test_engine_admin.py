"""Engine admin (issue 7): training runs and recommendation logs render for staff (changelist,
search, change page) and "train again" enqueues training on commit."""

import uuid

import pytest
from django.urls import reverse

from apps.progress.tests.factories import ContentItemFactory
from apps.recommendations.models import RecommendationLog, RecommenderModel

pytestmark = pytest.mark.django_db


@pytest.fixture
def rows(organization, member):
    model = RecommenderModel.objects.create(
        organization=organization, version=1, status=RecommenderModel.Status.READY, validation={"ndcg_at_10": 0.1}
    )
    item = ContentItemFactory(organization=organization, title="example item")
    log = RecommendationLog.objects.create(
        organization=organization, user=member, item=item, request_id=uuid.uuid4(), position=1, source="cf",
        reason="Liked by people with tastes like yours", score=0.5,
    )  # fmt: skip
    return model, log


@pytest.mark.parametrize("name", ["recommendermodel", "recommendationlog"])
def test_changelist_search_and_change_page(staff_client, rows, name):
    """Changelist, a search and the change page answer 200."""
    prefix = f"admin:recommendations_{name}"
    assert staff_client.get(reverse(f"{prefix}_changelist")).status_code == 200
    assert staff_client.get(reverse(f"{prefix}_changelist"), {"q": "example"}).status_code == 200
    obj = rows[0] if name == "recommendermodel" else rows[1]
    assert staff_client.get(reverse(f"{prefix}_change", args=[obj.pk])).status_code == 200


def test_train_again_action_enqueues_on_commit(staff_client, rows, django_capture_on_commit_callbacks):
    """The action enqueues one training per organization, after the commit."""
    with django_capture_on_commit_callbacks() as callbacks:
        response = staff_client.post(
            reverse("admin:recommendations_recommendermodel_changelist"),
            {"action": "train_again", "_selected_action": [rows[0].pk]},
        )
    assert response.status_code == 302
    assert len(callbacks) == 1
