"""/health/ against the real services: PostgreSQL, Redis, the Bolt graph and a real Celery worker.

A worker is started in-process (celery.contrib.testing) on the embedded Redis broker; it answers
the health ping and runs a task end to end. Failure cases point a setting at a closed port.
Who sees what (issue 13, finding 9): anonymous callers and a wrong token get the status alone,
with the same HTTP code; staff (session or JWT) and HEALTH_TOKEN (X-Health-Token or Bearer) get
the report; a non-staff user is anonymous here.
"""

import socket

import pytest
from django.test import Client

from apps.core.graph import graph_reset


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def fresh_graph():
    graph_reset()
    yield
    graph_reset()


HEALTH_TOKEN = "a-health-token-for-tests"


@pytest.fixture(autouse=True)
def _health_token(settings):
    settings.HEALTH_TOKEN = HEALTH_TOKEN


def get_health():
    """The full report (as the holder of HEALTH_TOKEN sees it)."""
    response = Client().get("/health/", HTTP_X_HEALTH_TOKEN=HEALTH_TOKEN)
    return response.status_code, response.json()


@pytest.mark.worker
def test_healthy_with_all_services(celery_worker, db, fresh_graph):
    """All services up and a worker listening: 200, every check ok, pgvector and the worker named."""
    status, body = get_health()
    assert status == 200, body
    assert body["status"] == "ok"
    assert body["failing"] == []
    checks = body["checks"]
    assert set(checks) == {"database", "redis", "graph", "celery"}
    assert all(check["ok"] for check in checks.values())
    assert checks["database"]["pgvector"].startswith("0.")
    assert checks["graph"]["enabled"] is True
    assert checks["celery"]["workers"]


@pytest.mark.worker
def test_task_round_trip_through_a_real_worker(celery_worker, db):
    """A task sent to the broker is executed by the worker and its result comes back."""
    from workers.tasks.maintenance import ping

    assert ping.delay().get(timeout=20) == "pong"


def test_no_worker_is_503_naming_celery(db, settings, fresh_graph):
    """Without a worker the report is 503 and names celery as the failing check."""
    settings.HEALTH_TIMEOUT = 0.3
    status, body = get_health()
    assert status == 503
    assert body["status"] == "unavailable"
    assert body["failing"] == ["celery"]
    assert body["checks"]["celery"]["ok"] is False
    assert "no Celery worker" in body["checks"]["celery"]["error"]


def test_worker_optional_when_not_required(db, settings, fresh_graph):
    """HEALTH_REQUIRE_CELERY=false: no worker is reported but does not fail the check."""
    settings.HEALTH_TIMEOUT = 0.3
    settings.HEALTH_REQUIRE_CELERY = False
    status, body = get_health()
    assert status == 200
    assert body["checks"]["celery"] == {**body["checks"]["celery"], "ok": False, "required": False}


def test_redis_down_is_503(db, settings, fresh_graph):
    """Redis unreachable: 503 naming redis."""
    settings.HEALTH_TIMEOUT = 0.3
    settings.HEALTH_REQUIRE_CELERY = False
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port()}/0"
    status, body = get_health()
    assert status == 503
    assert body["failing"] == ["redis"]


def test_graph_down_is_503(db, settings, fresh_graph):
    """Graph configured but unreachable: 503 naming graph."""
    settings.HEALTH_TIMEOUT = 0.3
    settings.HEALTH_REQUIRE_CELERY = False
    settings.NEO4J_URI = f"bolt://127.0.0.1:{closed_port()}"
    settings.NEO4J_TIMEOUT = 1.0
    status, body = get_health()
    assert status == 503
    assert body["failing"] == ["graph"]


def test_graph_off_is_not_required(db, settings, fresh_graph):
    """NEO4J_URI unset: the graph is reported as disabled and does not fail health."""
    settings.HEALTH_REQUIRE_CELERY = False
    settings.HEALTH_REQUIRE_GRAPH = False
    settings.NEO4J_URI = None
    status, body = get_health()
    assert status == 200
    assert body["checks"]["graph"]["enabled"] is False


def test_registered_figures_are_shown_and_never_fail_the_report(db, fresh_graph, monkeypatch):
    """Apps add figures to a check's report (core imports no app): the graph app's outbox backlog is
    registered in its ready(); a figure that raises shows its error; one for an unknown check is ignored."""
    from apps.core import health

    monkeypatch.setattr(health, "_FIGURES", dict(health._FIGURES))
    assert ("graph", "outbox") in health._FIGURES

    def broken():
        raise RuntimeError("no figure today")

    health.health_figure_register(check="redis", name="broken", figure=broken)
    health.health_figure_register(check="nowhere", name="x", figure=lambda: {"n": 1})
    _status, body = get_health()
    assert body["checks"]["redis"]["broken"] == {"error": "RuntimeError: no figure today"}
    assert body["checks"]["redis"]["ok"] is True
    assert "nowhere" not in body["checks"]
    assert set(body["checks"]["graph"]["outbox"]) >= {"pending", "retrying"}


# --------------------------------------------------------------------------- who sees the details


@pytest.fixture
def quick(settings):
    """No worker needed, short timeouts: the report is 200 unless a test breaks a service."""
    settings.HEALTH_TIMEOUT = 0.3
    settings.HEALTH_REQUIRE_CELERY = False


def full_report(response) -> bool:
    body = response.json()
    return set(body) == {"status", "failing", "checks", "outages"} and "pgvector" in body["checks"]["database"]


def test_anonymous_callers_get_the_status_only(db, quick, fresh_graph):
    """No credentials: {"status": "ok"} and 200, no versions, workers, backlog or latencies."""
    response = Client().get("/health/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_anonymous_callers_get_the_503_without_naming_the_failure(db, quick, settings, fresh_graph):
    """A required service down: anonymous callers get 503 and "unavailable", not what failed or why."""
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port()}/0"
    response = Client().get("/health/")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable"}


@pytest.mark.parametrize(
    "headers",
    [{"HTTP_X_HEALTH_TOKEN": HEALTH_TOKEN}, {"HTTP_AUTHORIZATION": f"Bearer {HEALTH_TOKEN}"}],
    ids=["x-health-token", "bearer"],
)
def test_the_health_token_shows_the_report(db, quick, fresh_graph, headers):
    """HEALTH_TOKEN in X-Health-Token or as a Bearer token: the whole report."""
    response = Client().get("/health/", **headers)
    assert response.status_code == 200
    assert full_report(response), response.json()


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_X_HEALTH_TOKEN": "a-health-token-for-test"},
        {"HTTP_X_HEALTH_TOKEN": HEALTH_TOKEN + "x"},
        {"HTTP_AUTHORIZATION": "Bearer not-the-token"},
        {"HTTP_AUTHORIZATION": HEALTH_TOKEN},
    ],
    ids=["prefix", "longer", "wrong-bearer", "no-scheme"],
)
def test_a_wrong_token_gets_the_status_only(db, quick, fresh_graph, headers):
    """A token that is not HEALTH_TOKEN (a prefix, longer, another, without Bearer): the status alone."""
    response = Client().get("/health/", **headers)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_no_token_configured_means_no_token_works(db, quick, settings, fresh_graph):
    """HEALTH_TOKEN empty (the default): an empty or any offered token shows nothing more."""
    settings.HEALTH_TOKEN = ""
    for headers in ({"HTTP_X_HEALTH_TOKEN": ""}, {"HTTP_AUTHORIZATION": "Bearer "}, {"HTTP_X_HEALTH_TOKEN": "x"}):
        assert Client().get("/health/", **headers).json() == {"status": "ok"}


def test_staff_see_the_report_by_session_or_jwt(db, quick, fresh_graph):
    """A staff user signed in to the admin, or sending a JWT access token: the whole report."""
    from apps.users.api.serializers import token_pair
    from apps.users.tests.factories import UserFactory

    staff = UserFactory(is_staff=True)
    session = Client()
    session.force_login(staff)
    assert full_report(session.get("/health/"))
    jwt = Client().get("/health/", HTTP_AUTHORIZATION=f"Bearer {token_pair(staff)['access']}")
    assert full_report(jwt)


def test_other_users_get_the_status_only(db, quick, fresh_graph):
    """A signed-in user who is not staff (session or JWT), or an invalid JWT: the status alone."""
    from apps.users.api.serializers import token_pair
    from apps.users.tests.factories import UserFactory

    person = UserFactory()
    session = Client()
    session.force_login(person)
    assert session.get("/health/").json() == {"status": "ok"}
    jwt = Client().get("/health/", HTTP_AUTHORIZATION=f"Bearer {token_pair(person)['access']}")
    assert jwt.json() == {"status": "ok"}
    garbage = Client().get("/health/", HTTP_AUTHORIZATION="Bearer a.b.c")
    assert (garbage.status_code, garbage.json()) == (200, {"status": "ok"})
    # A signed token whose user id is no number: the API's JWT authentication finds no user (simplejwt's ORM lookup
    # raised a ValueError here: a 500).
    from rest_framework_simplejwt.tokens import AccessToken

    token = AccessToken()
    token["user_id"] = "not-a-number"
    nobody = Client().get("/health/", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert (nobody.status_code, nobody.json()) == (200, {"status": "ok"})
