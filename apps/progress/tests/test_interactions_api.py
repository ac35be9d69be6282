"""Interactions API: /api/v1/orgs/{org}/interactions/ (list, record one) and interactions/batch/.

Coverage:
- single: 201 with the whole body and the stored row, default weight by kind, users and items by external id;
  the same idempotency_key again -> 200 with the stored event, still one row;
- batch: whole response, stored rows (users and items by id or external id), default user for members;
  idempotency: the same batch twice stores once and reports every row as duplicate; a repeated key within a
  batch is a duplicate; the number of queries does not grow with the batch size, nor the number of Redis round
  trips with the users it names (drill C), each user's cached recommendations still made stale;
- every invalid row is rejected with its reason while the good rows are stored: missing key, unknown kind,
  unknown field, bool or 0 as an id, both item and item_external_id, unknown item / another organization's item,
  non-member user, member naming another user, rate without value, weight out of range,
  occurred_at without a zone / malformed / in the future, negative purchase;
- envelope errors: events missing / not a list / with a non-object row / empty / over
  INTERACTION_BATCH_MAX_EVENTS -> 400;
- single invalid input -> 400 naming the field, nothing stored;
- list: members see their own; admins filter by user, item, kind (several), date range; bad dates 400;
  by user_external_id / item_external_id (issue 18): both forms at once 400, unknown 404, members only their own;
- access: anonymous 401, other organization 404, read-only key cannot write, write key must name the user.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from apps.organizations.models import Membership
from apps.organizations.tests.factories import MembershipFactory
from apps.progress.models import Interaction
from apps.progress.tests.factories import ContentItemFactory, InteractionFactory
from apps.progress.tests.utils import api_key_client, interaction_body, iso, url
from conftest import client_for

pytestmark = pytest.mark.django_db


def list_url(organization) -> str:
    return url(organization, "interactions/")


def batch_url(organization) -> str:
    return url(organization, "interactions/batch/")


@pytest.fixture
def item(organization):
    return ContentItemFactory(organization=organization, external_id="sku-1")


# --------------------------------------------------------------------------- single


def test_record_one(organization, member, item):
    """201 with the whole body; default weight of the kind; occurred_at defaults to now."""
    response = client_for(member).post(list_url(organization), {"kind": "like", "item": item.pk}, format="json")
    assert response.status_code == 201, response.content
    interaction = Interaction.objects.get()
    assert response.json() == interaction_body(interaction)
    assert (interaction.user, interaction.item, interaction.kind, interaction.weight) == (member, item, "like", 3.0)
    assert interaction.organization == organization


def test_record_one_is_idempotent(organization, admin_user, member, item):
    """The same idempotency_key twice: 201 then 200 with the stored event; one row."""
    Membership.objects.filter(user=member).update(external_id="crm-7")
    payload = {
        "kind": "rate",
        "item_external_id": "sku-1",
        "user_external_id": "crm-7",
        "value": 4.5,
        "weight": 2.5,
        "occurred_at": "2026-01-02T03:04:05Z",
        "idempotency_key": "evt-1",
    }
    client = client_for(admin_user)
    first = client.post(list_url(organization), payload, format="json")
    assert first.status_code == 201
    second = client.post(list_url(organization), {**payload, "value": 1}, format="json")
    assert second.status_code == 200
    assert second.json() == first.json()
    interaction = Interaction.objects.get()
    assert (interaction.user, interaction.value, interaction.weight) == (member, 4.5, 2.5)
    assert interaction.occurred_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"kind": "clap"}, 'kind: "clap" is not a valid choice.'),
        ({"kind": "rate"}, "value: a 'rate' event needs a value from 0 to 5."),
        ({"kind": "rate", "value": 6}, "value: a 'rate' event needs a value from 0 to 5."),
        ({"kind": "purchase", "value": -3}, "value: a purchase amount cannot be negative."),
        ({"kind": "view", "weight": 1000}, "weight: Ensure this value is less than or equal to 100."),
        ({"kind": "view", "occurred_at": "2999-01-01T00:00:00Z"}, "occurred_at: Cannot be in the future."),
        ({"kind": "view", "idempotency_key": ""}, "idempotency_key: This field may not be blank."),
        # read as UTC before, where the batch refused it (the docs ask for a time zone)
        ({"kind": "view", "occurred_at": "2026-01-01T00:00:00"}, "occurred_at: Include a time zone"),
    ],
)
def test_record_one_invalid(organization, member, item, payload, message):
    """Invalid single events: 400 naming the problem, the field in the details too; nothing stored."""
    response = client_for(member).post(list_url(organization), {"item": item.pk, **payload}, format="json")
    assert response.status_code == 400, response.content
    assert message in response.json()["error"]["message"]
    assert message.split(":")[0] in response.json()["error"]["details"], response.json()
    assert not Interaction.objects.exists()


def test_record_one_access(organization, member, item, other_organization):
    """Member for another member 403; non-member user 400; anonymous 401; other organization 404."""
    other = MembershipFactory(organization=organization).user
    outsider = other_organization.memberships.get().user
    payload = {"kind": "view", "item": item.pk}
    response = client_for(member).post(list_url(organization), {**payload, "user": other.pk}, format="json")
    assert response.status_code == 403
    response = api_key_client(organization).post(
        list_url(organization), {**payload, "user": outsider.pk}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "not_a_member"
    assert APIClient().post(list_url(organization), payload, format="json").status_code == 401
    assert client_for(outsider).post(list_url(organization), payload, format="json").status_code == 404
    read_only = api_key_client(organization, scopes=("read",))
    assert read_only.post(list_url(organization), {**payload, "user": member.pk}, format="json").status_code == 403
    assert not Interaction.objects.exists()


# --------------------------------------------------------------------------- batch


def test_batch_stores_events(organization, admin_user, member, item):
    """Whole response; rows stored with users and items by id or external id, weights and values."""
    Membership.objects.filter(user=member).update(external_id="crm-7")
    other_item = ContentItemFactory(organization=organization)
    events = [
        {
            "idempotency_key": "k1",
            "kind": "view",
            "item": item.pk,
            "user": member.pk,
            "occurred_at": "2026-03-01T10:00:00Z",
        },
        {
            "idempotency_key": "k2",
            "kind": "purchase",
            "item_external_id": "sku-1",
            "user_external_id": "crm-7",
            "value": 19.9,
        },
        {"idempotency_key": "k3", "kind": "dismiss", "item": other_item.pk, "user": admin_user.pk, "weight": -5},
    ]
    response = client_for(admin_user).post(batch_url(organization), {"events": events}, format="json")
    assert response.status_code == 200, response.content
    assert response.json() == {"received": 3, "created": 3, "duplicates": 0, "rejected": 0, "results": []}
    rows = {i.idempotency_key: i for i in Interaction.objects.filter(organization=organization)}
    assert (rows["k1"].user, rows["k1"].item, rows["k1"].weight) == (member, item, 1.0)
    assert rows["k1"].occurred_at == datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert (rows["k2"].user, rows["k2"].item, rows["k2"].kind, rows["k2"].value) == (member, item, "purchase", 19.9)
    assert (rows["k3"].user, rows["k3"].weight) == (admin_user, -5.0)


def test_batch_twice_counts_once(organization, admin_user, member, item):
    """The same batch again: nothing stored twice, every row reported as duplicate."""
    events = [{"idempotency_key": f"e{i}", "kind": "view", "item": item.pk, "user": member.pk} for i in range(5)]
    client = client_for(admin_user)
    assert client.post(batch_url(organization), {"events": events}, format="json").json()["created"] == 5
    body = client.post(batch_url(organization), {"events": events}, format="json").json()
    assert (body["created"], body["duplicates"], body["rejected"]) == (0, 5, 0)
    assert body["results"][0] == {
        "index": 0,
        "idempotency_key": "e0",
        "status": "duplicate",
        "reason": "already recorded (same idempotency_key).",
    }
    assert Interaction.objects.count() == 5


def test_a_key_used_again_for_another_event_is_refused(organization, admin_user, member, item):
    """An idempotency_key sent again with another event (another kind, item or person) is not a retry: a single
    write is a 409 `idempotency_conflict` naming what the key recorded, a batch row is rejected with that reason;
    the same event again (other value or time included) is still the stored one. Before, the second event was
    answered 200 with the first and silently lost."""
    other = ContentItemFactory(organization=organization)
    client = client_for(admin_user)
    first = {"idempotency_key": "k1", "kind": "view", "item": item.pk, "user": member.pk}
    assert client.post(list_url(organization), first, format="json").status_code == 201

    for changed in ({"kind": "like"}, {"item": other.pk}, {"user": admin_user.pk}):
        response = client.post(list_url(organization), {**first, **changed}, format="json")
        assert response.status_code == 409, response.content
        error = response.json()["error"]
        assert error["code"] == "idempotency_conflict"
        assert f"view of item {item.pk} by user {member.pk}" in error["message"]
    assert client.post(list_url(organization), {**first, "weight": 3}, format="json").status_code == 200

    batch = [first, {**first, "idempotency_key": "k2"}, {**first, "kind": "like"}]
    client.post(batch_url(organization), {"events": [batch[0], batch[1]]}, format="json")
    body = client.post(batch_url(organization), {"events": [batch[0], {**batch[2], "idempotency_key": "k2"}]},
                       format="json").json()  # fmt: skip
    assert (body["created"], body["duplicates"], body["rejected"]) == (0, 1, 1)
    assert body["results"][1]["status"] == "rejected"
    assert body["results"][1]["reason"].startswith("idempotency_key 'k2' was already used for another event (view")
    inside = [{**first, "idempotency_key": "k3"}, {**first, "idempotency_key": "k3", "kind": "purchase"}]
    body = client.post(batch_url(organization), {"events": inside}, format="json").json()
    assert (body["created"], body["rejected"]) == (1, 1)  # the second was a silent "duplicate" of the first
    assert (
        body["results"][0]["reason"] == "idempotency_key 'k3' is used by row 0 for another event; a new event "
        "needs a new key."
    )
    assert Interaction.objects.count() == 3


def test_repeated_key_within_a_batch(organization, member, item):
    """A key repeated inside one batch is stored once; members default to themselves."""
    events = [{"idempotency_key": "same", "kind": "view", "item": item.pk}] * 2
    body = client_for(member).post(batch_url(organization), {"events": events}, format="json").json()
    assert body["created"] == 1
    assert body["results"] == [
        {"index": 1, "idempotency_key": "same", "status": "duplicate", "reason": "same idempotency_key as row 0."}
    ]
    assert Interaction.objects.get().user == member


def test_bad_rows_are_rejected_and_good_ones_stored(organization, admin_user, member, item, other_organization):
    """Each invalid row is rejected with its reason; the valid rows are stored."""
    theirs = ContentItemFactory(organization=other_organization, external_id="theirs")
    outsider = other_organization.memberships.get().user
    future = (timezone.now() + timedelta(days=1)).isoformat()
    good = {"kind": "view", "item": item.pk, "user": member.pk}
    events = [
        {**good, "idempotency_key": "ok-1"},
        {**good},
        {**good, "idempotency_key": "a", "kind": "clap"},
        {**good, "idempotency_key": "q", "item": 0},
        {**good, "idempotency_key": "b", "extra": 1},
        {**good, "idempotency_key": "c", "item": True},
        {**good, "idempotency_key": "d", "item_external_id": "sku-1"},
        {**good, "idempotency_key": "e", "item": theirs.pk},
        {**good, "idempotency_key": "f", "item": None, "item_external_id": "theirs"},
        {**good, "idempotency_key": "g", "user": outsider.pk},
        {**good, "idempotency_key": "h", "kind": "rate"},
        {**good, "idempotency_key": "i", "weight": 101},
        {**good, "idempotency_key": "j", "occurred_at": "2026-01-01T10:00:00"},
        {**good, "idempotency_key": "k", "occurred_at": "yesterday"},
        {**good, "idempotency_key": "l", "occurred_at": future},
        {**good, "idempotency_key": "m", "kind": "purchase", "value": -1},
        {**good, "idempotency_key": "n", "value": "5"},
        {**good, "idempotency_key": "o", "user": None},  # an admin's own event by default
        {**good, "idempotency_key": "x" * 201},
        {**good, "idempotency_key": "ok-2", "kind": ["view"]},
        {**good, "idempotency_key": "ok-3", "kind": "save"},
        {**good, "idempotency_key": 12345},
    ]
    response = client_for(admin_user).post(batch_url(organization), {"events": events}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    reasons = {row["index"]: row["reason"] for row in body["results"]}
    assert reasons == {
        1: "idempotency_key: required, a non-empty string of at most 200 characters, without NUL.",
        2: "kind: must be one of view, start, complete, like, save, share, purchase, rate, dismiss.",
        3: "item: must be a positive integer id.",
        4: "unknown field(s): extra.",
        5: "item: must be a positive integer id.",
        6: "give item or item_external_id, not both.",
        7: f"item {theirs.pk} matches no content item of this organization.",
        8: "item_external_id 'theirs' matches no content item of this organization.",
        9: f"user {outsider.pk} is not a member of this organization.",
        10: "value: a 'rate' event needs a value from 0 to 5.",
        11: "weight: must be a number from -100 to 100.",
        12: "occurred_at: include a time zone (e.g. a trailing Z for UTC).",
        13: "occurred_at: must be an ISO 8601 date-time, e.g. 2026-01-31T12:00:00Z.",
        14: "occurred_at: cannot be in the future.",
        15: "value: a purchase amount cannot be negative.",
        16: "value: must be a number or null.",
        18: "idempotency_key: must be a non-empty string of at most 200 characters, without NUL.",
        21: "idempotency_key: must be a non-empty string of at most 200 characters, without NUL (given a number: "
        "quote it).",
        19: "kind: must be one of view, start, complete, like, save, share, purchase, rate, dismiss.",
    }
    assert all(row["status"] == "rejected" for row in body["results"])
    assert (body["received"], body["created"], body["rejected"]) == (22, 3, 19)
    stored = dict(Interaction.objects.values_list("idempotency_key", "user_id"))
    assert stored == {"ok-1": member.pk, "o": admin_user.pk, "ok-3": member.pk}


def test_member_batch_cannot_name_another_user(organization, member, item):
    """Members' rows naming someone else are rejected; their own rows are stored."""
    other = MembershipFactory(organization=organization).user
    events = [
        {"idempotency_key": "mine", "kind": "view", "item": item.pk},
        {"idempotency_key": "theirs", "kind": "view", "item": item.pk, "user": other.pk},
    ]
    body = client_for(member).post(batch_url(organization), {"events": events}, format="json").json()
    assert body["results"] == [
        {
            "index": 1,
            "idempotency_key": "theirs",
            "status": "rejected",
            "reason": "user: members record only their own events.",
        }
    ]
    assert list(Interaction.objects.values_list("user_id", flat=True)) == [member.pk]


def test_api_key_batch_needs_users(organization, member, item):
    """An API key has no user of its own: rows without user are rejected; with one they are stored."""
    events = [
        {"idempotency_key": "1", "kind": "view", "item": item.pk},
        {"idempotency_key": "2", "kind": "view", "item": item.pk, "user": member.pk},
    ]
    body = api_key_client(organization).post(batch_url(organization), {"events": events}, format="json").json()
    assert body["created"] == 1
    assert body["results"][0]["reason"] == "user or user_external_id is required."


def view_events(n: int, prefix: str, *, users: int | None = None) -> list[dict]:
    """`n` view events of item sku-1 by members u0, u1, ... (cycling through `users` of them when given)."""
    return [
        {
            "idempotency_key": f"{prefix}{i}",
            "kind": "view",
            "item_external_id": "sku-1",
            "user_external_id": f"u{i % users if users else i}",
        }
        for i in range(n)
    ]


def test_batch_query_count_is_constant(organization, admin_user, item):
    """10 or 500 events: the same number of queries (users, items and rows in bulk)."""
    users = [MembershipFactory(organization=organization, external_id=f"u{i}").user for i in range(5)]
    client = client_for(admin_user)

    def queries(n: int, prefix: str) -> int:
        events = view_events(n, prefix, users=5)
        with CaptureQueriesContext(connection) as context:
            assert client.post(batch_url(organization), {"events": events}, format="json").json()["created"] == n
        return len(context.captured_queries)

    assert queries(10, "a") == queries(500, "b")
    assert Interaction.objects.filter(user=users[0]).count() == 102


def test_batch_redis_round_trips_do_not_grow_with_its_users(
    organization, admin_user, item, settings, redis_round_trips, django_capture_on_commit_callbacks
):
    """Drill C: a batch's Redis round trips after commit grew with the users it names (two per user to make their
    cached recommendation lists stale: 8,800 for a 5,000-event batch of 4,400 users, 0.55-1.0 s of the
    request). Now 25 or 75 users cost the same round trips, and every named user's version still moves."""
    settings.GRAPH_SYNC_KICK_DEBOUNCE_SECONDS = 3600  # one graph kick, by the first batch: the same for the others
    users = [MembershipFactory(organization=organization, external_id=f"u{i}").user for i in range(75)]
    client = client_for(admin_user)

    def versions() -> list:
        return [cache.get(f"rec:v:u:{organization.pk}:{user.pk}") for user in users]

    def round_trips(n: int, prefix: str) -> int:
        events = view_events(n, prefix)
        before = redis_round_trips()
        with django_capture_on_commit_callbacks(execute=True):
            assert client.post(batch_url(organization), {"events": events}, format="json").json()["created"] == n
        return redis_round_trips() - before

    round_trips(25, "warm")  # the first of everything: connections, the graph kick, scripts loaded
    known = versions()
    assert known[25:] == [None] * 50
    few = round_trips(25, "a")
    assert versions()[:25] == [version + 1 for version in known[:25]]
    assert round_trips(75, "b") == few
    assert None not in versions()


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({}, "events: Required: a list of events."),
        ({"events": {"a": 1}}, "events: Required: a list of events."),
        ({"events": []}, "events: Send from 1 to 5000 events per request (got 0)."),
        ([1, 2], "events: Required: a list of events."),
        ({"events": [{}, "x", 3]}, "events: Every event must be a JSON object (not rows 1, 2)."),
    ],
)
def test_bad_batch_envelope_is_400(organization, member, payload, message):
    """Missing, non-list or empty `events`: 400 naming it."""
    response = client_for(member).post(batch_url(organization), payload, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == f"Invalid input. {message}"


def test_batch_over_the_limit_is_400(organization, member, item, settings):
    """More than INTERACTION_BATCH_MAX_EVENTS: 400, nothing stored."""
    settings.INTERACTION_BATCH_MAX_EVENTS = 3
    events = [{"idempotency_key": str(i), "kind": "view", "item": item.pk} for i in range(4)]
    response = client_for(member).post(batch_url(organization), {"events": events}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Invalid input. events: Send from 1 to 3 events per request (got 4)."
    assert not Interaction.objects.exists()


def test_batch_access(organization, item, other_organization):
    """Anonymous 401; other organization 404; read-only key 403."""
    events = [{"idempotency_key": "1", "kind": "view", "item": item.pk}]
    assert APIClient().post(batch_url(organization), {"events": events}, format="json").status_code == 401
    outsider = other_organization.memberships.get().user
    assert client_for(outsider).post(batch_url(organization), {"events": events}, format="json").status_code == 404
    read_only = api_key_client(organization, scopes=("read",))
    assert read_only.post(batch_url(organization), {"events": events}, format="json").status_code == 403
    assert not Interaction.objects.exists()


# --------------------------------------------------------------------------- list


def test_list_scoping_and_filters(organization, admin_user, member, item, other_organization):
    """Members see their own; admins filter by user, item, kinds and days; other organizations never show."""
    other = MembershipFactory(organization=organization).user
    second = ContentItemFactory(organization=organization)
    day = datetime(2026, 5, 10, 12, tzinfo=UTC)
    mine_view = InteractionFactory(item=item, user=member, kind="view", occurred_at=day)
    mine_like = InteractionFactory(item=second, user=member, kind="like", occurred_at=day + timedelta(days=1))
    theirs = InteractionFactory(item=item, user=other, kind="complete", occurred_at=day + timedelta(days=2))
    InteractionFactory(item=ContentItemFactory(organization=other_organization))
    body = client_for(member).get(list_url(organization)).json()
    assert body["count"] == 2
    assert body["results"] == [interaction_body(mine_like), interaction_body(mine_view)]
    assert client_for(member).get(list_url(organization), {"user": other.pk}).status_code == 403
    admin = client_for(admin_user)
    cases = [
        ({}, [theirs, mine_like, mine_view]),
        ({"user": other.pk}, [theirs]),
        ({"item": item.pk}, [theirs, mine_view]),
        ({"kind": "view,like"}, [mine_like, mine_view]),
        ({"date_from": "2026-05-11"}, [theirs, mine_like]),
        ({"date_from": "2026-05-10", "date_to": "2026-05-11"}, [mine_like, mine_view]),
        ({"date_to": "2026-05-09"}, []),
    ]
    for params, expected in cases:
        got = [row["id"] for row in admin.get(list_url(organization), params).json()["results"]]
        assert got == [i.pk for i in expected], params
    response = admin.get(list_url(organization), {"date_from": "2026-05-12", "date_to": "2026-05-11"})
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Invalid input. date_to: Must not be before date_from."
    assert admin.get(list_url(organization), {"date_from": "May 1"}).status_code == 400
    assert admin.get(list_url(organization), {"kind": "clap"}).status_code == 400
    assert iso(mine_view.occurred_at) == "2026-05-10T12:00:00Z"


def test_list_walks_by_cursor_through_ties_without_count_or_offset(organization, admin_user, member, item):
    """Millions of events are read by cursor: each page's next_cursor gives the rows after it, newest first by
    (occurred_at, id), events at the same instant included once; no COUNT and no OFFSET on a cursor page; the
    filters still apply; page and cursor together, or a cursor this list did not give, are 400."""
    other = MembershipFactory(organization=organization).user
    moment = datetime(2026, 5, 10, 12, tzinfo=UTC)
    events = [
        InteractionFactory(item=item, user=user, kind="view", occurred_at=moment - timedelta(minutes=minutes))
        for minutes, user in [(0, member), (0, other), (0, member), (5, member), (9, other), (9, member), (20, member)]
    ]
    expected = [e.pk for e in sorted(events, key=lambda e: (e.occurred_at, e.pk), reverse=True)]
    admin = client_for(admin_user)
    first = admin.get(list_url(organization), {"page_size": 3}).json()
    assert (first["count"], [row["id"] for row in first["results"]]) == (7, expected[:3])
    seen, cursor = [row["id"] for row in first["results"]], first["next_cursor"]
    while cursor:
        with CaptureQueriesContext(connection) as queries:
            page = admin.get(list_url(organization), {"page_size": 3, "cursor": cursor})
        assert page.status_code == 200, page.content
        body = page.json()
        assert body["count"] is None and body["previous"] is None
        assert not any("COUNT(" in q["sql"] or "OFFSET" in q["sql"] for q in queries.captured_queries)
        seen += [row["id"] for row in body["results"]]
        cursor = body["next_cursor"]
        assert (body["next"] is None) == (cursor is None)
    assert seen == expected
    mine = client_for(member).get(list_url(organization), {"page_size": 2}).json()
    theirs = [e.pk for e in events if e.user_id == other.pk]
    rest = client_for(member).get(list_url(organization), {"page_size": 50, "cursor": mine["next_cursor"]}).json()
    assert [row["id"] for row in mine["results"] + rest["results"]] == [pk for pk in expected if pk not in theirs]
    by_user = admin.get(list_url(organization), {"user": other.pk, "cursor": first["next_cursor"]}).json()
    assert {row["user"] for row in by_user["results"]} == {other.pk}
    both = admin.get(list_url(organization), {"page": 2, "cursor": first["next_cursor"]})
    assert both.status_code == 400
    assert both.json()["error"]["message"] == "Invalid input. cursor: Give page or cursor, not both."
    for bad in (
        "nonsense",
        "W10",
        "WyIyMDI2LTA1LTEwIiwgMV0",
        "WyIyMDI2LTA1LTEwVDEyOjAwOjAwKzAwOjAwIiw5OTk5OTk5OTk5OTk5OTk5OTk5XQ",
    ):
        response = admin.get(list_url(organization), {"cursor": bad})
        assert response.status_code == 400, bad
        assert "Not a cursor of this list" in response.json()["error"]["message"]
    # An offset Python reads and PostgreSQL does not (past 15:59) is read in UTC (it was a 500); a year 1 that UTC
    # moves out of range is a 400.
    for moment, pk, expected in [
        ("2026-05-10T12:00:00+23:59", events[0].pk, 200),
        ("0001-01-01T00:00:00+14:00", 1, 400),
    ]:
        raw = json.dumps([moment, pk]).encode()
        response = admin.get(list_url(organization), {"cursor": base64.urlsafe_b64encode(raw).decode()})
        assert response.status_code == expected, response.content
    last = admin.get(list_url(organization), {"page_size": 7}).json()
    assert last["next_cursor"] is None


def test_list_by_external_ids(organization, admin_user, member, item, other_organization):
    """Issue 18: history addressable by the membership's and the catalog's external ids; both forms of one
    filter 400; unknown ids (and another organization's) 404; members may name only themselves."""
    Membership.objects.filter(organization=organization, user=member).update(external_id="crm-7")
    other = MembershipFactory(organization=organization, external_id="crm-8").user
    second = ContentItemFactory(organization=organization, external_id="sku-2")
    mine = InteractionFactory(item=item, user=member, kind="view")
    mine_second = InteractionFactory(item=second, user=member, kind="like")
    theirs = InteractionFactory(item=second, user=other, kind="like")
    outsider_item = ContentItemFactory(organization=other_organization, external_id="sku-x")
    MembershipFactory(organization=other_organization, external_id="crm-x")
    admin = client_for(admin_user)
    cases = [
        ({"user_external_id": "crm-7"}, [mine_second, mine]),
        ({"user_external_id": "crm-8"}, [theirs]),
        ({"item_external_id": "sku-2"}, [theirs, mine_second]),
        ({"user_external_id": "crm-7", "item_external_id": item.external_id}, [mine]),
    ]
    for params, expected in cases:
        response = admin.get(list_url(organization), params)
        assert response.status_code == 200, (params, response.content)
        assert response.json()["results"] == [interaction_body(i) for i in expected], params
    both = admin.get(list_url(organization), {"user": member.pk, "user_external_id": "crm-7"})
    assert both.status_code == 400
    assert both.json()["error"]["message"] == "Invalid input. user: Give user or user_external_id, not both."
    assert admin.get(list_url(organization), {"item": item.pk, "item_external_id": "sku-2"}).status_code == 400
    for params, message in [
        ({"user_external_id": "nobody"}, "User not found."),
        ({"user_external_id": "crm-x"}, "User not found."),
        ({"item_external_id": "nothing"}, "Content item not found."),
        ({"item_external_id": outsider_item.external_id}, "Content item not found."),
    ]:
        response = admin.get(list_url(organization), params)
        assert response.status_code == 404, params
        assert response.json()["error"]["message"] == message
    own = client_for(member).get(list_url(organization), {"user_external_id": "crm-7"})
    assert [row["id"] for row in own.json()["results"]] == [mine_second.pk, mine.pk]
    assert client_for(member).get(list_url(organization), {"user_external_id": "crm-8"}).status_code == 403
    key = api_key_client(organization, scopes=("read",)).get(list_url(organization), {"user_external_id": "crm-8"})
    assert [row["id"] for row in key.json()["results"]] == [theirs.pk]


def test_nul_characters_refuse_the_batch(organization, admin_user, member, item):
    """A NUL in a key or an external id is a 400 naming each field, nothing stored (issue 13: one
    check of every string in the parser, apps.core.parsers; a NUL is broken text, like malformed
    JSON, not a row breaking a rule, so the whole request is refused)."""
    events = [
        {"idempotency_key": "ok-1", "kind": "view", "item": item.pk, "user": member.pk},
        {"idempotency_key": "bad\x00key", "kind": "view", "item": item.pk, "user": member.pk},
        {"idempotency_key": "ok-2", "kind": "view", "item_external_id": "x\x00y", "user": member.pk},
        {"idempotency_key": "ok-3", "kind": "view", "item": item.pk, "user_external_id": "\x00"},
    ]
    response = client_for(admin_user).post(batch_url(organization), {"events": events}, format="json")
    assert response.status_code == 400, response.content
    nul = "NUL characters (U+0000) are not allowed in text."
    assert response.json()["error"]["details"] == {
        "events": {
            "1": {"idempotency_key": [nul]},
            "2": {"item_external_id": [nul]},
            "3": {"user_external_id": [nul]},
        }
    }
    assert not Interaction.objects.filter(organization=organization).exists()


def test_list_up_to_the_last_representable_day(organization, admin_user, member, item):
    """date_to=9999-12-31 means "no end": 200, not an overflow."""
    InteractionFactory(organization=organization, user=member, item=item)
    response = client_for(admin_user).get(list_url(organization), {"date_to": "9999-12-31"})
    assert response.status_code == 200, response.content
    assert response.json()["count"] == 1


def test_nul_in_a_list_filter_is_400(organization, member):
    """A NUL inside a comma list (?tags=) is a 400 naming the parameter."""
    response = client_for(member).get(url(organization, "content/"), {"tags": "a,\x00"})
    assert response.status_code == 400
    assert "tags" in response.json()["error"]["message"]


def test_list_statements_read_the_interactions_alone(organization, admin_user, member, item):
    """Customer-size drill (a million events): the list's COUNT(*) and page statements read progress_interaction
    only; the page's items (for `item_external_id`) come in one more query by primary key. A join to the catalog
    stayed in the COUNT (it doubled it), and a per-row lookup in the page statement ran for every row an OFFSET
    skips (page 5,000: 1.8 s joined, 4.5 s as a subquery). Two or twenty rows: the same statements."""
    other = ContentItemFactory(organization=organization, external_id=None)
    newest = InteractionFactory(item=item, user=member, occurred_at=timezone.now())
    older = InteractionFactory(item=other, user=member, occurred_at=timezone.now() - timedelta(hours=1))
    client = client_for(admin_user)

    def listed(params: dict):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(list_url(organization), params)
        assert response.status_code == 200, response.content
        return response.json(), [q["sql"] for q in queries.captured_queries]

    body, statements = listed({"kind": "view,like,start,complete", "page_size": 1, "page": 2})
    assert body["count"] == 2
    assert body["results"] == [interaction_body(older)]
    assert body["results"][0]["item_external_id"] is None
    on_interactions = [sql for sql in statements if 'FROM "progress_interaction"' in sql]
    assert len(on_interactions) == 2, statements  # COUNT, then the page
    assert "COUNT(" in on_interactions[0] and "OFFSET 1" in on_interactions[1]
    for sql in on_interactions:
        assert "JOIN" not in sql and "progress_contentitem" not in sql, sql
    body, _ = listed({})
    assert body["results"] == [interaction_body(newest), interaction_body(older)]
    assert [row["item_external_id"] for row in body["results"]] == ["sku-1", None]
    for _ in range(18):
        InteractionFactory(item=ContentItemFactory(organization=organization), user=member)
    assert len(listed({})[1]) == len(listed({"page_size": 1})[1])
