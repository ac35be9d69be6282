"""The recommendation log admin at a real customer's size: newest first by the primary key, created_at sortable
only within an organization, no date hierarchy (it read the years of every row on each page), a search by
request id, e-mail or item, and queries that do not grow with the rows."""

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.progress.tests.factories import ContentItemFactory
from apps.recommendations.models import RecommendationLog
from apps.users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

URL = reverse("admin:recommendations_recommendationlog_changelist")


def log(organization, user=None, item=None):
    item = item or ContentItemFactory(organization=organization)
    return RecommendationLog.objects.create(
        organization=organization, user=user or UserFactory(), item=item, request_id=uuid.uuid4(), position=1,
        source="cf", reason="Because", score=0.5,
    )  # fmt: skip


def listed(client, params=None):
    response = client.get(URL, params or {})
    assert response.status_code == 200
    return [row.pk for row in response.context["cl"].result_list], response


def test_newest_first_no_date_hierarchy_and_sortable_within_an_organization(staff_client, organization):
    older, newer = log(organization), log(organization)

    rows, response = listed(staff_client)

    assert rows == [newer.pk, older.pk]
    assert response.context["cl"].date_hierarchy is None
    assert "?o=" not in response.content.decode()
    assert "?o=" in listed(staff_client, {"organization__id__exact": organization.pk})[1].content.decode()


def test_search_by_request_id_email_or_item(staff_client, organization):
    member = UserFactory(email="lin@example.com")
    mine = log(organization, user=member)
    of_item = log(organization, item=ContentItemFactory(organization=organization, external_id="item-9"))
    other = log(organization)

    assert listed(staff_client, {"q": str(other.request_id)})[0] == [other.pk]
    assert listed(staff_client, {"q": "lin@example.com"})[0] == [mine.pk]
    assert listed(staff_client, {"q": "item-9"})[0] == [of_item.pk]
    assert listed(staff_client, {"q": "not-a-uuid"})[0] == []


def test_queries_do_not_grow_with_rows(staff_client, organization):
    log(organization)
    listed(staff_client)  # the first request of the session loads what later ones find cached
    with CaptureQueriesContext(connection) as few:
        listed(staff_client)
    for _ in range(12):
        log(organization)

    with CaptureQueriesContext(connection) as many:
        rows, _response = listed(staff_client)

    assert len(rows) == 13
    assert len(many.captured_queries) == len(few.captured_queries)
