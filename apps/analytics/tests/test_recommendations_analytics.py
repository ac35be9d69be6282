"""Click-through analytics (issue 18 item 5): GET /api/v1/orgs/{org}/analytics/recommendations/.

Coverage, on hand-made RecommendationLog rows (figures computed by hand in the comments):
- totals, per source and per position (positions after RECOMMENDATION_POSITIONS in one "11+" bucket), each
  with a zero-filled daily series; weekly grouping; a time zone moves a row across midnight;
- feedback through the real endpoint (clicked, dismissed) is what is counted;
- rows outside the range and of another organization are not counted; an empty range has zero totals and
  null rates;
- the statement reads the range through the covering (organization, created_at) index (EXPLAIN);
- the admin dashboard embeds the same figures.
Access (anonymous 401, member 403, admins and read keys 200, other organization 404) is in
test_analytics_api.py's matrix.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from django.db import connection

from apps.analytics import selectors as analytics
from apps.organizations.models import Role
from apps.organizations.tests.factories import MembershipFactory, OrganizationFactory
from apps.progress.tests.factories import ContentItemFactory
from apps.recommendations.models import RecommendationLog
from conftest import client_for

pytestmark = pytest.mark.django_db

UTC = dt.UTC


def at(day: int, hour: int = 12) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, tzinfo=UTC)


def log(org, user, item, *, when, position, source, clicked=False, dismissed=False):
    row = RecommendationLog.objects.create(
        organization=org, user=user, item=item, request_id=uuid.uuid4(), position=position, source=source,
        reason="because", score=1.0,
    )  # fmt: skip
    RecommendationLog.objects.filter(pk=row.pk).update(
        created_at=when, clicked_at=when if clicked else None, dismissed_at=when if dismissed else None
    )
    return row


@pytest.fixture
def world():
    org = OrganizationFactory()
    admin = MembershipFactory(organization=org, role=Role.ADMIN).user
    member = MembershipFactory(organization=org, role=Role.MEMBER).user
    item = ContentItemFactory(organization=org)
    # 2 March: cf at 1 (clicked), 2 (dismissed), 3; content at 1 (clicked) -> 4 shown, 2 clicks, 1 dismissal
    log(org, member, item, when=at(2), position=1, source="cf", clicked=True)
    log(org, member, item, when=at(2), position=2, source="cf", dismissed=True)
    log(org, member, item, when=at(2), position=3, source="cf")
    log(org, member, item, when=at(2), position=1, source="content", clicked=True)
    # 4 March, 23:30 UTC (5 March in Paris): content at 12 (the "11+" bucket), clicked
    log(org, member, item, when=dt.datetime(2026, 3, 4, 23, 30, tzinfo=UTC), position=12, source="content",
        clicked=True)  # fmt: skip
    # outside the range, and another organization: never counted
    log(org, member, item, when=at(20), position=1, source="cf", clicked=True)
    other = OrganizationFactory()
    other_user = MembershipFactory(organization=other).user
    log(other, other_user, ContentItemFactory(organization=other), when=at(2), position=1, source="cf")
    return {"org": org, "admin": admin, "member": member, "item": item}


def url(org) -> str:
    return f"/api/v1/orgs/{org.slug}/analytics/recommendations/"


def figures(impressions, clicks, dismissals):
    return {
        "impressions": impressions,
        "clicks": clicks,
        "dismissals": dismissals,
        "click_through_rate": clicks / impressions if impressions else None,
        "dismissal_rate": dismissals / impressions if impressions else None,
    }


def day(date, impressions=0, clicks=0, dismissals=0):
    return {"period": date} | figures(impressions, clicks, dismissals)


def test_daily_click_through_per_source_and_position(world):
    """The whole body: totals, sources and positions, each with its zero-filled daily series."""
    response = client_for(world["admin"]).get(url(world["org"]), {"date_from": "2026-03-01", "date_to": "2026-03-04"})
    assert response.status_code == 200, response.content
    zero = ("2026-03-01", "2026-03-03")
    assert response.json() == {
        "date_from": "2026-03-01", "date_to": "2026-03-04", "tz": "UTC", "grouping": "day",
        "totals": figures(5, 3, 1),
        "sources": [
            {"source": "cf", **figures(3, 1, 1), "series": [
                day(zero[0]), day("2026-03-02", 3, 1, 1), day(zero[1]), day("2026-03-04")]},
            {"source": "content", **figures(2, 2, 0), "series": [
                day(zero[0]), day("2026-03-02", 1, 1), day(zero[1]), day("2026-03-04", 1, 1)]},
        ],
        "positions": [
            {"position": 1, "label": "1", **figures(2, 2, 0), "series": [
                day(zero[0]), day("2026-03-02", 2, 2), day(zero[1]), day("2026-03-04")]},
            {"position": 2, "label": "2", **figures(1, 0, 1), "series": [
                day(zero[0]), day("2026-03-02", 1, 0, 1), day(zero[1]), day("2026-03-04")]},
            {"position": 3, "label": "3", **figures(1, 0, 0), "series": [
                day(zero[0]), day("2026-03-02", 1), day(zero[1]), day("2026-03-04")]},
            {"position": 11, "label": "11+", **figures(1, 1, 0), "series": [
                day(zero[0]), day("2026-03-02"), day(zero[1]), day("2026-03-04", 1, 1)]},
        ],
    }  # fmt: skip


def test_weekly_and_in_a_time_zone(world):
    """Weeks start on Monday (2 March 2026); in Paris the 23:30 UTC row falls on 5 March, outside a range
    that ends on the 4th."""
    client = client_for(world["admin"])
    weekly = client.get(url(world["org"]), {"date_from": "2026-03-02", "date_to": "2026-03-08", "grouping": "week"})
    assert weekly.json()["totals"] == figures(5, 3, 1)
    assert weekly.json()["sources"][0]["series"] == [day("2026-03-02", 3, 1, 1)]
    paris = client.get(url(world["org"]), {"date_from": "2026-03-01", "date_to": "2026-03-04", "tz": "Europe/Paris"})
    assert paris.json()["totals"] == figures(4, 2, 1)
    assert [entry["label"] for entry in paris.json()["positions"]] == ["1", "2", "3"]


def test_an_empty_range(world):
    """No rows: zero totals, null rates, no sources or positions."""
    body = client_for(world["admin"]).get(url(world["org"]), {"date_from": "2026-01-01", "date_to": "2026-01-02"})
    assert body.json()["totals"] == figures(0, 0, 0)
    assert body.json()["sources"] == [] and body.json()["positions"] == []


def test_feedback_through_the_api_is_counted(world):
    """A click and a dismissal sent to the feedback endpoint show up in today's figures."""
    org, member, item = world["org"], world["member"], world["item"]
    rows = [
        RecommendationLog.objects.create(
            organization=org,
            user=member,
            item=item,
            request_id=uuid.uuid4(),
            position=n,
            source="popular",
            reason="popular",
            score=1.0,
        )
        for n in (1, 2, 3)
    ]
    client = client_for(member)
    feedback = f"/api/v1/orgs/{org.slug}/recommendations/{{}}/feedback/"
    assert client.post(feedback.format(rows[0].pk), {"action": "clicked"}).status_code == 200
    assert client.post(feedback.format(rows[1].pk), {"action": "dismissed"}).status_code == 200
    today = dt.datetime.now(UTC).date().isoformat()
    body = client_for(world["admin"]).get(url(org), {"date_from": today, "date_to": today}).json()
    assert body["sources"] == [{"source": "popular", **figures(3, 1, 1), "series": [day(today, 3, 1, 1)]}]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_range_is_read_through_the_covering_index(world):
    """EXPLAIN of the statement over 60,000 generated log rows (20 organizations, 90 days): the range is read
    by an index-only scan of reclog_org_created_ctr, once (auto)vacuum has marked the pages all-visible
    (docs/analytics.md has the figures at 7 million rows). Transactional: VACUUM cannot run in a transaction."""
    org, member, item = world["org"], world["member"], world["item"]
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO recommendations_recommendationlog (organization_id, user_id, item_id, request_id, position,
                source, reason, score, created_at, clicked_at, dismissed_at)
            SELECT CASE WHEN g %% 20 = 0 THEN %(org)s ELSE %(other)s END, %(user)s, %(item)s, gen_random_uuid(),
                1 + g %% 10,
                (ARRAY['cf', 'cooccurrence', 'content', 'popular', 'course', 'prerequisite', 'graph'])[1 + g %% 7],
                'because', 1.0, %(now)s - interval '90 days' * (g / 60000.0), NULL, NULL
            FROM generate_series(1, 60000) g
            """,
            {"org": org.pk, "other": OrganizationFactory().pk, "user": member.pk, "item": item.pk,
             "now": at(31)},
        )  # fmt: skip
        cursor.execute("VACUUM ANALYZE recommendations_recommendationlog")  # as autovacuum would
        period = analytics.analytics_range(date_from=dt.date(2026, 3, 1), date_to=dt.date(2026, 3, 30))
        params = analytics.recommendations_params(organization=org, period=period, grouping="day")
        cursor.execute("EXPLAIN (FORMAT JSON) " + analytics.RECOMMENDATIONS_SQL, params)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan

    def scans(node):
        yield node.get("Node Type"), node.get("Index Name"), node.get("Relation Name")
        for child in node.get("Plans", []):
            yield from scans(child)

    found = [scan for scan in scans(plan[0]["Plan"]) if scan[1] or scan[2]]
    assert found == [("Index Only Scan", "reclog_org_created_ctr", "recommendations_recommendationlog")], found


def test_dashboard_embeds_the_figures(world):
    """The admin dashboard's figures include recommendations, as the API renders them."""
    from apps.analytics.dashboard import dashboard_figures

    period = analytics.analytics_range(date_from=dt.date(2026, 3, 1), date_to=dt.date(2026, 3, 4))
    data = dashboard_figures(organization=world["org"], period=period, grouping="day")
    assert data["recommendations"]["totals"] == figures(5, 3, 1)
    assert [entry["source"] for entry in data["recommendations"]["sources"]] == ["cf", "content"]
