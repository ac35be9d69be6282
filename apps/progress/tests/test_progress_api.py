"""Progress API: /api/v1/orgs/{org}/progress/ (list), progress/{start,update,complete,reset}/, progress/summary/.

Coverage:
- start / update / complete / reset: whole bodies, stored rows, timestamps, the interactions they record
  (start, complete; none twice on retries), item by id or by external_id;
- update: percent, score, time spent (total or add_seconds), percent 100 completes, starts a new item;
- roll-up: a course's percent is the mean of its active lessons (missing = 0), completed when all are,
  time spent summed, recorded start/complete of the course; nested (module inside a course); reset of a
  course resets its lessons; a lesson un-completed (reset) reopens the course;
- invalid (4xx naming the problem, nothing written): percent 101 / -1, score 101, both time fields, start of a
  completed item (409), lowering a completed item's percent (409), inactive item (400), direct update of a
  course with lessons (400), unknown item / another organization's item (400), a non-member user (400),
  at in the future, neither item nor item_external_id;
- access: members write and read their own only (403 for others), admins on behalf of members, API keys
  need `user`, anonymous 401, other organization 404, read-only key cannot write;
- list filters user / status / item / parent; summary (counts, time, streaks in the user's time zone, last
  activity); progress and interaction lists cost the same number of queries for 2 or 20 rows.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.organizations.models import Membership, Role
from apps.organizations.tests.factories import MembershipFactory
from apps.progress.models import Interaction, Progress
from apps.progress.tests.factories import ContentItemFactory, InteractionFactory, ProgressFactory
from apps.progress.tests.utils import api_key_client, iso, progress_body, url
from conftest import client_for

pytestmark = pytest.mark.django_db


def action(organization, name: str) -> str:
    return url(organization, f"progress/{name}/")


def events(user, item=None) -> list[str]:
    queryset = Interaction.objects.filter(user=user).order_by("id")
    if item is not None:
        queryset = queryset.filter(item=item)
    return list(queryset.values_list("kind", flat=True))


@pytest.fixture
def lesson(organization):
    return ContentItemFactory(organization=organization, external_id="lesson-1")


# --------------------------------------------------------------------------- transitions


def test_start_update_complete(organization, member, lesson):
    """start -> update -> complete: whole bodies, stored state, one start and one complete interaction."""
    client = client_for(member)
    response = client.post(action(organization, "start"), {"item": lesson.pk}, format="json")
    assert response.status_code == 200, response.content
    progress = Progress.objects.get(user=member, item=lesson)
    assert response.json() == progress_body(progress)
    assert (progress.status, progress.percent, progress.organization) == ("in_progress", 0, organization)
    assert progress.started_at is not None and progress.started_at == progress.last_activity_at

    response = client.post(
        action(organization, "update"),
        {"item_external_id": "lesson-1", "percent": 40, "score": 75.5, "add_seconds": 120},
        format="json",
    )
    assert response.status_code == 200
    progress.refresh_from_db()
    assert response.json() == progress_body(progress)
    assert (progress.percent, progress.score, progress.time_spent_seconds) == (40, 75.5, 120)
    client.post(action(organization, "update"), {"item": lesson.pk, "add_seconds": 30}, format="json")
    progress.refresh_from_db()
    assert progress.time_spent_seconds == 150

    response = client.post(action(organization, "complete"), {"item": lesson.pk, "score": 90}, format="json")
    assert response.status_code == 200
    progress.refresh_from_db()
    assert (progress.status, progress.percent, progress.score) == ("completed", 100, 90)
    assert progress.completed_at is not None
    assert response.json()["completed_at"] == iso(progress.completed_at)
    assert events(member) == ["start", "complete"]


def test_complete_is_idempotent(organization, member, lesson):
    """Completing twice keeps completed_at and records one complete (and the implied start)."""
    client = client_for(member)
    first = client.post(action(organization, "complete"), {"item": lesson.pk}, format="json").json()
    second = client.post(action(organization, "complete"), {"item": lesson.pk}, format="json").json()
    assert first["completed_at"] == second["completed_at"]
    assert events(member) == ["start", "complete"]


def test_update_to_100_completes_and_start_is_idempotent(organization, member, lesson):
    """A not-started item updated to 100 records start and complete; a second start while in progress is a no-op."""
    client = client_for(member)
    other = ContentItemFactory(organization=organization)
    client.post(action(organization, "start"), {"item": other.pk}, format="json")
    client.post(action(organization, "start"), {"item": other.pk}, format="json")
    assert events(member, other) == ["start"]
    response = client.post(action(organization, "update"), {"item": lesson.pk, "percent": 100}, format="json")
    assert response.json()["status"] == "completed"
    assert events(member, lesson) == ["start", "complete"]


def test_update_sets_total_time(organization, member, lesson):
    """time_spent_seconds replaces the stored total."""
    client = client_for(member)
    client.post(action(organization, "update"), {"item": lesson.pk, "add_seconds": 500}, format="json")
    response = client.post(action(organization, "update"), {"item": lesson.pk, "time_spent_seconds": 60}, format="json")
    assert response.json()["time_spent_seconds"] == 60


def test_reset(organization, member, lesson):
    """Reset: back to not_started with percent, score, time and timestamps cleared; then it can start again."""
    client = client_for(member)
    client.post(action(organization, "complete"), {"item": lesson.pk, "score": 80, "add_seconds": 10}, format="json")
    response = client.post(action(organization, "reset"), {"item": lesson.pk}, format="json")
    assert response.status_code == 200
    progress = Progress.objects.get(user=member, item=lesson)
    assert response.json() == progress_body(progress)
    assert (progress.status, progress.percent, progress.score, progress.time_spent_seconds) == (
        "not_started", 0, None, 0,
    )  # fmt: skip
    assert progress.started_at is None and progress.completed_at is None
    assert client.post(action(organization, "start"), {"item": lesson.pk}, format="json").status_code == 200


def test_import_with_timestamps(organization, admin_user, member, lesson):
    """Admins import on behalf of a member with `at`: timestamps and recorded interactions use it."""
    when = timezone.now() - timedelta(days=3)
    response = client_for(admin_user).post(
        action(organization, "complete"), {"item": lesson.pk, "user": member.pk, "at": iso(when)}, format="json"
    )
    assert response.status_code == 200
    progress = Progress.objects.get(user=member, item=lesson)
    assert progress.completed_at == progress.started_at == when
    assert list(Interaction.objects.filter(user=member).order_by("id").values_list("kind", "occurred_at")) == [
        ("start", when), ("complete", when),
    ]  # fmt: skip


def test_members_cannot_backdate_and_nobody_before_1970(organization, admin_user, member, lesson):
    """`at` is for admins' imports: a member gets 403; a time before 1970 is 400; nothing is written."""
    response = client_for(member).post(
        action(organization, "start"), {"item": lesson.pk, "at": iso(timezone.now() - timedelta(days=1))}
    )
    assert response.status_code == 403
    assert "at" in response.json()["error"]["message"]
    response = client_for(admin_user).post(
        action(organization, "start"), {"item": lesson.pk, "user": member.pk, "at": "0001-01-01T00:00:00Z"}
    )
    assert response.status_code == 400
    assert "1970" in response.json()["error"]["message"]
    assert not Progress.objects.filter(user=member).exists() and not Interaction.objects.filter(user=member).exists()


# --------------------------------------------------------------------------- roll-up


def test_course_rolls_up_from_lessons(organization, member):
    """Course percent = mean of active lessons, time summed; completed when every lesson is; inactive ones ignored."""
    course = ContentItemFactory(organization=organization, kind="course")
    l1, l2 = (ContentItemFactory(organization=organization, parent=course, position=i) for i in range(2))
    ContentItemFactory(organization=organization, parent=course, position=9, active=False)
    client = client_for(member)
    client.post(action(organization, "update"), {"item": l1.pk, "percent": 50, "add_seconds": 60}, format="json")
    rolled = Progress.objects.get(user=member, item=course)
    assert (rolled.status, rolled.percent, rolled.time_spent_seconds) == ("in_progress", 25, 60)
    client.post(action(organization, "complete"), {"item": l1.pk}, format="json")
    assert Progress.objects.get(user=member, item=course).percent == 50
    client.post(action(organization, "complete"), {"item": l2.pk, "add_seconds": 40}, format="json")
    rolled = Progress.objects.get(user=member, item=course)
    assert (rolled.status, rolled.percent, rolled.time_spent_seconds) == ("completed", 100, 100)
    assert rolled.completed_at is not None
    assert events(member, course) == ["start", "complete"]
    # a lesson reset reopens the course
    client.post(action(organization, "reset"), {"item": l2.pk}, format="json")
    rolled = Progress.objects.get(user=member, item=course)
    assert (rolled.status, rolled.percent, rolled.completed_at) == ("in_progress", 50, None)


def test_nested_rollup_and_course_reset(organization, member):
    """A lesson in a module in a course rolls up two levels; resetting the course resets everything below."""
    course = ContentItemFactory(organization=organization, kind="course")
    module = ContentItemFactory(organization=organization, kind="module", parent=course)
    other_module = ContentItemFactory(organization=organization, kind="module", parent=course)
    lesson = ContentItemFactory(organization=organization, parent=module)
    ContentItemFactory(organization=organization, parent=other_module)
    client = client_for(member)
    client.post(action(organization, "complete"), {"item": lesson.pk}, format="json")
    assert Progress.objects.get(user=member, item=module).status == "completed"
    assert Progress.objects.get(user=member, item=course).percent == 50
    response = client.post(action(organization, "reset"), {"item": course.pk}, format="json")
    assert response.status_code == 200
    assert set(Progress.objects.filter(user=member).values_list("status", flat=True)) == {"not_started"}


def test_course_with_lessons_cannot_be_set_directly(organization, member):
    """update/complete on a course with active lessons: 400 rolled_up; start is allowed."""
    course = ContentItemFactory(organization=organization, kind="course")
    ContentItemFactory(organization=organization, parent=course)
    client = client_for(member)
    for name in ("update", "complete"):
        payload = {"item": course.pk, "percent": 10} if name == "update" else {"item": course.pk}
        response = client.post(action(organization, name), payload, format="json")
        assert response.status_code == 400
        assert response.json()["error"] == {
            "code": "rolled_up",
            "message": f"Progress of item {course.pk} rolls up from its 1 child item(s); record progress on them.",
            "details": {},
        }
    assert not Progress.objects.exists()
    response = client.post(action(organization, "start"), {"item": course.pk}, format="json")
    assert response.json()["status"] == "in_progress"


# --------------------------------------------------------------------------- invalid


@pytest.mark.parametrize(
    ("name", "payload", "message"),
    [
        ("update", {"percent": 101}, "percent: Ensure this value is less than or equal to 100."),
        ("update", {"percent": -1}, "percent: Ensure this value is greater than or equal to 0."),
        ("update", {"percent": "50"}, "percent: A valid number is required."),
        ("update", {"score": 101}, "score: Ensure this value is less than or equal to 100."),
        ("update", {"add_seconds": 5, "time_spent_seconds": 5}, "add_seconds: Give time_spent_seconds (the total)"),
        ("complete", {"add_seconds": -5}, "add_seconds: Ensure this value is greater than or equal to 0."),
        ("start", {"at": "2999-01-01T00:00:00Z"}, "at: Cannot be in the future."),
    ],
)
def test_invalid_values_are_400(organization, member, lesson, name, payload, message):
    """Values out of range: 400 naming the field; nothing written."""
    response = client_for(member).post(action(organization, name), {"item": lesson.pk, **payload}, format="json")
    assert response.status_code == 400, response.content
    assert message in response.json()["error"]["message"]
    assert not Progress.objects.exists()
    assert not Interaction.objects.exists()


def test_item_is_required(organization, member):
    """Neither item nor item_external_id: 400."""
    response = client_for(member).post(action(organization, "start"), {}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Invalid input. item: Give item or item_external_id (one of them)."


def test_invalid_transitions_are_409(organization, member, lesson):
    """start of a completed item and lowering a completed item's percent: 409 invalid_transition, unchanged."""
    client = client_for(member)
    client.post(action(organization, "complete"), {"item": lesson.pk}, format="json")
    before = progress_body(Progress.objects.get())
    response = client.post(action(organization, "start"), {"item": lesson.pk}, format="json")
    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "invalid_transition",
        "message": f"Item {lesson.pk} is already completed; reset it to start over.",
        "details": {},
    }
    response = client.post(action(organization, "update"), {"item": lesson.pk, "percent": 20}, format="json")
    assert response.status_code == 409
    message = f"Item {lesson.pk} is completed; reset it before lowering its percent."
    assert response.json()["error"]["message"] == message
    assert progress_body(Progress.objects.get()) == before
    assert events(member) == ["start", "complete"]


def test_inactive_item_is_400(organization, member):
    """Completing (or starting, updating) an inactive item: 400 item_inactive; reset is fine."""
    item = ContentItemFactory(organization=organization, active=False)
    client = client_for(member)
    for name, verb in (("complete", "completed"), ("start", "started"), ("update", "updated")):
        response = client.post(action(organization, name), {"item": item.pk}, format="json")
        assert response.status_code == 400
        assert response.json()["error"] == {
            "code": "item_inactive",
            "message": f"Item {item.pk} is inactive; its progress cannot be {verb}.",
            "details": {},
        }
    assert not Progress.objects.exists()
    assert client.post(action(organization, "reset"), {"item": item.pk}, format="json").status_code == 200


def test_unknown_or_foreign_item_is_400(organization, member, other_organization):
    """An item id of another organization reads like an unknown one: 400 invalid_reference."""
    theirs = ContentItemFactory(organization=other_organization)
    response = client_for(member).post(action(organization, "start"), {"item": theirs.pk}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == f"item: no content item with id {theirs.pk} in this organization."
    response = client_for(member).post(action(organization, "start"), {"item_external_id": "nope"}, format="json")
    assert response.json()["error"]["message"] == "item: no content item with external_id 'nope' in this organization."
    assert not Progress.objects.exists()


def test_progress_for_a_non_member_is_400(organization, admin_user, lesson, other_organization):
    """An admin writing for a user outside the organization: 400 not_a_member; nothing written."""
    outsider = other_organization.memberships.get().user
    response = client_for(admin_user).post(
        action(organization, "start"), {"item": lesson.pk, "user": outsider.pk}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "not_a_member",
        "message": f"user {outsider.pk} is not a member of this organization.",
        "details": {},
    }
    response = client_for(admin_user).post(
        action(organization, "start"), {"item": lesson.pk, "user_external_id": "ghost"}, format="json"
    )
    assert response.json()["error"]["message"] == "user_external_id 'ghost' is not a member of this organization."
    assert not Progress.objects.exists()


# --------------------------------------------------------------------------- access


def test_members_write_only_their_own(organization, member, lesson):
    """A member naming another member: 403; naming themselves (id or external_id): fine."""
    other = MembershipFactory(organization=organization).user
    Membership.objects.filter(user=member, organization=organization).update(external_id="me")
    client = client_for(member)
    response = client.post(action(organization, "start"), {"item": lesson.pk, "user": other.pk}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["message"] == "Members can only see and record their own progress and interactions."
    assert (
        client.post(action(organization, "start"), {"item": lesson.pk, "user": member.pk}, format="json").status_code
        == 200
    )
    response = client.post(
        action(organization, "update"), {"item": lesson.pk, "user_external_id": "me", "percent": 5}, format="json"
    )
    assert response.status_code == 200
    assert not Progress.objects.filter(user=other).exists()


def test_admins_and_api_keys_write_for_members(organization, admin_user, member, lesson):
    """Admins write on behalf of a member (`user`); API keys must name the user; read-only keys cannot write."""
    response = client_for(admin_user).post(
        action(organization, "start"), {"item": lesson.pk, "user": member.pk}, format="json"
    )
    assert response.json()["user"] == member.pk
    key = api_key_client(organization)
    response = key.post(action(organization, "complete"), {"item": lesson.pk}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == (
        "Invalid input. user: Required with an API key: the user (id or user_external_id)."
    )
    response = key.post(action(organization, "complete"), {"item": lesson.pk, "user": member.pk}, format="json")
    assert response.json()["status"] == "completed"
    read_only = api_key_client(organization, scopes=("read",))
    assert (
        read_only.post(action(organization, "reset"), {"item": lesson.pk, "user": member.pk}, format="json").status_code
        == 403
    )
    assert Progress.objects.get(user=member).status == "completed"


def test_anonymous_and_other_organization(organization, lesson, other_organization):
    """Anonymous 401 on every route; a member of another organization 404."""
    outsider = other_organization.memberships.get().user
    for name in ("start", "update", "complete", "reset"):
        assert APIClient().post(action(organization, name), {"item": lesson.pk}, format="json").status_code == 401
        response = client_for(outsider).post(action(organization, name), {"item": lesson.pk}, format="json")
        assert response.status_code == 404
    for path in ("progress/", "progress/summary/"):
        assert APIClient().get(url(organization, path)).status_code == 401
        assert client_for(outsider).get(url(organization, path)).status_code == 404
    assert not Progress.objects.exists()


# --------------------------------------------------------------------------- list and summary


def test_list_scoping_and_filters(organization, admin_user, member):
    """Members list their own rows (403 for another user); admins everyone's, filtered by user/status/item/parent."""
    other = MembershipFactory(organization=organization).user
    course = ContentItemFactory(organization=organization)
    a = ContentItemFactory(organization=organization, parent=course)
    b = ContentItemFactory(organization=organization)
    mine = ProgressFactory(item=a, user=member, status="in_progress", percent=10, last_activity_at=timezone.now())
    done = ProgressFactory(
        item=b, user=member, status="completed", percent=100, completed_at=timezone.now(),
        last_activity_at=timezone.now() - timedelta(hours=1),
    )  # fmt: skip
    theirs = ProgressFactory(item=a, user=other)
    client = client_for(member)
    body = client.get(url(organization, "progress/")).json()
    assert body["count"] == 2
    assert body["results"] == [progress_body(mine), progress_body(done)]
    assert client.get(url(organization, "progress/"), {"user": other.pk}).status_code == 403
    admin = client_for(admin_user)
    assert admin.get(url(organization, "progress/")).json()["count"] == 3
    cases = [
        ({"user": other.pk}, [theirs]),
        ({"user": member.pk, "status": "completed"}, [done]),
        ({"item": a.pk}, [mine, theirs]),
        ({"parent": course.pk, "user": member.pk}, [mine]),
    ]
    for params, expected in cases:
        ids = sorted(row["id"] for row in admin.get(url(organization, "progress/"), params).json()["results"])
        assert ids == sorted(p.pk for p in expected), params
    response = admin.get(url(organization, "progress/"), {"status": "done"})
    assert response.status_code == 400
    assert 'status: "done" is not a valid choice.' in response.json()["error"]["message"]


def test_summary(organization, member, admin_user):
    """Counts, leaf time spent (a course's rolled-up time not counted twice), streaks in the user's zone."""
    member.timezone = "Asia/Kolkata"  # no DST: whole days stay whole days
    member.save()
    course = ContentItemFactory(organization=organization)
    l1, l2 = (ContentItemFactory(organization=organization, parent=course) for _ in range(2))
    client = client_for(member)
    client.post(action(organization, "complete"), {"item": l1.pk, "add_seconds": 100}, format="json")
    client.post(action(organization, "update"), {"item": l2.pk, "percent": 30, "add_seconds": 50}, format="json")
    now = timezone.now()
    item = ContentItemFactory(organization=organization)
    for days_ago in (1, 2, 4, 5, 6, 7):  # today + 1, 2 = streak 3; 4..7 = a run of 4
        InteractionFactory(item=item, user=member, occurred_at=now - timedelta(days=days_ago))
    last = Interaction.objects.filter(user=member).latest("occurred_at").occurred_at
    expected = {
        "user": member.pk,
        "completed": 1,
        "in_progress": 2,  # l2 and the course
        "time_spent_seconds": 150,
        "streak_days": 3,
        "longest_streak_days": 4,
        "active_days_30": 7,
        "last_activity_at": iso(max(last, Progress.objects.latest("last_activity_at").last_activity_at)),
    }
    response = client.get(url(organization, "progress/summary/"))
    assert response.status_code == 200
    assert response.json() == expected
    assert client_for(admin_user).get(url(organization, "progress/summary/"), {"user": member.pk}).json() == expected
    assert client.get(url(organization, "progress/summary/"), {"user": admin_user.pk}).status_code == 403


def test_list_and_summary_by_external_id(organization, admin_user, member, other_organization):
    """Issue 18: `user_external_id` wherever `user` is accepted on progress, the list and the summary alike (the list
    ignored it and returned everyone's rows, the summary refused API keys with it); both forms 400; unknown ids and
    another organization's 404 (the summary by id too); members may name only themselves."""
    Membership.objects.filter(organization=organization, user=member).update(external_id="crm-7")
    other = MembershipFactory(organization=organization, external_id="crm-8").user
    outsider = MembershipFactory(organization=other_organization, external_id="crm-x").user
    item = ContentItemFactory(organization=organization)
    mine = ProgressFactory(item=item, user=member, status="completed", percent=100, completed_at=timezone.now())
    theirs = ProgressFactory(item=item, user=other)
    key = api_key_client(organization, scopes=("read",))
    for client in (client_for(admin_user), key):
        for external_id, rows, completed in (("crm-7", [mine], 1), ("crm-8", [theirs], 0)):
            listed = client.get(url(organization, "progress/"), {"user_external_id": external_id})
            assert [row["id"] for row in listed.json()["results"]] == [p.pk for p in rows], listed.content
            summary = client.get(url(organization, "progress/summary/"), {"user_external_id": external_id})
            assert summary.status_code == 200, summary.content
            assert (summary.json()["user"], summary.json()["completed"]) == (rows[0].user_id, completed)
        for path in ("progress/", "progress/summary/"):
            both = client.get(url(organization, path), {"user": member.pk, "user_external_id": "crm-7"})
            assert both.status_code == 400, path
            assert both.json()["error"]["message"] == "Invalid input. user: Give user or user_external_id, not both."
            for unknown in ("nobody", "crm-x"):
                response = client.get(url(organization, path), {"user_external_id": unknown})
                assert response.status_code == 404, (path, unknown)
                assert response.json()["error"]["message"] == "User not found."
        # The summary by id: the same 404 (it was 400 `not_a_member`); a list's filter by id matches no rows.
        for unknown in (outsider.pk, 10**9):
            response = client.get(url(organization, "progress/summary/"), {"user": unknown})
            assert response.status_code == 404, unknown
            assert response.json()["error"]["message"] == "User not found."
            assert client.get(url(organization, "progress/"), {"user": unknown}).json()["results"] == []
    own = client_for(member)
    assert own.get(url(organization, "progress/summary/"), {"user_external_id": "crm-7"}).json()["user"] == member.pk
    assert own.get(url(organization, "progress/"), {"user_external_id": "crm-8"}).status_code == 403
    assert own.get(url(organization, "progress/summary/"), {"user_external_id": "crm-8"}).status_code == 403


def test_summary_of_an_idle_user(organization, member):
    """No activity: zeros and null; a streak that ended two days ago is 0."""
    InteractionFactory(
        item=ContentItemFactory(organization=organization), user=member, occurred_at=timezone.now() - timedelta(days=3)
    )
    body = client_for(member).get(url(organization, "progress/summary/")).json()
    assert (body["completed"], body["in_progress"], body["time_spent_seconds"]) == (0, 0, 0)
    assert (body["streak_days"], body["longest_streak_days"], body["active_days_30"]) == (0, 1, 1)


def test_role_is_member_fixture(organization, member):
    """(guard) the member fixture really is a plain member."""
    assert Membership.objects.get(user=member, organization=organization).role == Role.MEMBER


def test_list_query_counts_do_not_grow(organization, admin_user, member):
    """Progress and interaction lists: 2 or 20 rows cost the same number of queries."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = client_for(admin_user)

    def queries(path: str) -> int:
        with CaptureQueriesContext(connection) as context:
            assert client.get(url(organization, path), {"page_size": 100}).status_code == 200
        return len(context.captured_queries)

    def add(n: int) -> None:
        for _ in range(n):
            item = ContentItemFactory(organization=organization)
            ProgressFactory(item=item, user=member)
            InteractionFactory(item=item, user=member)

    add(2)
    few = (queries("progress/"), queries("interactions/"))
    add(18)
    assert (queries("progress/"), queries("interactions/")) == few


def _plan_nodes(node):
    yield node
    for child in node.get("Plans", []):
        yield from _plan_nodes(child)


def test_list_pages_read_the_order_index_without_joins(organization, admin_user, member, other_organization):
    """Customer-size drill (200,000 rows): the list's page query reads progress alone, in the order of the
    `progress_org_last_activity` index, with no sort of the organization's rows and no join (PostgreSQL joins before
    OFFSET, so a joined deep page looked up the user and item of every skipped row); users and items come by
    prefetch, a constant number of queries. EXPLAIN with sorts and sequential scans discouraged proves an index
    gives the order (the planner picks a sort over a few test rows otherwise)."""
    import json

    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    items = [ContentItemFactory(organization=organization) for _ in range(3)]
    now = timezone.now()
    rows = [
        ProgressFactory(item=item, user=member, last_activity_at=now - timedelta(hours=n))
        for n, item in enumerate(items)
    ]
    ProgressFactory(item=ContentItemFactory(organization=other_organization), user=member)
    with CaptureQueriesContext(connection) as queries:
        response = client_for(admin_user).get(url(organization, "progress/"), {"page_size": 2, "page": 1})
    assert response.status_code == 200, response.content
    assert [row["id"] for row in response.json()["results"]] == [rows[0].pk, rows[1].pk]
    assert response.json()["results"][0] == progress_body(rows[0])
    page = [q["sql"] for q in queries.captured_queries if q["sql"].startswith('SELECT "progress_progress"."id"')]
    assert len(page) == 1 and "JOIN" not in page[0] and "LIMIT 2" in page[0], page
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_sort = off; SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN (FORMAT JSON) " + page[0])
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    nodes = list(_plan_nodes(plan[0]["Plan"]))
    assert not [node for node in nodes if node["Node Type"] in ("Sort", "Incremental Sort")], nodes
    assert [node.get("Index Name") for node in nodes if node.get("Relation Name")] == ["progress_org_last_activity"]
