"""The progress admin at a real customer's size (2,000,000 interactions, 200,000 progress rows).

Coverage: the interaction list is newest recorded first by the primary key and sorts by occurred_at only
once an organization is chosen (an index serves it there; elsewhere each sort read the whole table); its
queries do not grow with the rows (related rows joined, no N+1); its count is estimated above the paginator's
threshold (no COUNT(*)); the search finds a member's rows by e-mail (any case), an item's by external id or
exact title and an event by idempotency key, and nothing by substring. The progress list searches the same way.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.core.admin import EstimatedCountPaginator
from apps.organizations.tests.factories import OrganizationFactory
from apps.progress.tests.factories import ContentItemFactory, InteractionFactory, ProgressFactory
from apps.users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

INTERACTIONS = reverse("admin:progress_interaction_changelist")
PROGRESS = reverse("admin:progress_progress_changelist")


def listed(client, url, params=None):
    response = client.get(url, params or {})
    assert response.status_code == 200
    return [row.pk for row in response.context["cl"].result_list], response


def test_interactions_newest_recorded_first_and_sortable_only_within_an_organization(staff_client, organization):
    item = ContentItemFactory(organization=organization)
    first = InteractionFactory(item=item, occurred_at="2026-01-02T00:00:00Z")
    second = InteractionFactory(item=item, occurred_at="2026-01-01T00:00:00Z")  # recorded later, happened earlier

    rows, response = listed(staff_client, INTERACTIONS)
    assert rows == [second.pk, first.pk]
    assert response.context["cl"].model_admin.get_sortable_by(response.wsgi_request) == []
    assert "?o=" not in response.content.decode()

    rows, response = listed(staff_client, INTERACTIONS, {"organization__id__exact": organization.pk, "o": "-0"})
    assert rows == [first.pk, second.pk]
    assert "?o=" in response.content.decode()


def test_the_interaction_list_queries_do_not_grow_with_rows(staff_client, organization):
    item = ContentItemFactory(organization=organization)
    InteractionFactory(item=item)
    listed(staff_client, INTERACTIONS)  # the first request of the session loads what later ones find cached
    with CaptureQueriesContext(connection) as few:
        listed(staff_client, INTERACTIONS)
    for _ in range(15):
        InteractionFactory(item=ContentItemFactory(organization=organization), user=UserFactory())

    with CaptureQueriesContext(connection) as many:
        rows, _response = listed(staff_client, INTERACTIONS)

    assert len(rows) == 16
    assert len(many.captured_queries) == len(few.captured_queries)


def test_a_large_interaction_list_is_not_counted_row_by_row(staff_client, organization, monkeypatch):
    monkeypatch.setattr(EstimatedCountPaginator, "EXACT_BELOW", 2)
    item = ContentItemFactory(organization=organization)
    InteractionFactory.create_batch(5, item=item)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE progress_interaction")

    with CaptureQueriesContext(connection) as queries:
        rows, response = listed(staff_client, INTERACTIONS)

    assert len(rows) == 5 and response.context["cl"].result_count == 5
    sql = [q["sql"] for q in queries.captured_queries]
    assert not [q for q in sql if "COUNT(" in q.upper() and "progress_interaction" in q]


def test_the_interaction_search_finds_exact_values(staff_client, organization):
    member = UserFactory(email="ada@example.com")
    course = ContentItemFactory(organization=organization, external_id="course-7", title="Databases")
    by_member = InteractionFactory(item=ContentItemFactory(organization=organization), user=member)
    by_item = InteractionFactory(item=course)
    by_key = InteractionFactory(item=ContentItemFactory(organization=organization), idempotency_key="evt-42")
    InteractionFactory(item=ContentItemFactory(organization=OrganizationFactory()))

    assert listed(staff_client, INTERACTIONS, {"q": "ADA@example.com"})[0] == [by_member.pk]
    assert listed(staff_client, INTERACTIONS, {"q": "course-7"})[0] == [by_item.pk]
    assert listed(staff_client, INTERACTIONS, {"q": "Databases"})[0] == [by_item.pk]
    assert listed(staff_client, INTERACTIONS, {"q": " evt-42 "})[0] == [by_key.pk]
    assert listed(staff_client, INTERACTIONS, {"q": "ada"})[0] == []  # no substring scan


def test_the_progress_search_finds_exact_values(staff_client, organization):
    member = UserFactory(email="grace@example.com")
    mine = ProgressFactory(item=ContentItemFactory(organization=organization), user=member)
    of_item = ProgressFactory(item=ContentItemFactory(organization=organization, external_id="lesson-3"))
    ProgressFactory(item=ContentItemFactory(organization=organization))

    assert listed(staff_client, PROGRESS, {"q": "grace@example.com"})[0] == [mine.pk]
    assert listed(staff_client, PROGRESS, {"q": "lesson-3"})[0] == [of_item.pk]
    assert listed(staff_client, PROGRESS, {"q": "grace"})[0] == []
