"""Issue 18 item 4: the recommendation engine as other backends drive it.

Covers:
- external ids: recommendations for `user_external_id` (both forms at once 400, unknown 404, members only
  their own), items carry their catalog `external_id`; similar items by `item_external_id` (unknown 404);
- cache/clear/ for one member (by id or external id; unknown 404) or the organization: the next request is a
  miss; cache/stats/ counts keys (current and stale), members, hits and misses, memory;
- train/: 202 with the state and status_url, idempotent while queued (one task published); model/: idle,
  queued, running, failed (with the error), the serving model's figures; through a real Celery worker;
- access: members 403, API keys need `recommendations:manage` (403 with the message otherwise), anonymous 401,
  another organization's member 404.
"""

from __future__ import annotations

import time
from unittest import mock

import pytest
from rest_framework.test import APIClient

from apps.organizations.models import Membership, Role
from apps.organizations.tests.factories import MembershipFactory, OrganizationFactory
from apps.organizations.tests.utils import api_key_client
from apps.progress.models import ContentItem
from apps.progress.tests.factories import ContentItemFactory
from apps.recommendations.engine import cache as rec_cache
from apps.recommendations.models import RecommenderModel
from apps.recommendations.services import recommender_train
from apps.recommendations.tests.rec_utils import COOKING, build_world
from conftest import client_for

MANAGE = ("recommendations:manage",)


def url(organization, path="recommendations/"):
    return f"/api/v1/orgs/{organization.slug}/{path}"


@pytest.fixture
def world(organization, owner, admin_user):
    built = build_world(organization)
    recommender_train(organization_id=organization.pk)
    rec_cache.training_queued_release(organization_id=organization.pk)
    return {**built, "organization": organization, "owner": owner, "admin": admin_user}


def set_external_id(organization, user, external_id):
    Membership.objects.filter(organization=organization, user=user).update(external_id=external_id)


# --------------------------------------------------------------------------- external ids


@pytest.mark.django_db
def test_recommendations_by_user_external_id(world):
    """API keys and admins name the member by external_id; the list is that member's; items carry external ids."""
    organization, cook, fan = world["organization"], world["cooks"][0], world["data_fans"][0]
    set_external_id(organization, cook, "crm-cook")
    set_external_id(organization, fan, "crm-fan")
    key = api_key_client(organization, scopes=("read",))
    by_ext = key.get(url(organization), {"user_external_id": "crm-cook", "limit": 5})
    assert by_ext.status_code == 200, by_ext.content
    by_id = key.get(url(organization), {"user": cook.pk, "limit": 5})
    assert by_ext.json()["user"] == cook.pk
    assert [r["item"]["id"] for r in by_ext.json()["results"]] == [r["item"]["id"] for r in by_id.json()["results"]]
    catalog = dict(ContentItem.objects.filter(organization=organization).values_list("id", "external_id"))
    assert [r["item"]["external_id"] for r in by_id.json()["results"]] == [
        catalog[r["item"]["id"]] for r in by_id.json()["results"]
    ]
    admin = client_for(world["admin"]).get(url(organization), {"user_external_id": "crm-fan"})
    assert admin.status_code == 200 and admin.json()["user"] == fan.pk
    assert client_for(fan).get(url(organization), {"user_external_id": "crm-fan"}).json()["user"] == fan.pk
    assert client_for(fan).get(url(organization), {"user_external_id": "crm-cook"}).status_code == 403

    both = key.get(url(organization), {"user": cook.pk, "user_external_id": "crm-cook"})
    assert both.status_code == 400
    assert both.json()["error"]["message"] == "Invalid input. user: Give user or user_external_id, not both."
    unknown = key.get(url(organization), {"user_external_id": "nobody"})
    assert unknown.status_code == 404 and unknown.json()["error"]["message"] == "User not found."
    outsider = MembershipFactory(organization=OrganizationFactory(), external_id="crm-out")
    assert outsider.external_id == "crm-out"
    assert key.get(url(organization), {"user_external_id": "crm-out"}).status_code == 404


@pytest.mark.django_db
def test_similar_items_by_item_external_id(world):
    """content/similar/?item_external_id= gives what content/{id}/similar/ gives; unknown or foreign 404."""
    organization, cook = world["organization"], world["cooks"][0]
    item = world["items"][COOKING[0]]
    client = client_for(cook)
    by_ext = client.get(url(organization, "content/similar/"), {"item_external_id": item.external_id, "limit": 4})
    assert by_ext.status_code == 200, by_ext.content
    by_id = client.get(url(organization, f"content/{item.pk}/similar/"), {"limit": 4}).json()
    assert by_ext.json() == by_id
    assert by_id["item"] == item.pk and by_id["item_external_id"] == item.external_id
    assert all("external_id" in row["item"] for row in by_id["results"])
    assert client.get(url(organization, "content/similar/"), {"item": item.pk, "limit": 4}).json() == by_id
    foreign = ContentItemFactory(organization=OrganizationFactory())
    for params in ({"item_external_id": "nothing"}, {"item_external_id": foreign.external_id}):
        response = client.get(url(organization, "content/similar/"), params)
        assert response.status_code == 404 and response.json()["error"]["message"] == "Content item not found."
    for params in ({}, {"item": item.pk, "item_external_id": item.external_id}):
        response = client.get(url(organization, "content/similar/"), params)
        assert response.status_code == 400
        assert response.json()["error"]["details"]["item"] == ["Give item or item_external_id (one of them)."]


# --------------------------------------------------------------------------- cache


@pytest.mark.django_db
def test_cache_clear_for_a_user_and_the_organization(world):
    """A cleared member's next list is a miss, others stay cached; an organization clear misses everyone."""
    organization, cook, fan = world["organization"], world["cooks"][0], world["data_fans"][0]
    set_external_id(organization, cook, "crm-cook")
    admin = client_for(world["admin"])
    for user in (cook, fan):
        admin.get(url(organization), {"user": user.pk})
        assert admin.get(url(organization), {"user": user.pk}).json()["cached"] is True

    response = admin.post(url(organization, "recommendations/cache/clear/"), {"user_external_id": "crm-cook"})
    assert response.status_code == 200, response.content
    assert response.json() == {"cleared": "user", "user": cook.pk}
    assert admin.get(url(organization), {"user": cook.pk}).json()["cached"] is False
    assert admin.get(url(organization), {"user": fan.pk}).json()["cached"] is True
    by_id = admin.post(url(organization, "recommendations/cache/clear/"), {"user": fan.pk}, format="json")
    assert by_id.json() == {"cleared": "user", "user": fan.pk}
    assert admin.get(url(organization), {"user": fan.pk}).json()["cached"] is False

    for user in (cook, fan):
        admin.get(url(organization), {"user": user.pk})
    everyone = admin.post(url(organization, "recommendations/cache/clear/"), {}, format="json")
    assert everyone.json() == {"cleared": "organization", "user": None}
    assert [admin.get(url(organization), {"user": u.pk}).json()["cached"] for u in (cook, fan)] == [False, False]

    unknown = admin.post(url(organization, "recommendations/cache/clear/"), {"user_external_id": "nobody"})
    assert unknown.status_code == 404
    stranger = MembershipFactory(organization=OrganizationFactory()).user
    assert admin.post(url(organization, "recommendations/cache/clear/"), {"user": stranger.pk}).status_code == 404
    both = admin.post(url(organization, "recommendations/cache/clear/"), {"user": cook.pk, "user_external_id": "x"})
    assert both.status_code == 400


@pytest.mark.django_db
def test_cache_stats(world):
    """Keys (current and stale after an organization clear), members, hits, misses, hit rate and memory."""
    organization, cook, fan = world["organization"], world["cooks"][0], world["data_fans"][0]
    key = api_key_client(organization, scopes=MANAGE)
    stats_url = url(organization, "recommendations/cache/stats/")
    before = key.get(stats_url).json()
    reader = api_key_client(organization, scopes=("read",))
    reader.get(url(organization), {"user": cook.pk})  # miss
    reader.get(url(organization), {"user": cook.pk})  # hit
    reader.get(url(organization), {"user": fan.pk, "limit": 3})  # miss
    stats = key.get(stats_url).json()
    assert stats["keys"] == before["keys"] + 2 and stats["current_keys"] == before["current_keys"] + 2
    assert stats["users"] == before["users"] + 2
    assert stats["hits"] == before["hits"] + 1 and stats["misses"] == before["misses"] + 2
    assert stats["hit_rate"] == round(stats["hits"] / (stats["hits"] + stats["misses"]), 4)
    assert stats["complete"] is True and stats["memory_bytes"] > 0 and stats["counting_since"] > 0

    key.post(url(organization, "recommendations/cache/clear/"), {}, format="json")
    cleared = key.get(stats_url).json()
    assert cleared["current_keys"] == 0 and cleared["users"] == 0 and cleared["keys"] == stats["keys"]
    assert cleared["organization_version"] != stats["organization_version"]


@pytest.mark.django_db
def test_cache_stats_scan_is_bounded(world, settings):
    """With a scan budget smaller than the keyspace the counts are lower bounds, flagged incomplete."""
    from django.core.cache import cache

    organization = world["organization"]
    cache.set_many({f"filler:{n}": n for n in range(2500)}, timeout=60)
    settings.REC_CACHE_STATS_MAX_SCAN = 1000
    stats = client_for(world["admin"]).get(url(organization, "recommendations/cache/stats/")).json()
    assert stats["complete"] is False


# --------------------------------------------------------------------------- training


@pytest.mark.django_db
def test_train_is_idempotent_while_queued_and_reports_states(world):
    """202 + status_url; asking again while queued enqueues nothing; running, failed and idle are reported."""
    organization = world["organization"]
    client = api_key_client(organization, scopes=MANAGE)
    with mock.patch("workers.tasks.recommendations.recommender_train_task.apply_async") as publish:
        first = client.post(url(organization, "recommendations/train/"))
        second = client.post(url(organization, "recommendations/train/"))
    assert first.status_code == 202, first.content
    body = first.json()
    assert body["enqueued"] is True and body["state"] == "queued" and body["queued_at"]
    assert body["status_url"] == f"http://testserver/api/v1/orgs/{organization.slug}/recommendations/model/"
    assert second.status_code == 202 and second.json()["enqueued"] is False and second.json()["state"] == "queued"
    publish.assert_called_once_with((organization.pk,))

    status = client.get(url(organization, "recommendations/model/")).json()
    model = RecommenderModel.objects.get(organization=organization)
    assert status["state"] == "queued" and status["error"] == ""
    assert status["model"] == {
        "version": model.version, "algorithm": model.algorithm, "trained_at": status["model"]["trained_at"],
        "duration_seconds": model.duration_seconds, "data_until": status["model"]["data_until"],
        "users_count": model.users_count, "items_count": model.items_count,
        "interactions_count": model.interactions_count, "validation": model.validation,
    }  # fmt: skip
    assert model.duration_seconds > 0 and model.validation and status["model"]["trained_at"]
    assert status["latest_run"]["version"] == model.version and status["latest_run"]["status"] == "ready"

    # a run starts (a new version, training): running; nothing is enqueued meanwhile
    run = RecommenderModel.objects.create(organization=organization, version=model.version + 1)
    assert client.get(url(organization, "recommendations/model/")).json()["state"] == "running"
    with mock.patch("workers.tasks.recommendations.recommender_train_task.apply_async") as publish:
        again = client.post(url(organization, "recommendations/train/"))
    assert again.json()["state"] == "running" and again.json()["enqueued"] is False
    publish.assert_not_called()

    RecommenderModel.objects.filter(pk=run.pk).update(status="failed", error="MemoryError: too big")
    failed = client.get(url(organization, "recommendations/model/")).json()
    assert failed["state"] == "failed" and failed["error"] == "MemoryError: too big"
    assert failed["model"]["version"] == model.version and failed["latest_run"]["version"] == run.version
    with mock.patch("workers.tasks.recommendations.recommender_train_task.apply_async") as publish:
        retry = client.post(url(organization, "recommendations/train/"))
    assert retry.json()["enqueued"] is True and retry.json()["state"] == "queued"
    publish.assert_called_once()


@pytest.mark.django_db
def test_model_status_before_any_training(organization, admin_user):
    """No model yet: idle, no model, no run."""
    response = client_for(admin_user).get(url(organization, "recommendations/model/"))
    assert response.status_code == 200
    assert response.json() == {"state": "idle", "error": "", "queued_at": None, "model": None, "latest_run": None}


@pytest.mark.django_db
def test_train_with_the_broker_down_is_503_and_not_queued(organization, admin_user):
    """A broker that refuses the task: 503 in the error envelope, and the state is not left "queued"."""
    client = client_for(admin_user)
    with mock.patch("apps.recommendations.operations.enqueue_now", return_value=False):
        response = client.post(url(organization, "recommendations/train/"))
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "service_unavailable"
    assert client.get(url(organization, "recommendations/model/")).json()["state"] == "idle"


@pytest.mark.django_db
def test_operations_access(organization, owner, admin_user, member, other_organization):
    """Members 403; keys without recommendations:manage 403 with the message; anonymous 401; owners and admins
    and managing keys allowed; another organization's member 404."""
    paths = [
        ("post", "recommendations/cache/clear/"),
        ("get", "recommendations/cache/stats/"),
        ("get", "recommendations/model/"),
        ("post", "recommendations/train/"),
    ]
    outsider = other_organization.memberships.get().user
    with mock.patch("workers.tasks.recommendations.recommender_train_task.apply_async"):
        for method, path in paths:
            target = url(organization, path)
            assert getattr(client_for(member), method)(target).status_code == 403, path
            assert getattr(APIClient(), method)(target).status_code == 401, path
            assert getattr(client_for(outsider), method)(target).status_code == 404, path
            refused = getattr(api_key_client(organization, scopes=("read", "write")), method)(target)
            assert refused.status_code == 403, path
            assert refused.json()["error"]["message"] == "This API key lacks the 'recommendations:manage' scope."
            for client in (client_for(owner), client_for(admin_user), api_key_client(organization, scopes=MANAGE)):
                assert getattr(client, method)(target).status_code in (200, 202), path
            rec_cache.training_queued_release(organization_id=organization.pk)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_train_endpoint_through_a_celery_worker(celery_worker, organization):
    """POST train/ -> a real worker trains -> model/ reports idle with the new version's figures."""
    admin = MembershipFactory(organization=organization, role=Role.ADMIN).user
    build_world(organization, embed=False)
    client = client_for(admin)
    response = client.post(url(organization, "recommendations/train/"))
    assert response.status_code == 202, response.content
    assert response.json()["enqueued"] is True
    status_url = response.json()["status_url"]
    # Training is real work in the worker; the bound only stops a broken run hanging (no timing asserted).
    deadline = time.monotonic() + 120
    status = client.get(status_url).json()
    while status["state"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.3)
        status = client.get(status_url).json()
    assert status["state"] == "idle", status
    assert status["model"]["version"] == 1 and status["latest_run"]["status"] == "ready"
    assert status["model"]["duration_seconds"] > 0 and status["model"]["interactions_count"] > 0
    assert status["model"]["validation"]
