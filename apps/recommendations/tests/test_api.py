"""Recommendations API through routing, authentication and tenancy (issue 7).

Covers: GET recommendations (whole body shape, logs written, filters, pagination), the access
matrix (member for self / for others 403, admin for anyone, API key with and without `user`,
users outside the organization 404, anonymous 401), bad parameters 400, feedback (clicked,
dismissed -> dismiss interaction, never recommended again; members only on their own rows; other
organization 404), similar content and similar users (admins), other organization -> 404.
"""

import pytest
from rest_framework.test import APIClient

from apps.organizations.models import Role
from apps.organizations.tests.factories import MembershipFactory, OrganizationFactory, api_key_for
from apps.progress.models import Interaction, InteractionKind
from apps.progress.tests.factories import ContentItemFactory
from apps.recommendations.models import RecommendationLog
from apps.recommendations.services import recommender_train
from apps.recommendations.tests.rec_utils import COOKING, DATA, build_world
from conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(organization, owner, admin_user):
    built = build_world(organization)
    recommender_train(organization_id=organization.pk)
    return {**built, "organization": organization, "owner": owner, "admin": admin_user}


def url(organization, path="recommendations/"):
    return f"/api/v1/orgs/{organization.slug}/{path}"


def key_client(organization) -> APIClient:
    _, raw = api_key_for(organization)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return client


def test_member_gets_own_recommendations(world):
    """200 with the documented body; each item logged with request id, position, source and reason."""
    organization, user = world["organization"], world["data_fans"][0]
    response = client_for(user).get(url(organization), {"limit": 3})
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"request_id", "user", "model_version", "cached", "total", "offset", "limit", "results"}
    assert body["user"] == user.pk and body["model_version"] == 1 and body["cached"] is False
    assert body["offset"] == 0 and body["limit"] == 3 and len(body["results"]) == 3
    first = body["results"][0]
    assert set(first) == {"log_id", "position", "item", "score", "source", "reason", "sources"}
    assert set(first["item"]) == {"id", "external_id", "title", "kind", "url", "tags", "categories", "difficulty"}
    assert [entry["position"] for entry in body["results"]] == [1, 2, 3]
    logs = RecommendationLog.objects.filter(organization=organization, user=user).order_by("position")
    assert [(log.pk, log.item_id, log.position, log.source, log.reason, str(log.request_id)) for log in logs] == [
        (e["log_id"], e["item"]["id"], e["position"], e["source"], e["reason"], body["request_id"])
        for e in body["results"]
    ]


def test_the_log_insert_makes_the_transaction_commit_without_waiting_for_the_wal(world):
    """The log rows are analytics: the statement that writes them also sets synchronous_commit off for the
    transaction it runs in (the caller's here; the API view's is the statement's own), in one round trip."""
    from django.db import connection, transaction

    from apps.recommendations.engine.ranking import RankRequest
    from apps.recommendations.services import recommendations_serve

    organization, user = world["organization"], world["cooks"][0]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"
        served = recommendations_serve(organization=organization, user_id=user.pk, request=RankRequest(size=3),
                                       offset=0, limit=3)  # fmt: skip
        assert served["results"] and all(entry["log_id"] for entry in served["results"])
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "off"  # LOCAL: for this transaction only (set_config's is_local)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_list_request_runs_in_autocommit(world):
    """GET recommendations opts out of ATOMIC_REQUESTS: its one write, the log INSERT, is a statement of its own
    (no BEGIN and COMMIT round trips around a cache hit), and the rows are committed when the answer leaves.
    Transactional test: no test transaction around the request."""
    from django.db import connection

    organization, user = world["organization"], world["data_fans"][0]
    seen = []

    def record(execute, sql, params, many, context):
        if "recommendations_recommendationlog" in sql:
            seen.append((connection.in_atomic_block, connection.get_autocommit()))
        return execute(sql, params, many, context)

    client = client_for(user)
    with connection.execute_wrapper(record):
        first = client.get(url(organization), {"limit": 3})
        second = client.get(url(organization), {"limit": 3})
    assert (first.status_code, second.status_code) == (200, 200)
    assert (first.json()["cached"], second.json()["cached"]) == (False, True)
    assert seen == [(False, True), (False, True)]
    assert RecommendationLog.objects.filter(organization=organization, user=user).count() == 6


def test_the_api_writes_the_log_after_the_response_and_a_failed_write_keeps_the_answer(world, monkeypatch, caplog):
    """The list's log ids are taken before its rows are written; the API writes them once the response is sent
    (AfterResponse). A write that fails then is logged, the answer the client has is unchanged, no row of it is
    half-written and the connection's transaction stays usable. The failure is made real: ids taken twice
    collide with the rows the first request wrote (the table's primary key)."""
    import logging

    from apps.recommendations import services

    organization, user = world["organization"], world["data_fans"][0]
    client = client_for(user)
    first = client.get(url(organization), {"limit": 3}).json()
    taken = [entry["log_id"] for entry in first["results"]]
    assert RecommendationLog.objects.filter(pk__in=taken).count() == 3
    monkeypatch.setattr(services.log_ids, "take", lambda count: taken[:count])
    with caplog.at_level(logging.ERROR, logger="apps.core.responses"):
        again = client.get(url(organization), {"limit": 3})
    assert again.status_code == 200 and again.json()["cached"] is True
    assert [entry["log_id"] for entry in again.json()["results"]] == taken
    assert "Work after the response failed" in caplog.text and "duplicate key" in caplog.text
    assert not RecommendationLog.objects.filter(request_id=again.json()["request_id"]).exists()
    assert RecommendationLog.objects.filter(organization=organization, user=user).count() == 3


def test_log_ids_come_from_the_sequence_in_blocks_and_never_repeat(db):
    """LogIds hands out ascending, distinct ids from the table's sequence, one round trip per block; a take
    larger than the block is served whole; a forked process (another pid) starts a block of its own."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.recommendations.services import LogIds

    ids = LogIds(block=5)
    with CaptureQueriesContext(connection) as queries:
        taken = [ids.take(3) for _ in range(4)]
    assert len(queries) == 3  # 5 + 5 + 5 ids for 12
    flat = [log_id for part in taken for log_id in part]
    assert flat == sorted(flat) and len(set(flat)) == 12
    big = ids.take(12)
    assert len(big) == 12 and big == sorted(big) and min(big) > max(flat)
    ids._pid = -1  # as in a child forked after the parent took its block
    with CaptureQueriesContext(connection) as queries:
        child = ids.take(1)
    assert len(queries) == 1 and child[0] > max(big)
    other = LogIds(block=5).take(5)  # another process's block
    assert not set(other) & {*flat, *big, *child}


def test_pagination_continues_the_same_list(world):
    """offset/limit page through one ranked list (positions continue)."""
    organization, user = world["organization"], world["cooks"][0]
    client = client_for(user)
    whole = [e["item"]["id"] for e in client.get(url(organization), {"limit": 6}).json()["results"]]
    page = client.get(url(organization), {"limit": 3, "offset": 3}).json()
    assert [e["item"]["id"] for e in page["results"]] == whole[3:]
    assert [e["position"] for e in page["results"]] == [4, 5, 6]


def test_filters_through_the_api(world):
    """kind, tags, category and exclude reach the engine."""
    organization, user = world["organization"], world["data_fans"][0]
    client = client_for(user)
    videos = client.get(url(organization), {"kind": "video,podcast", "limit": 20}).json()["results"]
    assert videos and {e["item"]["kind"] for e in videos} <= {"video", "podcast"}
    music = client.get(url(organization), {"tags": "music", "limit": 20}).json()["results"]
    assert music and all("music" in e["item"]["tags"] for e in music)
    food = client.get(url(organization), {"category": "food"}).json()["results"]
    assert food and all("food" in e["item"]["categories"] for e in food)
    skip = [str(e["item"]["id"]) for e in client.get(url(organization), {"limit": 2}).json()["results"]]
    rest = client.get(url(organization), {"exclude": ",".join(skip)}).json()["results"]
    assert not {str(e["item"]["id"]) for e in rest} & set(skip)


def test_access_matrix(world):
    """Member for another user 403; admin and owner for anyone; API key needs `user`; outsiders 404."""
    organization = world["organization"]
    alice, bob = world["data_fans"][0], world["cooks"][0]
    assert client_for(alice).get(url(organization), {"user": bob.pk}).status_code == 403
    assert client_for(alice).get(url(organization), {"user": alice.pk}).status_code == 200
    for manager in (world["admin"], world["owner"]):
        response = client_for(manager).get(url(organization), {"user": bob.pk})
        assert response.status_code == 200 and response.json()["user"] == bob.pk
    client = key_client(organization)
    assert client.get(url(organization), {"user": bob.pk}).status_code == 200
    missing = client.get(url(organization))
    assert missing.status_code == 400 and missing.json()["error"]["details"]["user"]
    stranger = MembershipFactory(organization=OrganizationFactory(), role=Role.MEMBER).user
    assert client.get(url(organization), {"user": stranger.pk}).status_code == 404
    assert client_for(world["admin"]).get(url(organization), {"user": stranger.pk}).status_code == 404
    assert client_for(stranger).get(url(organization)).status_code == 404
    assert APIClient().get(url(organization)).status_code == 401


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0}, {"limit": 51}, {"limit": "ten"}, {"offset": -1}, {"offset": 95, "limit": 10},
        {"diversity": 1.5}, {"diversity": "-0.1"}, {"kind": "spaceship"}, {"exclude": "1,a"}, {"user": "me"},
    ],
)  # fmt: skip
def test_bad_parameters_are_400(world, params):
    """Invalid query parameters: 400 with the error envelope naming the field."""
    response = client_for(world["data_fans"][0]).get(url(world["organization"]), params)
    assert response.status_code == 400, response.content
    body = response.json()["error"]
    assert body["code"] == "invalid" and set(body["details"]) & {*params, "offset"}


def test_feedback_clicked_and_dismissed(world, django_capture_on_commit_callbacks):
    """clicked stamps the log; dismissed stamps it, records a dismiss interaction (once) and the item
    never comes back."""
    organization, user = world["organization"], world["data_fans"][0]
    client = client_for(user)
    shown = client.get(url(organization), {"limit": 2}).json()["results"]
    clicked, dismissed = shown
    response = client.post(url(organization, f"recommendations/{clicked['log_id']}/feedback/"), {"action": "clicked"})
    assert response.status_code == 200, response.content
    assert response.json()["clicked_at"] and response.json()["dismissed_at"] is None
    assert response.json()["log_id"] == clicked["log_id"] and response.json()["item"] == clicked["item"]["id"]
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(2):  # a retry counts once
            response = client.post(
                url(organization, f"recommendations/{dismissed['log_id']}/feedback/"), {"action": "dismissed"}
            )
            assert response.status_code == 200
    assert response.json()["dismissed_at"]
    assert (
        Interaction.objects.filter(
            organization=organization, user=user, item_id=dismissed["item"]["id"], kind=InteractionKind.DISMISS
        ).count()
        == 1
    )
    again = client.get(url(organization), {"limit": 50}).json()
    assert not again["cached"]
    assert dismissed["item"]["id"] not in {e["item"]["id"] for e in again["results"]}
    assert (
        client.post(
            url(organization, f"recommendations/{clicked['log_id']}/feedback/"), {"action": "liked"}
        ).status_code
        == 400
    )


def test_feedback_access(world):
    """Members only on their own rows (403 otherwise); admins and API keys on any; other org's ids 404."""
    organization = world["organization"]
    alice, bob = world["data_fans"][0], world["cooks"][0]
    log_id = client_for(alice).get(url(organization), {"limit": 1}).json()["results"][0]["log_id"]
    path = url(organization, f"recommendations/{log_id}/feedback/")
    assert client_for(bob).post(path, {"action": "clicked"}).status_code == 403
    assert client_for(world["admin"]).post(path, {"action": "clicked"}).status_code == 200
    assert key_client(organization).post(path, {"action": "clicked"}).status_code == 200
    assert (
        client_for(alice)
        .post(url(organization, "recommendations/999999999/feedback/"), {"action": "clicked"})
        .status_code
        == 404
    )
    other = OrganizationFactory()
    other_owner = MembershipFactory(organization=other, role=Role.OWNER).user
    assert (
        client_for(other_owner)
        .post(url(other, f"recommendations/{log_id}/feedback/"), {"action": "clicked"})
        .status_code
        == 404
    )
    assert client_for(alice).post(path, {}).status_code == 400


def test_similar_content(world):
    """Similar items: same organization, never the item itself, each with a reason; other org's id 404."""
    organization = world["organization"]
    item = world["items"][COOKING[0]]
    response = client_for(world["cooks"][0]).get(url(organization, f"content/{item.pk}/similar/"), {"limit": 5})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["item"] == item.pk and len(body["results"]) == 5
    ids = [e["item"]["id"] for e in body["results"]]
    assert item.pk not in ids
    assert ids[0] in {world["items"][title].pk for title in COOKING}
    assert all(
        e["reason"] in (f"Similar to {item.title}", f"Often liked together with {item.title}") for e in body["results"]
    )
    foreign = ContentItemFactory(organization=OrganizationFactory())
    assert client_for(world["cooks"][0]).get(url(organization, f"content/{foreign.pk}/similar/")).status_code == 404


def test_similar_users_admins_only(world):
    """Similar users: admins and API keys; the closest tastes first; members 403; outsiders 404."""
    organization = world["organization"]
    fan = world["data_fans"][0]
    path = url(organization, f"users/{fan.pk}/similar/")
    response = client_for(world["admin"]).get(path, {"limit": 3})
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert response.json()["user"] == fan.pk and len(results) == 3
    assert set(results[0]) == {"id", "email", "full_name", "external_id", "score"}
    assert results[0]["id"] in {u.pk for u in world["data_fans"][1:]}
    assert fan.pk not in {r["id"] for r in results}
    assert key_client(organization).get(path).status_code == 200
    assert client_for(fan).get(path).status_code == 403
    stranger = MembershipFactory(organization=OrganizationFactory(), role=Role.MEMBER).user
    assert client_for(world["admin"]).get(url(organization, f"users/{stranger.pk}/similar/")).status_code == 404


def test_other_organization_is_404_on_every_endpoint(world):
    """A member of another organization gets 404 on each endpoint of this one."""
    organization = world["organization"]
    outsider = MembershipFactory(organization=OrganizationFactory(), role=Role.OWNER).user
    client = client_for(outsider)
    item = world["items"][DATA[0]]
    log = RecommendationLog.objects.create(
        organization=organization, user=world["data_fans"][0], item=item,
        request_id="00000000-0000-0000-0000-000000000001", position=1, source="popular", reason="Popular right now",
        score=1.0,
    )  # fmt: skip
    assert client.get(url(organization)).status_code == 404
    assert (
        client.post(url(organization, f"recommendations/{log.pk}/feedback/"), {"action": "clicked"}).status_code == 404
    )
    assert client.get(url(organization, f"content/{item.pk}/similar/")).status_code == 404
    assert client.get(url(organization, f"users/{world['data_fans'][0].pk}/similar/")).status_code == 404
    log.refresh_from_db()
    assert log.clicked_at is None


def test_batch_ingested_events_invalidate_the_cache(world, django_capture_on_commit_callbacks):
    """Events sent through the batch API (bulk INSERT, the same interactions_recorded event as a single
    write) make the user's cached list stale."""
    organization, user = world["organization"], world["cooks"][0]
    client = key_client(organization)
    first = client.get(url(organization), {"user": user.pk}).json()
    assert not first["cached"] and client.get(url(organization), {"user": user.pk}).json()["cached"]
    target = first["results"][0]["item"]["id"]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            url(organization, "interactions/batch/"),
            {"events": [{"idempotency_key": "rec-batch-1", "kind": "dismiss", "item": target, "user": user.pk}]},
            format="json",
        )
    assert response.status_code in (200, 201), response.content
    again = client.get(url(organization), {"user": user.pk}).json()
    assert not again["cached"]
    assert target not in {entry["item"]["id"] for entry in again["results"]}


def test_cached_list_of_a_removed_member_is_not_served(world, django_capture_on_commit_callbacks):
    """A cache hit skips the membership query, so leaving the organization must invalidate (the
    members_changed event): 404 after."""
    from apps.organizations.models import Membership
    from apps.organizations.services import membership_remove

    organization, user = world["organization"], world["cooks"][1]
    client = key_client(organization)
    assert client.get(url(organization), {"user": user.pk}).status_code == 200
    assert client.get(url(organization), {"user": user.pk}).json()["cached"]
    membership = Membership.objects.get(organization=organization, user=user)
    with django_capture_on_commit_callbacks(execute=True):
        membership_remove(membership=membership, actor=membership)  # the member leaves
    assert client.get(url(organization), {"user": user.pk}).status_code == 404
