"""Analytics API (issue 6): /api/v1/orgs/{org}/analytics/{active-users,completion,funnel,top-items,bots}/
(and the access rules of recommendations/, whose figures are in test_recommendations_analytics.py).

Coverage, on one small hand-made dataset (`world`) whose figures are computed by hand in the comments:
- active users per day / week (zero-filled periods, ISO weeks from Monday) and over the range; a time
  zone moves an event across midnight into the range;
- completion per item and per course (cohort = progress started in the range; rate; medians of
  completed_at - started_at and of time spent; lessons and their completion rate; limit and count;
  kind filter);
- funnel: distinct users per step, users converted on the same item, rates; per item; per content kind;
- top items: weighted score, interactions, distinct users; per interaction kind; limit;
- bot usage: per bot (a bot without activity has zeros and a null rate), totals, weekly series; one bot;
- defaults: no dates = the last ANALYTICS_DEFAULT_RANGE_DAYS days up to today;
- whole bodies compared; nothing of the other organization is counted;
- access: anonymous 401, member 403, admin and owner 200, read-scoped API key 200, write-only key 403,
  owner of another organization 404; an item or bot of another organization as a parameter 404;
- invalid parameters 400 with the error envelope naming the field: bad date, date_from after date_to,
  range too long, out-of-bounds date, unknown grouping / kind / time zone, limit 0.
"""

from __future__ import annotations

import datetime as dt

import pytest
from rest_framework.test import APIClient

from apps.bots.tests.factories import BotFactory
from apps.conversations.models import Conversation, Message
from apps.organizations.models import Role
from apps.organizations.tests.factories import MembershipFactory, OrganizationFactory, api_key_for
from apps.progress.models import ContentItem, Interaction, Progress
from conftest import client_for

pytestmark = pytest.mark.django_db

UTC = dt.UTC
RANGE = {"date_from": "2026-03-01", "date_to": "2026-03-14"}  # 2026-03-01 is a Sunday


def at(day: int, hour: int = 12, minute: int = 0, month: int = 3) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=UTC)


def url(organization, name: str) -> str:
    return f"/api/v1/orgs/{organization.slug}/analytics/{name}/"


def event(org, user, item, kind, when, weight):
    return Interaction.objects.create(
        organization=org, user=user, item=item, kind=kind, weight=weight, occurred_at=when
    )


def progress(org, user, item, started, completed=None, time_spent=0):
    done = completed is not None
    return Progress.objects.create(
        organization=org,
        user=user,
        item=item,
        status=Progress.Status.COMPLETED if done else Progress.Status.IN_PROGRESS,
        percent=100 if done else 50,
        time_spent_seconds=time_spent,
        started_at=started,
        completed_at=completed,
        last_activity_at=completed or started,
    )


def conversation(org, bot, day, messages):
    """A conversation created on March `day`, with (role, status, feedback, minute) messages that day."""
    conv = Conversation.objects.create(organization=org, bot=bot)
    Conversation.objects.filter(pk=conv.pk).update(created_at=at(day, 9))
    for role, status, feedback, minute in messages:
        message = Message.objects.create(
            organization=org, conversation=conv, role=role, content="x", status=status, feedback=feedback
        )
        Message.objects.filter(pk=message.pk).update(created_at=at(day, 10, minute))
    return conv


@pytest.fixture
def world(db):
    org = OrganizationFactory(slug="acme")
    owner = MembershipFactory(organization=org, role=Role.OWNER).user
    admin = MembershipFactory(organization=org, role=Role.ADMIN).user
    member = MembershipFactory(organization=org, role=Role.MEMBER).user
    u1, u2, u3 = (MembershipFactory(organization=org).user for _ in range(3))
    course = ContentItem.objects.create(organization=org, title="Course", kind="course", external_id="c")
    l1 = ContentItem.objects.create(organization=org, title="Lesson 1", kind="lesson", parent=course, position=1)
    l2 = ContentItem.objects.create(organization=org, title="Lesson 2", kind="lesson", parent=course, position=2)
    article = ContentItem.objects.create(organization=org, title="Article", kind="article", external_id="a")

    # Interactions (weights given explicitly).
    event(org, u1, l1, "view", at(2, 10), 1)
    event(org, u1, l1, "start", at(2, 10, 5), 2)
    event(org, u1, l1, "complete", at(3, 9), 5)
    event(org, u1, article, "view", at(10), 1)
    event(org, u2, l1, "view", at(2, 12), 1)
    event(org, u2, l2, "start", at(4), 2)  # started without a view: not "converted"
    event(org, u2, article, "like", at(9), 3)
    event(org, u3, article, "view", at(20), 1)  # after the range
    event(org, u3, l2, "view", at(28, 23, 30, month=2), 1)  # 2026-03-01 00:30 in Paris (UTC+1)

    # Progress (cohort = started in the range).
    progress(org, u1, l1, at(2, 10, 5), at(3, 9), time_spent=1200)  # 82,500 s elapsed
    progress(org, u2, l1, at(2, 12))
    progress(org, u2, l2, at(4, 8), at(4, 10), time_spent=3000)  # 7,200 s
    progress(org, u3, l2, at(20, month=2), at(21, month=2), time_spent=99)  # started before the range
    progress(org, u1, course, at(2, 10, 5))
    progress(org, u2, course, at(2, 12))
    progress(org, u3, course, at(5), at(6), time_spent=5000)  # 86,400 s

    # Bots: Alpha and Beta have activity, Gamma none.
    alpha = BotFactory(organization=org, name="Alpha")
    beta = BotFactory(organization=org, name="Beta")
    gamma = BotFactory(organization=org, name="Gamma")
    user, assistant = Message.Role.USER, Message.Role.ASSISTANT
    ok, unanswered, error = Message.Status.OK, Message.Status.UNANSWERED, Message.Status.ERROR
    conversation(
        org, alpha, 2,
        [(user, ok, None, 0), (assistant, ok, 1, 1), (user, ok, None, 2), (assistant, unanswered, -1, 3)],
    )  # fmt: skip
    conversation(org, alpha, 10, [(user, ok, None, 0), (assistant, error, None, 1)])
    conversation(org, beta, 5, [(user, ok, None, 0), (assistant, ok, 1, 1)])
    conversation(org, alpha, 20, [(user, ok, None, 0), (assistant, unanswered, -1, 1)])  # after the range

    # Another organization's activity on the same days: never counted.
    other = OrganizationFactory(slug="other")
    other_owner = MembershipFactory(organization=other, role=Role.OWNER).user
    other_item = ContentItem.objects.create(organization=other, title="Other", kind="lesson")
    event(other, other_owner, other_item, "view", at(2), 100)
    event(other, other_owner, other_item, "start", at(2), 100)
    progress(other, other_owner, other_item, at(2), at(3))
    other_bot = BotFactory(organization=other, name="Other bot")
    conversation(other, other_bot, 2, [(user, ok, None, 0), (assistant, unanswered, -1, 1)])

    return {
        "org": org, "owner": owner, "admin": admin, "member": member, "course": course, "l1": l1, "l2": l2,
        "article": article, "alpha": alpha, "beta": beta, "gamma": gamma, "other": other,
        "other_owner": other_owner, "other_item": other_item, "other_bot": other_bot,
    }  # fmt: skip


def get(world, name, params=None, user=None):
    response = client_for(user or world["admin"]).get(url(world["org"], name), params or {})
    return response


def ok(response) -> dict:
    assert response.status_code == 200, response.content
    return response.json()


# --------------------------------------------------------------------------- active users


def test_active_users_per_day(world):
    """Every day of the range is listed (zeros included); the total counts distinct users once."""
    body = ok(get(world, "active-users", RANGE | {"grouping": "day"}))

    per_day = {2: 2, 3: 1, 4: 1, 9: 1, 10: 1}  # u1+u2 on the 2nd; u1 3rd; u2 4th; u2 9th; u1 10th
    assert body == {
        "date_from": "2026-03-01",
        "date_to": "2026-03-14",
        "tz": "UTC",
        "grouping": "day",
        "total_active_users": 2,
        "results": [{"period": f"2026-03-{d:02d}", "active_users": per_day.get(d, 0)} for d in range(1, 15)],
    }


def test_active_users_per_week(world):
    """ISO weeks from Monday: the range's first day (Sunday) belongs to the week of Feb 23."""
    body = ok(get(world, "active-users", RANGE | {"grouping": "week"}))

    assert body["results"] == [
        {"period": "2026-02-23", "active_users": 0},
        {"period": "2026-03-02", "active_users": 2},
        {"period": "2026-03-09", "active_users": 2},
    ]
    assert body["total_active_users"] == 2


def test_active_users_per_month_in_a_time_zone(world):
    """In Europe/Paris u3's view at 23:30 UTC on Feb 28 falls on March 1, inside the range."""
    body = ok(get(world, "active-users", RANGE | {"grouping": "month", "tz": "Europe/Paris"}))

    assert body == {
        "date_from": "2026-03-01",
        "date_to": "2026-03-14",
        "tz": "Europe/Paris",
        "grouping": "month",
        "total_active_users": 3,
        "results": [{"period": "2026-03-01", "active_users": 3}],
    }


def test_defaults_are_the_last_days_up_to_today(world, settings):
    """No dates: the last ANALYTICS_DEFAULT_RANGE_DAYS days up to today (UTC), grouping by day."""
    settings.ANALYTICS_DEFAULT_RANGE_DAYS = 7
    today = dt.datetime.now(UTC).date()
    user = world["article"].organization.memberships.filter(role=Role.MEMBER).last().user
    event(world["org"], user, world["article"], "view", dt.datetime.now(UTC), 1)

    body = ok(get(world, "active-users"))

    days = [today - dt.timedelta(days=6 - n) for n in range(7)]
    assert body == {
        "date_from": days[0].isoformat(),
        "date_to": today.isoformat(),
        "tz": "UTC",
        "grouping": "day",
        "total_active_users": 1,
        "results": [{"period": d.isoformat(), "active_users": int(d == today)} for d in days],
    }


def test_date_from_alone_runs_to_today_and_date_to_alone_goes_back(world, settings):
    """date_from alone: up to today; date_to alone: ANALYTICS_DEFAULT_RANGE_DAYS days ending there."""
    settings.ANALYTICS_DEFAULT_RANGE_DAYS = 3
    today = dt.datetime.now(UTC).date()
    body = ok(get(world, "active-users", {"date_from": (today - dt.timedelta(days=1)).isoformat()}))
    assert (body["date_from"], body["date_to"], len(body["results"])) == (
        (today - dt.timedelta(days=1)).isoformat(),
        today.isoformat(),
        2,
    )
    body = ok(get(world, "active-users", {"date_to": "2026-03-03"}))
    assert (body["date_from"], body["date_to"]) == ("2026-03-01", "2026-03-03")
    assert [row["active_users"] for row in body["results"]] == [0, 2, 1]


# --------------------------------------------------------------------------- completion

L1_ROW = {
    "started": 2, "completed": 1, "completion_rate": 0.5,
    "median_time_to_complete_seconds": 82500.0, "median_time_spent_seconds": 1200.0,
}  # fmt: skip
L2_ROW = {
    "started": 1, "completed": 1, "completion_rate": 1.0,
    "median_time_to_complete_seconds": 7200.0, "median_time_spent_seconds": 3000.0,
}  # fmt: skip
COURSE_ROW = {
    "started": 3, "completed": 1, "completion_rate": 1 / 3,
    "median_time_to_complete_seconds": 86400.0, "median_time_spent_seconds": 5000.0,
}  # fmt: skip

# The course's two lessons: 3 lesson progress rows started in the range, 2 completed.
COURSE_CHILDREN = {"children": 2, "children_completion_rate": 2 / 3}
NO_CHILDREN = {"children": 0, "children_completion_rate": None}


def item_head(item) -> dict:
    return {"id": item.pk, "external_id": item.external_id, "title": item.title, "kind": item.kind}


def test_completion_per_item(world):
    """Cohort = progress started in the range; rows by started (desc); totals over the cohort."""
    body = ok(get(world, "completion", RANGE))

    assert body == {
        "date_from": "2026-03-01",
        "date_to": "2026-03-14",
        "tz": "UTC",
        "group": "item",
        "kind": None,
        "count": 3,
        # 6 started, 3 completed; medians of {82500, 7200, 86400} and of {1200, 3000, 5000}
        "totals": {
            "started": 6,
            "completed": 3,
            "completion_rate": 0.5,
            "median_time_to_complete_seconds": 82500.0,
            "median_time_spent_seconds": 3000.0,
        },
        "results": [
            item_head(world["course"]) | COURSE_ROW | COURSE_CHILDREN,
            item_head(world["l1"]) | L1_ROW | NO_CHILDREN,
            item_head(world["l2"]) | L2_ROW | NO_CHILDREN,
        ],
    }


def test_completion_per_item_with_kind_and_limit(world):
    """kind=lesson keeps lessons; limit=1 keeps the first row, count says how many there were."""
    body = ok(get(world, "completion", RANGE | {"kind": "lesson", "limit": "1"}))

    assert body["count"] == 2
    assert body["kind"] == "lesson"
    assert body["results"] == [item_head(world["l1"]) | L1_ROW | NO_CHILDREN]
    # 3 lesson rows: medians of {82500, 7200} and {1200, 3000} interpolate
    assert body["totals"] == {
        "started": 3, "completed": 2, "completion_rate": 2 / 3,
        "median_time_to_complete_seconds": 44850.0, "median_time_spent_seconds": 2100.0,
    }  # fmt: skip


def test_completion_per_course(world):
    """group=course: the course's own rolled-up progress, its lessons and their completion rate (2 of 3)."""
    body = ok(get(world, "completion", RANGE | {"group": "course"}))

    assert body == {
        "date_from": "2026-03-01",
        "date_to": "2026-03-14",
        "tz": "UTC",
        "group": "course",
        "kind": "course",
        "count": 1,
        "totals": COURSE_ROW,
        "results": [item_head(world["course"]) | COURSE_ROW | COURSE_CHILDREN],
    }


def test_completion_of_an_empty_range(world):
    """No progress started: zeros, null rates and medians, no rows."""
    body = ok(get(world, "completion", {"date_from": "2025-01-01", "date_to": "2025-01-31"}))

    assert body["count"] == 0
    assert body["results"] == []
    assert body["totals"] == {
        "started": 0, "completed": 0, "completion_rate": None,
        "median_time_to_complete_seconds": None, "median_time_spent_seconds": None,
    }  # fmt: skip


# --------------------------------------------------------------------------- funnel


def steps(view, start, complete, start_converted, complete_converted):
    return [
        {"step": "view", "users": view, "converted": view, "conversion_rate": 1.0 if view else None},
        {"step": "start", "users": start, "converted": start_converted,
         "conversion_rate": start_converted / view if view else None},
        {"step": "complete", "users": complete, "converted": complete_converted,
         "conversion_rate": complete_converted / view if view else None},
    ]  # fmt: skip


def test_funnel(world):
    """Viewed: u1, u2; started: u1 (L1), u2 (L2 without viewing it); completed: u1. Converted: u1 only."""
    body = ok(get(world, "funnel", RANGE))

    assert body == {
        "date_from": "2026-03-01",
        "date_to": "2026-03-14",
        "tz": "UTC",
        "item": None,
        "kind": None,
        "steps": steps(2, 2, 1, 1, 1),
    }


def test_funnel_of_one_item_and_of_a_kind(world):
    """L2: nobody viewed it in the range, u2 started it. Articles: two viewers... no: one viewer (u1)."""
    body = ok(get(world, "funnel", RANGE | {"item": str(world["l2"].pk)}))
    assert (body["item"], body["steps"]) == (world["l2"].pk, steps(0, 1, 0, 0, 0))

    body = ok(get(world, "funnel", RANGE | {"kind": "article"}))
    assert (body["kind"], body["steps"]) == ("article", steps(1, 0, 0, 0, 0))


# --------------------------------------------------------------------------- top items


def test_top_items(world):
    """L1: 1+2+5+1 = 9 by u1, u2; Article: 1+3 = 4 by u1, u2; L2: 2 by u2; the course has no events."""
    body = ok(get(world, "top-items", RANGE))

    assert body == {
        "date_from": "2026-03-01",
        "date_to": "2026-03-14",
        "tz": "UTC",
        "interaction_kind": None,
        "kind": None,
        "results": [
            item_head(world["l1"]) | {"score": 9.0, "interactions": 4, "users": 2},
            item_head(world["article"]) | {"score": 4.0, "interactions": 2, "users": 2},
            item_head(world["l2"]) | {"score": 2.0, "interactions": 1, "users": 1},
        ],
    }


def test_top_items_by_interaction_kind_and_limit(world):
    """Views only: L1 (u1, u2), Article (u1); limit=1 keeps L1. kind=article keeps the article."""
    body = ok(get(world, "top-items", RANGE | {"interaction_kind": "view"}))
    assert body["results"] == [
        item_head(world["l1"]) | {"score": 2.0, "interactions": 2, "users": 2},
        item_head(world["article"]) | {"score": 1.0, "interactions": 1, "users": 1},
    ]
    body = ok(get(world, "top-items", RANGE | {"interaction_kind": "view", "limit": "1"}))
    assert [row["id"] for row in body["results"]] == [world["l1"].pk]
    body = ok(get(world, "top-items", RANGE | {"kind": "article"}))
    assert body["results"] == [item_head(world["article"]) | {"score": 4.0, "interactions": 2, "users": 2}]


# --------------------------------------------------------------------------- bots

ZERO = {
    "conversations": 0, "messages": 0, "questions": 0, "answers": 0, "unanswered": 0, "errors": 0,
    "unanswered_rate": None, "feedback_positive": 0, "feedback_negative": 0,
}  # fmt: skip
ALPHA = {
    "conversations": 2, "messages": 6, "questions": 3, "answers": 3, "unanswered": 1, "errors": 1,
    "unanswered_rate": 1 / 3, "feedback_positive": 1, "feedback_negative": 1,
}  # fmt: skip
BETA = {
    "conversations": 1, "messages": 2, "questions": 1, "answers": 1, "unanswered": 0, "errors": 0,
    "unanswered_rate": 0.0, "feedback_positive": 1, "feedback_negative": 0,
}  # fmt: skip


def test_bot_usage(world):
    """Per bot (by name), totals, and the weekly series; the conversation after the range is not counted."""
    body = ok(get(world, "bots", RANGE | {"grouping": "week"}))

    assert body == {
        "date_from": "2026-03-01",
        "date_to": "2026-03-14",
        "tz": "UTC",
        "grouping": "week",
        "bot": None,
        "totals": {
            "conversations": 3,
            "messages": 8,
            "questions": 4,
            "answers": 4,
            "unanswered": 1,
            "errors": 1,
            "unanswered_rate": 0.25,
            "feedback_positive": 2,
            "feedback_negative": 1,
        },
        "bots": [
            {"id": world["alpha"].pk, "name": "Alpha"} | ALPHA,
            {"id": world["beta"].pk, "name": "Beta"} | BETA,
            {"id": world["gamma"].pk, "name": "Gamma"} | ZERO,
        ],
        "series": [
            {"period": "2026-02-23"} | ZERO,
            {
                "period": "2026-03-02",
                "conversations": 2,
                "messages": 6,
                "questions": 3,
                "answers": 3,
                "unanswered": 1,
                "errors": 0,
                "unanswered_rate": 1 / 3,
                "feedback_positive": 2,
                "feedback_negative": 1,
            },
            {
                "period": "2026-03-09",
                "conversations": 1,
                "messages": 2,
                "questions": 1,
                "answers": 1,
                "unanswered": 0,
                "errors": 1,
                "unanswered_rate": 0.0,
                "feedback_positive": 0,
                "feedback_negative": 0,
            },
        ],
    }


def test_bot_usage_of_one_bot(world):
    """bot=<Beta>: only Beta in the list, the totals and the series."""
    body = ok(get(world, "bots", RANGE | {"grouping": "month", "bot": str(world["beta"].pk)}))

    assert body["bot"] == world["beta"].pk
    assert body["bots"] == [{"id": world["beta"].pk, "name": "Beta"} | BETA]
    assert body["totals"] == BETA
    assert body["series"] == [{"period": "2026-03-01"} | BETA]


def test_bot_usage_leaves_out_a_deleted_bot(world):
    """A deleted bot (its purge still to come) is not listed, counts in neither the totals nor the series, and
    asking for it is a 404 like an unknown bot."""
    from apps.bots.services import bot_delete

    bot_delete(bot=world["alpha"])

    body = ok(get(world, "bots", RANGE | {"grouping": "month"}))
    assert body["bots"] == [
        {"id": world["beta"].pk, "name": "Beta"} | BETA,
        {"id": world["gamma"].pk, "name": "Gamma"} | ZERO,
    ]
    assert body["totals"] == BETA
    assert body["series"] == [{"period": "2026-03-01"} | BETA]
    assert get(world, "bots", RANGE | {"bot": str(world["alpha"].pk)}).status_code == 404


# --------------------------------------------------------------------------- access

ENDPOINTS = ["active-users", "completion", "funnel", "top-items", "bots", "recommendations"]


@pytest.mark.parametrize("name", ENDPOINTS)
def test_access_matrix(world, name):
    """Anonymous 401; member 403; admin, owner and a read-scoped key 200; a write-only key 403;
    another organization's owner 404 (the organization is not revealed)."""
    target = url(world["org"], name)
    assert APIClient().get(target).status_code == 401
    response = client_for(world["member"]).get(target)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert client_for(world["admin"]).get(target).status_code == 200
    assert client_for(world["owner"]).get(target).status_code == 200
    for scopes, expected in ((("read",), 200), (("write",), 403)):
        _key, raw = api_key_for(world["org"], scopes=scopes)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
        assert client.get(target).status_code == expected
    response = client_for(world["other_owner"]).get(target)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("name", ENDPOINTS)
def test_writes_are_not_allowed(world, name):
    """Analytics are read-only: POST is 405 for an owner."""
    assert client_for(world["owner"]).post(url(world["org"], name), {}, format="json").status_code == 405


def test_other_organizations_item_or_bot_is_404(world):
    """An item or bot id of another organization as a filter: 404, nothing revealed."""
    response = get(world, "funnel", {"item": str(world["other_item"].pk)})
    assert response.status_code == 404
    assert response.json()["error"] == {"code": "not_found", "message": "Item not found.", "details": {}}
    response = get(world, "bots", {"bot": str(world["other_bot"].pk)})
    assert response.status_code == 404
    assert response.json()["error"] == {"code": "not_found", "message": "Bot not found.", "details": {}}


# --------------------------------------------------------------------------- invalid parameters


@pytest.mark.parametrize(
    ("name", "params", "field", "message"),
    [
        ("active-users", {"date_from": "2026-13-01"}, "date_from", "2026-13-01 is written as YYYY-MM-DD but is no day"),
        ("active-users", {"date_to": "yesterday"}, "date_to", "Date has wrong format"),
        ("active-users", {"date_from": "2026-02-30"}, "date_from", "2026-02-30 is written as YYYY-MM-DD but is no day"),
        ("active-users", {"date_from": "2026-03-10", "date_to": "2026-03-01"}, "date_from", "on or before date_to"),
        ("active-users", {"date_from": "2020-01-01", "date_to": "2026-01-01"}, "date_to", "the most is 731"),
        # date_to defaults to today: not shortened quietly to 731 days from date_from (which left out this year)
        ("active-users", {"date_from": "2020-01-01"}, "date_from", "to today"),
        ("active-users", {"date_to": "9999-12-31"}, "date_to", "Must be between 1970-01-01 and 9998-12-31"),
        ("active-users", {"grouping": "year"}, "grouping", "not a valid choice"),
        ("active-users", {"tz": "Mars/Olympus"}, "tz", "Unknown time zone"),
        ("completion", {"group": "module"}, "group", "not a valid choice"),
        ("completion", {"kind": "song"}, "kind", "not a valid choice"),
        ("completion", {"limit": "0"}, "limit", "greater than or equal to 1"),
        ("funnel", {"item": "abc"}, "item", "valid integer"),
        ("top-items", {"interaction_kind": "click"}, "interaction_kind", "not a valid choice"),
        ("top-items", {"limit": "101"}, "limit", "less than or equal to 100"),
        ("bots", {"bot": "0"}, "bot", "greater than or equal to 1"),
    ],
)
def test_invalid_parameters_are_400(world, name, params, field, message):
    """400 with the error envelope; the message and details name the parameter."""
    response = get(world, name, params)

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert field in error["details"]
    assert message in error["message"], error["message"]


# --------------------------------------------------------------------------- statement settings


def test_statement_settings_do_not_leak(world):
    """work_mem and enable_hashagg are changed for one analytics statement only: the caller's
    transaction (e.g. the dashboard's next statements) gets its own values back."""
    from django.db import connection

    from apps.analytics import selectors as analytics

    def current():
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('work_mem'), current_setting('enable_hashagg')")
            return cursor.fetchone()

    before = current()
    period = analytics.analytics_range(date_from=dt.date(2026, 3, 1), date_to=dt.date(2026, 3, 14))
    body = analytics.analytics_active_users(organization=world["org"], period=period, grouping="week")

    assert body["total_active_users"] == 2
    assert current() == before
    assert before[1] == "on"
