"""Observability (issue 16): request ids in headers, log lines and the tasks a request enqueued;
JSON log lines; /metrics (protected, the named metrics); /health/live and /health/ready; Sentry
on only with a DSN, sending to that DSN alone.

Real services throughout: the request goes through the whole middleware chain, its task through
the embedded Redis broker to a real worker (in a thread of this process: the request id can only
arrive there in the message's header, the context variable is per thread).
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import os
import subprocess
import sys
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.utils.module_loading import import_string

from apps.core.logcontext import LogContextFilter, request_id_set, task_set
from apps.core.tests.test_health import closed_port
from apps.core.tests.waiting import until
from config.log import logging_config
from conftest import client_for

HEALTH_TOKEN = "a-metrics-token-for-tests"


@pytest.fixture(autouse=True)
def _health_token(settings):
    settings.HEALTH_TOKEN = HEALTH_TOKEN


def json_formatter() -> logging.Formatter:
    """The formatter LOG_FORMAT=json configures (config/log.py)."""
    config = dict(logging_config(level="INFO", fmt="json")["formatters"]["json"])
    return import_string(config.pop("()"))(**config)


class JsonLines:
    """The root logger's lines as LOG_FORMAT=json writes them (formatter and filter of config/log.py)."""

    def __init__(self):
        self.stream = io.StringIO()
        self.handler = logging.StreamHandler(self.stream)
        self.handler.setFormatter(json_formatter())
        self.handler.addFilter(LogContextFilter())
        self.lock = threading.Lock()

    def lines(self) -> list[dict]:
        with self.lock:
            text = self.stream.getvalue()
        return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture
def json_lines():
    lines = JsonLines()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(lines.handler)
    root.setLevel(logging.INFO)
    yield lines
    root.removeHandler(lines.handler)
    root.setLevel(previous)


# --------------------------------------------------------------------------- request id


def test_request_id_is_made_returned_and_kept_when_sane(db):
    """No X-Request-ID: a new one (32 hex digits), a different one per request; a sane incoming id is
    kept; on errors too (an unknown API path answers 404 with the header)."""
    client = Client()
    first = client.get("/health/live")["X-Request-ID"]
    second = client.get("/health/live")["X-Request-ID"]
    assert len(first) == 32 and int(first, 16) >= 0 and first != second
    for offered in ("3f2c1e0a-1b2c-4d5e-8f90-123456789abc", "lb-1.req:42", "a" * 128):
        assert client.get("/health/live", HTTP_X_REQUEST_ID=offered)["X-Request-ID"] == offered
    missing = client.get("/api/v1/no-such-thing/", HTTP_X_REQUEST_ID="trace-404")
    assert (missing.status_code, missing["X-Request-ID"]) == (404, "trace-404")


@pytest.mark.parametrize(
    "offered",
    ["", "has space", "a" * 129, '"quoted"', "<script>", "-leading-dash", "ünïcode", "semi;colon"],
    ids=["empty", "space", "too-long", "quotes", "markup", "leading-dash", "non-ascii", "semicolon"],
)
def test_an_insane_request_id_is_replaced(db, offered):
    """An incoming id that is empty, too long or holds other characters is never echoed or logged."""
    answered = Client().get("/health/live", HTTP_X_REQUEST_ID=offered)["X-Request-ID"]
    assert answered != offered and len(answered) == 32


def test_json_log_line_shape():
    """LOG_FORMAT=json: one JSON object per line with timestamp, level, logger, process and message,
    plus request_id, task_id and task_name when known; a traceback stays inside the one line."""
    lines = JsonLines()
    logger = logging.getLogger("beacon.test.json")
    logger.propagate = False
    logger.addHandler(lines.handler)
    try:
        logger.warning("plain %s", "line")
        request_id_set("req-1")
        task_set("task-1", "maintenance.ping")
        try:
            raise ValueError("broken\nacross lines")
        except ValueError:
            logger.exception("failed")
    finally:
        request_id_set(None)
        task_set(None, None)
        logger.removeHandler(lines.handler)
        logger.propagate = True
    text = lines.stream.getvalue()
    assert len(text.splitlines()) == 2
    plain, failed = lines.lines()
    assert set(plain) == {"timestamp", "level", "logger", "process", "message"}
    assert (plain["level"], plain["logger"], plain["message"]) == ("WARNING", "beacon.test.json", "plain line")
    assert plain["timestamp"].endswith("+00:00") and plain["process"] == os.getpid()
    assert set(failed) == {
        "timestamp",
        "level",
        "logger",
        "process",
        "message",
        "exc_info",
        "request_id",
        "task_id",
        "task_name",
    }
    assert (failed["request_id"], failed["task_id"], failed["task_name"]) == ("req-1", "task-1", "maintenance.ping")
    assert "ValueError: broken\nacross lines" in failed["exc_info"]


def test_text_format_and_unknown_format():
    """LOG_FORMAT=text shows the request id in brackets ("-" when none); another value is refused."""
    from django.core.exceptions import ImproperlyConfigured

    config = dict(logging_config(level="INFO", fmt="text")["formatters"]["text"])
    formatter = import_string(config.pop("()"))(**config)
    record = logging.LogRecord("beacon.test", logging.INFO, __file__, 1, "hello", None, None)
    assert formatter.format(record).endswith(f"beacon.test {os.getpid()} [-] hello")
    LogContextFilter().filter(record)
    record.request_id = "req-2"
    assert formatter.format(record).endswith("[req-2] hello")
    with pytest.raises(ImproperlyConfigured):
        logging_config(level="INFO", fmt="xml")


@pytest.mark.worker
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_request_id_reaches_the_task_the_request_enqueued(celery_worker, json_lines, organization, member):
    """A member answers the personality questionnaire: the API enqueues the profile recompute after
    commit; the real worker runs it and the task's log lines carry the request's id, the task's id and
    name. The request's own lines carry the id too."""
    client = client_for(member)
    base = f"/api/v1/orgs/{organization.slug}/personality"
    items = client.get(f"{base}/instrument/").json()["items"]
    answers = {str(item["number"] if "number" in item else item["id"]): 3 for item in items}
    response = client.post(
        f"{base}/assessments/", {"instrument": "mini_ipip", "answers": answers}, format="json",
        HTTP_X_REQUEST_ID="req-personality-1",
    )  # fmt: skip
    assert response.status_code == 201, response.content
    assert response["X-Request-ID"] == "req-personality-1"

    def task_lines():
        return [line for line in json_lines.lines() if line.get("task_name", "").startswith("personality.")]

    until(lambda: any("succeeded" in line["message"] for line in task_lines()), "the recompute task")
    lines = task_lines()
    assert {line["request_id"] for line in lines} == {"req-personality-1"}
    assert all(line["task_id"] for line in lines)
    # Another request, without an id: its task gets the new id the answer returned, not the old one.
    second = client.post(f"{base}/assessments/", {"instrument": "mini_ipip", "answers": answers}, format="json")
    made = second["X-Request-ID"]
    until(lambda: any(line["request_id"] == made for line in task_lines()), "the second recompute task")
    assert {line["request_id"] for line in task_lines()} == {"req-personality-1", made}


# --------------------------------------------------------------------------- metrics


def metrics(client=None, **headers):
    return (client or Client()).get("/metrics", **headers)


def test_metrics_are_for_staff_and_the_token_only(db):
    """Anonymous, a wrong token and a non-staff user get 403 without a metric; the token (as Bearer or
    X-Health-Token) and a staff user get the exposition text."""
    from apps.users.tests.factories import UserFactory

    for response in (
        metrics(),
        metrics(HTTP_X_HEALTH_TOKEN="wrong"),
        metrics(HTTP_AUTHORIZATION="Bearer wrong"),
        metrics(client_for(UserFactory())),
    ):
        assert response.status_code == 403
        assert b"beacon_" not in response.content and b"django_" not in response.content
    staff = Client()
    staff.force_login(UserFactory(is_staff=True))
    for response in (
        metrics(HTTP_X_HEALTH_TOKEN=HEALTH_TOKEN),
        metrics(HTTP_AUTHORIZATION=f"Bearer {HEALTH_TOKEN}"),
        metrics(staff),
    ):
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/plain; version=")
        assert b"beacon_celery_queue_length" in response.content


def test_metrics_off_is_404(db, settings):
    settings.METRICS_ENABLED = False
    assert metrics(HTTP_X_HEALTH_TOKEN=HEALTH_TOKEN).status_code == 404


def samples(response) -> dict[str, float]:
    """{'name{labels}': value} of an exposition text."""
    found = {}
    for line in response.content.decode().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            found[name] = float(value)
    return found


@pytest.mark.worker
def test_metrics_name_requests_tasks_queues_and_the_outbox(celery_worker, db):
    """Request latency by view (django-prometheus), task counts by state and durations (Celery signals
    in the worker), queue lengths and the graph outbox backlog (computed at scrape time)."""
    from workers.tasks.maintenance import ping

    Client().get("/health/live")
    assert ping.delay().get(timeout=20) == "pong"
    # The worker counts a task after its result is stored: wait for the count, not for a time.
    until(
        lambda: samples(metrics(HTTP_X_HEALTH_TOKEN=HEALTH_TOKEN)).get(
            'beacon_celery_tasks_total{state="SUCCESS",task="maintenance.ping"}', 0
        ) >= 1,
        "the task count",
    )  # fmt: skip
    found = samples(metrics(HTTP_X_HEALTH_TOKEN=HEALTH_TOKEN))
    assert found['beacon_celery_task_duration_seconds_count{task="maintenance.ping"}'] >= 1
    assert any(
        name.startswith("django_http_requests_latency_seconds_by_view_method_count") and 'view="health-live"' in name
        for name in found
    ), sorted(found)
    assert {'beacon_celery_queue_length{queue="celery"}', 'beacon_celery_queue_length{queue="ingestion"}'} <= set(found)
    assert {"beacon_graph_outbox_pending", "beacon_graph_outbox_retrying", "beacon_graph_outbox_dead"} <= set(found)


def test_queue_length_counts_waiting_messages(db):
    """A task published with no worker listening is counted in its queue until it is consumed."""
    import redis

    from apps.core.metrics import queue_lengths
    from workers.tasks.maintenance import ping

    before = queue_lengths()["ingestion"]
    ping.apply_async(queue="ingestion")
    assert queue_lengths()["ingestion"] == before + 1
    client = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
    try:
        assert client.lpop("ingestion")  # kombu pushes on the left: this is the message just sent
    finally:
        client.close()
    assert queue_lengths()["ingestion"] == before


# --------------------------------------------------------------------------- live / ready


def test_live_calls_no_dependency(settings):
    """/health/live answers 200 with Redis unreachable and without database access (this test has
    none: a query would raise), with or without the trailing slash, never redirecting."""
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port()}/0"
    for path in ("/health/live", "/health/live/"):
        response = Client().get(path)
        assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_ready_is_the_health_report_with_its_rule(db, settings):
    """/health/ready is /health/: the status for everyone, the report for the token, 503 naming
    the failing dependency."""
    settings.HEALTH_TIMEOUT = 0.3
    settings.HEALTH_REQUIRE_CELERY = False
    settings.HEALTH_REQUIRE_GRAPH = False
    for path in ("/health/ready", "/health/ready/", "/health/"):
        assert Client().get(path).json() == {"status": "ok"}
        assert set(Client().get(path, HTTP_X_HEALTH_TOKEN=HEALTH_TOKEN).json()) == {
            "status", "failing", "checks", "outages"
        }  # fmt: skip
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port()}/0"
    down = Client().get("/health/ready", HTTP_X_HEALTH_TOKEN=HEALTH_TOKEN)
    assert (down.status_code, down.json()["failing"]) == (503, ["redis"])
    assert Client().get("/health/ready").json() == {"status": "unavailable"}


# --------------------------------------------------------------------------- Sentry


def test_sentry_is_off_without_a_dsn():
    """SENTRY_DSN empty (the default): the SDK is not initialised, so nothing can be sent."""
    import sentry_sdk

    from config.sentry import sentry_init

    assert django_settings.SENTRY_DSN == ""
    assert sentry_init(dsn="", environment="x", release="", traces_sample_rate=0.0) is False
    assert not sentry_sdk.get_client().is_active()
    assert sentry_sdk.capture_message("never sent") is None


class Sink:
    """A local stand-in for a Sentry server: stores the envelopes posted to it."""

    def __init__(self):
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                encoding = self.headers.get("Content-Encoding", "")
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                elif encoding == "br":
                    import brotli

                    body = brotli.decompress(body)
                received.append((self.path, body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_sentry_with_a_dsn_reports_there_with_django_and_celery(tmp_path):
    """SENTRY_DSN set: the settings initialise the SDK with the Django and Celery integrations, and
    an event reaches the DSN's server (a local one here) tagged with the current request id. In a
    subprocess, so this test process keeps its Django unpatched."""
    sink = Sink()
    script = """
import django, sentry_sdk
django.setup()
from apps.core.logcontext import request_id_set
client = sentry_sdk.get_client()
names = sorted(client.integrations)
assert client.is_active() and {"django", "celery"} <= set(names), names
request_id_set("req-sentry-1")
sentry_sdk.capture_message("beacon sentry test")
sentry_sdk.flush(10)
print("integrations", names)
"""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "SENTRY_DSN": f"http://public@127.0.0.1:{sink.port}/42",
    }
    try:
        done = subprocess.run(
            [sys.executable, "-c", script],
            env=env,
            cwd=Path(django_settings.BASE_DIR),
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        sink.close()
    assert done.returncode == 0, done.stderr
    assert "integrations" in done.stdout
    paths = {path for path, _body in sink.received}
    assert paths == {"/api/42/envelope/"}, paths
    events = [
        json.loads(line)
        for _path, body in sink.received
        for line in body.decode().splitlines()
        if line.startswith("{") and '"message"' in line
    ]
    event = next(event for event in events if event.get("message") == "beacon sentry test")
    assert event["tags"]["request_id"] == "req-sentry-1"
