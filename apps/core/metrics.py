"""Prometheus metrics behind METRICS_ENABLED (issue 16, docs/operations.md "Metrics").

- HTTP: django-prometheus' middleware (`django_http_requests_latency_seconds_by_view_method`, ...).
- Celery: `beacon_celery_tasks_total{task,state}` and `beacon_celery_task_duration_seconds{task}`,
  counted by Celery signals in the process that runs the task (a worker child). With
  PROMETHEUS_MULTIPROC_DIR set to one directory shared by the web and worker processes of a host
  (prometheus_client's multiprocess mode), the web's /metrics aggregates them all.
- Computed at scrape time: `beacon_celery_queue_length{queue}` (messages waiting in the broker) and
  a gauge per numeric figure registered for /health/ (`beacon_<check>_<name>_<field>`, e.g. the
  graph outbox backlog `beacon_graph_outbox_pending`), so core exposes them without importing apps.
"""

from __future__ import annotations

import os
import time

from prometheus_client import Counter, Histogram

TASKS = Counter("beacon_celery_tasks", "Celery tasks run to an end, by task name and final state.", ["task", "state"])
TASK_SECONDS = Histogram(
    "beacon_celery_task_duration_seconds",
    "Run time of Celery tasks, by task name.",
    ["task"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800),
)
_started: dict[str, float] = {}


def _enabled() -> bool:
    from django.conf import settings

    return settings.METRICS_ENABLED


def _on_prerun(task_id=None, **kwargs) -> None:
    if task_id and _enabled():
        _started[task_id] = time.perf_counter()


def _on_postrun(task_id=None, task=None, state=None, **kwargs) -> None:
    started = _started.pop(task_id, None)
    if not _enabled():
        return
    name = getattr(task, "name", None) or "unknown"
    TASKS.labels(task=name, state=state or "UNKNOWN").inc()
    if started is not None:
        TASK_SECONDS.labels(task=name).observe(time.perf_counter() - started)


def celery_signals_connect() -> None:
    from celery.signals import task_postrun, task_prerun

    task_prerun.connect(_on_prerun, weak=False, dispatch_uid="beacon.metrics.prerun")
    task_postrun.connect(_on_postrun, weak=False, dispatch_uid="beacon.metrics.postrun")


# --------------------------------------------------------------------------- scrape-time gauges


def queue_names() -> list[str]:
    from django.conf import settings

    names = {settings.CELERY_TASK_DEFAULT_QUEUE}
    names.update(route["queue"] for route in settings.CELERY_TASK_ROUTES.values() if "queue" in route)
    return sorted(names)


def queue_lengths() -> dict[str, int]:
    """Messages waiting per queue on the Redis broker (kombu keeps a list per queue and priority)."""
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=settings.HEALTH_TIMEOUT)
    try:
        lengths = {}
        for name in queue_names():
            keys = [name, *(f"{name}\x06\x16{priority}" for priority in range(1, 10))]
            pipe = client.pipeline(transaction=False)
            for key in keys:
                pipe.llen(key)
            lengths[name] = sum(pipe.execute())
        return lengths
    finally:
        client.close()


class ScrapeCollector:
    """Gauges computed when /metrics is read; a failing source is left out, never fails the scrape."""

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        from apps.core.health import figures

        try:
            lengths = queue_lengths()
        except Exception:  # noqa: BLE001 - the broker being down must not fail the scrape
            lengths = {}
        queues = GaugeMetricFamily(
            "beacon_celery_queue_length", "Messages waiting in a Celery queue.", labels=["queue"]
        )
        for name, length in lengths.items():
            queues.add_metric([name], length)
        yield queues
        for (check, name), values in figures().items():
            for field, value in values.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    yield GaugeMetricFamily(f"beacon_{check}_{name}_{field}", f"/health/ figure {check}.{name}", value)


def metrics_text() -> tuple[bytes, str]:
    """The exposition text of this process (or of every process writing to PROMETHEUS_MULTIPROC_DIR)
    plus the scrape-time gauges, and its content type."""
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    scraped = CollectorRegistry(auto_describe=False)
    scraped.register(ScrapeCollector())
    return generate_latest(registry) + generate_latest(scraped), CONTENT_TYPE_LATEST
