"""Fail-soft request path (issue 12, point 4): a slow or unreachable Redis or broker never turns a
request into a 500.

Covers:
- the fail-open cache against a real unreachable Redis (a closed port): reads are misses, writes
  are skipped, add is False, incr counts as a new counter, every failure is counted; DRF throttles
  on it allow the request (a 1/min login limit lets two logins through);
- the error handler: a real redis TimeoutError (a server that never answers) and ConnectionError
  raised in an API view are 503 `service_unavailable` in the envelope with Retry-After; the
  middleware does the same for a plain Django view;
- the publish helper: with the broker at a closed port, creating a catalog item (which publishes
  its embedding on commit) still answers 201 and the row is committed; the lost publish is counted;
- the drill: the real Redis (cache, throttles, broker) stopped with SIGSTOP for 3 s while logging
  in, reading, listing recommendations, recording interactions, creating catalog items and using
  the widget: every answer is 200/201 or a 503 envelope with Retry-After, never a 500; logins
  work; every row answered 201 is committed.
Real PostgreSQL, Redis and broker; nothing mocked. No timings asserted.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from contextlib import contextmanager

import pytest
import redis
from django.conf import settings
from django.http import HttpResponse
from django.test import override_settings
from django.urls import path
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.views import APIView

from apps.bots.tests.factories import BotFactory
from apps.core.cache import FailOpenRedisCache
from apps.core.outages import outage_counts, outage_pauses_clear
from apps.progress.models import ContentItem, Interaction
from apps.progress.tests.factories import ContentItemFactory
from apps.users.tests.factories import PASSWORD
from conftest import client_for

TOKEN_URL = "/api/v1/auth/token/"
SITE = "https://shop.example.com"


def cache_redis_pid() -> int:
    """The pid of the Redis server behind the cache, the throttles and the broker.

    Asked of the server itself (INFO's process_id), so it stays right whichever embedded layout
    runs it; the server is local (127.0.0.1) and ours, which os.kill(pid, 0) confirms."""
    client = redis.Redis.from_url(settings.CACHES["default"]["LOCATION"], socket_timeout=5)
    try:
        pid = int(client.info("server")["process_id"])
    finally:
        client.close()
    os.kill(pid, 0)
    return pid


def closed_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def silent_server():
    """A TCP server that never answers (what a stalled Redis looks like): yields its port and a
    function returning how many connections arrived since the last call."""
    accepted = []
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        sock.setblocking(False)

        def connections() -> int:
            count = 0
            while True:
                try:
                    accepted.append(sock.accept()[0])
                except BlockingIOError:
                    return count
                count += 1

        try:
            yield sock.getsockname()[1], connections
        finally:
            for connection in accepted:
                connection.close()


def short_timeout_cache(location: str | None = None) -> dict:
    """CACHES with base.py's short client timeouts (config/settings/test.py may set longer ones)."""
    timeout = settings.REDIS_CLIENT_TIMEOUT
    return {
        "default": {
            **settings.CACHES["default"],
            "LOCATION": location or settings.CACHES["default"]["LOCATION"],
            "OPTIONS": {"socket_timeout": timeout, "socket_connect_timeout": timeout},
        }
    }


@contextmanager
def broker_at(url: str):
    """Publish through `url` (the workers keep theirs): a fresh producer pool, the old one restored."""
    from config.celery_app import app

    saved = app.conf.broker_write_url

    def reset_pools():
        app._pool = None
        app.amqp._producer_pool = None

    app.conf.broker_write_url = url
    reset_pools()
    try:
        yield
    finally:
        app.pool.force_close_all()
        app.conf.broker_write_url = saved
        reset_pools()
        outage_pauses_clear()  # the next test publishes at once


def assert_ok_or_503(response, *ok: int):
    """200/201 (as given), or 503 in the error envelope with Retry-After; never anything else."""
    if response.status_code == 503:
        body = response.json()
        assert body["error"]["code"] == "service_unavailable", body
        assert int(response["Retry-After"]) > 0
        return False
    assert response.status_code in ok, (response.status_code, response.content[:500])
    return True


# --------------------------------------------------------------------------- views raising outages


class RedisStalledApi(APIView):
    permission_classes = []
    throttle_classes = []

    def get(self, request):
        with silent_server() as (port, _connections):
            redis.Redis(port=port, socket_timeout=0.2, socket_connect_timeout=0.2).get("x")
        return Response({})


class RedisRefusedApi(APIView):
    permission_classes = []
    throttle_classes = []

    def get(self, request):
        redis.Redis(port=closed_port(), socket_connect_timeout=0.2).get("x")
        return Response({})


def redis_refused_page(request):
    redis.Redis(port=closed_port(), socket_connect_timeout=0.2).get("x")
    return HttpResponse("never")


urlpatterns = [
    path("api/v1/test/redis-stalled/", RedisStalledApi.as_view()),
    path("api/v1/test/redis-refused/", RedisRefusedApi.as_view()),
    path("test/redis-refused/", redis_refused_page),
]


# --------------------------------------------------------------------------- unit level


def test_fail_open_cache_on_an_unreachable_redis():
    """Against a closed port: misses, skipped writes, add False, incr as a new counter; all counted."""
    timeout = settings.REDIS_CLIENT_TIMEOUT
    cache = FailOpenRedisCache(
        f"redis://127.0.0.1:{closed_port()}/0",
        {"OPTIONS": {"socket_timeout": timeout, "socket_connect_timeout": timeout}},
    )
    before = outage_counts().get("cache", 0)
    assert cache.get("k") is None
    assert cache.get("k", "fallback") == "fallback"
    assert cache.get_many(["a", "b"]) == {}
    assert cache.has_key("k") is False
    assert cache.set("k", 1) is None
    assert cache.set_many({"a": 1, "b": 2}) == ["a", "b"]
    assert cache.add("k", 1) is False
    assert cache.incr("k", 3) == 3
    assert cache.decr("k") == -1
    assert cache.delete("k") is False
    assert cache.delete_many(["a"]) is None
    assert cache.touch("k") is False
    assert cache.get_or_set("k", "computed") == "computed"
    assert outage_counts()["cache"] - before >= 13


def test_after_a_failure_the_cache_leaves_redis_alone_for_the_pause(settings):
    """A stalled server (accepts, never answers): the first call times out, the next ones within
    FAIL_OPEN_PAUSE_SECONDS fail open without connecting; after outage_pauses_clear it tries again."""
    settings.FAIL_OPEN_PAUSE_SECONDS = 3600
    timeout = settings.REDIS_CLIENT_TIMEOUT
    with silent_server() as (port, connections):
        cache = FailOpenRedisCache(
            f"redis://127.0.0.1:{port}/0", {"OPTIONS": {"socket_timeout": timeout, "socket_connect_timeout": timeout}}
        )
        try:
            assert cache.get("k", "miss") == "miss"
            assert connections() == 1
            assert cache.add("k", 1) is False
            assert cache.incr("k") == 1
            assert cache.set("k", 1) is None
            assert connections() == 0  # nothing new: paused
            outage_pauses_clear()
            assert cache.get("k", "miss") == "miss"
            assert connections() == 1
        finally:
            outage_pauses_clear()


def test_fail_open_cache_still_works_on_the_real_redis():
    """The same backend on the real Redis stores, counts and claims as Django's RedisCache does."""
    with override_settings(CACHES=short_timeout_cache()):
        from django.core.cache import cache

        assert cache.add("failsoft:k", 1) is True
        assert cache.add("failsoft:k", 1) is False
        assert cache.incr("failsoft:k", 2) == 3
        with pytest.raises(ValueError):
            cache.incr("failsoft:missing")
        assert cache.get_many(["failsoft:k"]) == {"failsoft:k": 3}


def test_throttles_allow_requests_while_redis_is_unreachable(user, settings):
    """A 1/min login limit with the cache on a closed port: both logins succeed (the throttle fails open)."""
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**rates, "login_ip": "1/min", "login_account": "1/min"},
    }
    with override_settings(CACHES=short_timeout_cache(f"redis://127.0.0.1:{closed_port()}/0")):
        for _ in range(2):
            response = APIClient().post(TOKEN_URL, {"email": user.email, "password": PASSWORD}, format="json")
            assert response.status_code == 200, response.content
            assert set(response.json()) >= {"access", "refresh"}


@pytest.mark.urls(__name__)
@pytest.mark.parametrize("url", ["/api/v1/test/redis-stalled/", "/api/v1/test/redis-refused/"])
def test_redis_errors_in_an_api_view_are_503_with_retry_after(db, url):
    """A redis TimeoutError / ConnectionError raised in a view: 503 service_unavailable, Retry-After, no 500."""
    before = outage_counts().get("request", 0)
    response = APIClient().get(url)
    assert response.status_code == 503
    assert response["Retry-After"] == str(settings.OUTAGE_RETRY_AFTER_SECONDS)
    retry_after = settings.OUTAGE_RETRY_AFTER_SECONDS
    assert response.json() == {
        "error": {
            "code": "service_unavailable",
            "message": f"A service this request needs is unavailable; try again in {retry_after} s.",
            "details": {"retry_after": retry_after, "dependency": "redis"},
        }
    }
    assert outage_counts()["request"] == before + 1


@pytest.mark.urls(__name__)
def test_redis_errors_in_a_plain_view_are_503_with_retry_after(db):
    """A plain Django view (no DRF handler): the middleware answers 503 text with Retry-After."""
    client = APIClient()
    client.raise_request_exception = True  # a 500 would raise here; the middleware must answer first
    response = client.get("/test/redis-refused/")
    assert response.status_code == 503
    assert response["Retry-After"] == str(settings.OUTAGE_RETRY_AFTER_SECONDS)
    assert response.content.decode().startswith("A service this request needs is unavailable")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_lost_publish_never_fails_the_committed_request(organization, admin_user, settings):
    """Broker at a closed port: creating an item (publishes its embedding on commit) is 201, the row is
    committed, the lost publish is counted; within the pause the next one is counted without a try."""
    settings.FAIL_OPEN_PAUSE_SECONDS = 3600  # the second publish is not even tried
    before = outage_counts().get("publish", 0)
    with broker_at(f"redis://127.0.0.1:{closed_port()}/0"):
        for title in ("Written while the broker is down", "And another"):
            response = client_for(admin_user).post(
                f"/api/v1/orgs/{organization.slug}/content/", {"title": title}, format="json"
            )
            assert response.status_code == 201, response.content
            assert ContentItem.objects.filter(pk=response.json()["id"], title=title).exists()
    assert outage_counts()["publish"] >= before + 2  # embeddings (and graph kicks, when the graph is on)


# --------------------------------------------------------------------------- the drill


@pytest.mark.alone  # SIGSTOP on the Redis every test uses: no other test may run meanwhile
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_redis_stopped_for_3_seconds_during_api_calls(organization, admin_user, member, settings):
    """SIGSTOP on the real Redis for 3 s while calling the API: 200/201 or a 503 envelope, never 500;
    logins work; every interaction and item answered 201 is in PostgreSQL afterwards."""
    settings.OPENAI_API_KEY = None  # the widget answers with the offline answerer
    settings.OPENAI_BASE_URL = None
    items = [ContentItemFactory(organization=organization) for _ in range(3)]
    bot = BotFactory(organization=organization, allowed_origins=[SITE])
    base = f"/api/v1/orgs/{organization.slug}"
    widget = f"/widget/{bot.public_id}"

    def login() -> APIClient | None:
        response = APIClient().post(TOKEN_URL, {"email": member.email, "password": PASSWORD}, format="json")
        if not assert_ok_or_503(response, 200):
            return None
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access']}")
        return client

    def widget_turn() -> None:
        browser = APIClient()
        browser.credentials(HTTP_ORIGIN=SITE)
        session = browser.post(f"{widget}/session/", {}, format="json")
        if not assert_ok_or_503(session, 200):
            return
        visitor = APIClient()
        visitor.credentials(HTTP_AUTHORIZATION=f"Visitor {session.json()['token']}")
        conversation = visitor.post(f"{widget}/conversations/", {}, format="json")
        if not assert_ok_or_503(conversation, 201):
            return
        message = visitor.post(
            f"{widget}/conversations/{conversation.json()['id']}/messages/",
            {"content": "How long do refunds take?", "stream": False},
            format="json",
        )
        assert_ok_or_503(message, 201)

    with override_settings(CACHES=short_timeout_cache()):
        widget_turn()  # warm-up: the embedding model and the connections are ready before the stop
        admin = client_for(admin_user)
        recorded, created, logins = [], [], 0
        pid = cache_redis_pid()
        os.kill(pid, signal.SIGSTOP)
        stopped_at = time.monotonic()
        try:
            round_number = 0
            while round_number == 0 or time.monotonic() - stopped_at < 3:
                client = login()
                logins += client is not None
                client = client or client_for(member)
                assert_ok_or_503(client.get("/api/v1/users/me/"), 200)
                assert_ok_or_503(client.get(f"{base}/recommendations/"), 200)
                item = items[round_number % len(items)]
                response = client.post(f"{base}/interactions/", {"kind": "like", "item": item.pk}, format="json")
                if assert_ok_or_503(response, 201):
                    recorded.append(response.json()["id"])
                response = admin.post(f"{base}/content/", {"title": f"During the stall {round_number}"}, format="json")
                if assert_ok_or_503(response, 201):
                    created.append(response.json()["id"])
                widget_turn()
                round_number += 1
        finally:
            os.kill(pid, signal.SIGCONT)
            outage_pauses_clear()  # the next test must not find the cache paused

        assert logins >= 1  # login does not need Redis: it answered during the stop
        assert recorded and created
        assert sorted(Interaction.objects.filter(pk__in=recorded).values_list("pk", flat=True)) == sorted(recorded)
        assert ContentItem.objects.filter(pk__in=created).count() == len(created)
        assert login() is not None  # and after it
