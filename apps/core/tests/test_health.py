"""/health/ against the real services: PostgreSQL, Redis, the Bolt graph and a real Celery worker.

A worker is started in-process (celery.contrib.testing) on the embedded Redis broker; it answers
the health ping and runs a task end to end. Failure cases point a setting at a closed port.
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


def get_health():
    response = Client().get("/health/")
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
    """Apps add figures to a check's report (core imports no app): recommendations' graph outbox is
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
