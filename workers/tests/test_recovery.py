"""Redelivery settings of the long idempotent tasks and the recovery beat task (docs/recovery.md)."""

from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.utils import timezone

from apps.documents.models import Document
from apps.documents.tests.factories import DocumentFactory
from apps.documents.tests.utils import INGESTION_LIST
from config.celery_app import app
from workers.tasks import maintenance

# Idempotent tasks that may run long: a lost worker child gets them redelivered.
REDELIVERED = [
    "documents.extract_chunk",
    "documents.embed",
    "documents.finalize",
    "progress.content_embed",
    "recommendations.train",
    "recommendations.graph_refresh",
    "personality.profile_recompute",
]


@pytest.mark.parametrize("name", REDELIVERED)
def test_idempotent_long_tasks_are_redelivered_when_their_worker_is_lost(name):
    task = app.tasks[name]
    assert task.acks_late is True
    assert task.reject_on_worker_lost is True


def test_hard_time_limits_stay_below_the_broker_visibility_timeout():
    """Otherwise Redis would hand a still-running task to a second worker."""
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    limits = [settings.CELERY_TASK_TIME_LIMIT] + [app.tasks[name].time_limit or 0 for name in REDELIVERED]
    assert max(limits) < visibility
    assert settings.CELERY_WORKER_PREFETCH_MULTIPLIER == 1


def test_the_recovery_sweep_runs_on_beat():
    entry = settings.CELERY_BEAT_SCHEDULE["work-recover-stuck"]
    assert entry["task"] == "maintenance.work_recover_stuck"
    assert entry["schedule"] == timedelta(seconds=settings.RECOVERY_SWEEP_INTERVAL_SECONDS)


@pytest.mark.django_db
def test_work_recover_stuck_task_requeues_a_stuck_document(django_capture_on_commit_callbacks, settings):
    settings.RECOVERY_LEASE_SECONDS = 60
    document = DocumentFactory(status=Document.Status.PROCESSING)
    then = timezone.now() - timedelta(minutes=10)
    Document.objects.filter(pk=document.pk).update(heartbeat_at=then, updated_at=then)
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    extractions = INGESTION_LIST
    before = set(client.lrange(extractions, 0, -1))
    try:
        with django_capture_on_commit_callbacks(execute=True):
            result = maintenance.work_recover_stuck()
        assert result["documents_requeued"] == [document.pk] and result["documents_failed"] == []
        published = [raw for raw in client.lrange(extractions, 0, -1) if raw not in before]
        assert len(published) == 1
        document.refresh_from_db()
        assert document.interruptions == 1
        assert maintenance.work_recover_stuck()["documents_requeued"] == []
    finally:
        for raw in set(client.lrange(extractions, 0, -1)) - before:
            client.lrem(extractions, 0, raw)


def test_worker_children_run_at_a_lower_cpu_priority():
    """worker_process_init lowers each child's priority by WORKER_NICENESS, so requests on the same
    machine get the CPU first (issue 12: request p99 during an import)."""
    import subprocess
    import sys

    from django.conf import settings

    code = (
        "import os, django; django.setup(); from config.celery_app import worker_lower_priority; "
        "worker_lower_priority(); first = os.nice(0); worker_lower_priority(); print(first, os.nice(0))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    first, second = (int(value) for value in out.stdout.strip().splitlines()[-1].split())
    # At least WORKER_NICENESS (the test process may already run niced: in-thread solo workers send
    # the same signal), and a floor, not an increment: a second signal changes nothing.
    assert first >= settings.WORKER_NICENESS
    assert second == first
