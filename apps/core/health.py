"""Liveness checks of the backing services, for /health/ and `manage.py embedded status`.

/health/ answers every caller with the overall status and its HTTP code (200/503); the report's
details only to staff or to the holder of HEALTH_TOKEN (`health_details_allowed`)."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.db import connection

from apps.core.outages import outage_counts


def _timed(check: Callable[[], dict]) -> dict:
    started = time.perf_counter()
    try:
        result = {"ok": True, **check()}
    except Exception as exc:  # noqa: BLE001 - a health check reports every failure, it never raises
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    result["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return result


def check_database() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        row = cursor.fetchone()
    return {"pgvector": row[0] if row else None}


def check_redis() -> dict:
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=settings.HEALTH_TIMEOUT)
    try:
        client.ping()
    finally:
        client.close()
    return {}


def check_graph() -> dict:
    from apps.core.graph import graph_enabled, graph_query

    if not graph_enabled():
        return {"enabled": False}
    rows = graph_query("RETURN 1 AS ok")
    if rows != [{"ok": 1}]:
        raise RuntimeError(f"unexpected answer {rows!r}")
    return {"enabled": True}


def check_celery() -> dict:
    from config.celery_app import app

    # limit=1: answer as soon as one worker replies instead of waiting out the whole timeout.
    replies = app.control.ping(timeout=settings.HEALTH_TIMEOUT, limit=1)
    workers = sorted(name for reply in replies for name in reply)
    if not workers:
        raise RuntimeError("no Celery worker answered the ping")
    return {"workers": workers}


#: informational figures attached to a check's report, {(check, name): figure}: an app registers
#: its own in `AppConfig.ready()` (recommendations: the graph outbox backlog under "graph"), so
#: core shows them without importing any app.
_FIGURES: dict[tuple[str, str], Callable[[], dict]] = {}


def health_figure_register(*, check: str, name: str, figure: Callable[[], dict]) -> None:
    """Show `figure()` as `checks[check][name]` in every report. A figure never fails the check;
    it is computed even when the check failed (a backlog grows while its service is down)."""
    _FIGURES[(check, name)] = figure


def _figure(figure: Callable[[], dict]) -> dict:
    try:
        return figure()
    except Exception as exc:  # noqa: BLE001 - a health check reports every failure, it never raises
        return {"error": f"{type(exc).__name__}: {exc}"[:300]}


def figures() -> dict[tuple[str, str], dict]:
    """Every registered figure, computed now ({(check, name): figure}); also exported as gauges by
    /metrics (apps.core.metrics)."""
    return {key: _figure(figure) for key, figure in _FIGURES.items()}


def health_details_allowed(request) -> bool:
    """Whether the caller may see the report's details (versions, worker names, backlogs, latencies,
    errors): a staff user signed in to the admin (session) or sending a JWT, or anyone presenting
    HEALTH_TOKEN as `X-Health-Token: <token>` or `Authorization: Bearer <token>` (compared in
    constant time). Everyone else learns the overall status only (issue 13, finding 9)."""
    import hmac

    expected = settings.HEALTH_TOKEN
    if expected:
        authorization = request.META.get("HTTP_AUTHORIZATION", "")
        bearer = authorization[7:].strip() if authorization[:7].lower() == "bearer " else ""
        for offered in (request.META.get("HTTP_X_HEALTH_TOKEN", ""), bearer):
            if offered and hmac.compare_digest(offered.encode(), expected.encode()):
                return True
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        user = _jwt_user(request)
    return bool(user is not None and user.is_active and user.is_staff)


def _jwt_user(request):
    """The user of a valid JWT access token in the Authorization header, else None."""
    from rest_framework.exceptions import AuthenticationFailed
    from rest_framework.settings import api_settings
    from rest_framework_simplejwt.authentication import JWTAuthentication

    # The API's own JWT authentication (apps.users.authentication's, from the settings: core imports no app).
    jwt = next((cls for cls in api_settings.DEFAULT_AUTHENTICATION_CLASSES if issubclass(cls, JWTAuthentication)), None)
    if jwt is None:
        return None
    try:
        found = jwt().authenticate(request)
    except AuthenticationFailed:
        return None
    return found[0] if found else None


def health_report() -> tuple[bool, dict]:
    """(healthy, report): healthy when every required check passed."""
    from apps.core.graph import graph_enabled

    checks = {
        "database": (check_database, True),
        "redis": (check_redis, True),
        "graph": (check_graph, settings.HEALTH_REQUIRE_GRAPH and graph_enabled()),
        "celery": (check_celery, settings.HEALTH_REQUIRE_CELERY),
    }
    report = {}
    healthy = True
    for name, (check, required) in checks.items():
        report[name] = {**_timed(check), "required": required}
        if required and not report[name]["ok"]:
            healthy = False
    for (check, name), figure in figures().items():
        if check in report:
            report[check][name] = figure
    failing = [name for name, result in report.items() if result["required"] and not result["ok"]]
    return healthy, {
        "status": "ok" if healthy else "unavailable",
        "failing": failing,
        "checks": report,
        # Outages this process absorbed (fail-open cache calls, lost publishes, 503 answers) since it started.
        "outages": outage_counts(),
    }
