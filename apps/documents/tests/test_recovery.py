"""Recovery of documents whose worker or task was lost (issue 12, point 7; docs/recovery.md).

The sweep (`documents_recover_stuck`) and the stage lease (`document_stage_claim`) against the real
PostgreSQL and the real Redis broker: a re-enqueued document is proved by its message in the broker's
"ingestion" queue, in its list for INGESTION_PRIORITY (removed again at the end of each test). No worker runs here;
the SIGKILL drill with a real worker process is in test_recovery_worker.py.

Coverage:
- a `pending` document with no task, older than the grace period -> `processing`, fresh heartbeat,
  one interruption, one pipeline message published; a recent `pending` one is left alone;
- a `processing` document whose heartbeat expired -> re-enqueued; a fresh one is left alone;
- past RECOVERY_MAX_ATTEMPTS the sweep ends it `failed` with the readable error, its half-built
  chunks dropped, nothing published;
- two sweeps at once: the second skips the rows the first holds (SKIP LOCKED), a later one finds
  nothing due; exactly one message is published;
- the stage lease: the same delivery token again counts an interruption (a redelivery), past the
  limit the document fails; a later stage of the same chain is no interruption; another chain is
  refused while the holder's heartbeat is fresh and takes over once it expired; ready and failed
  documents are never claimed; reprocess starts a fresh count.
"""

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from apps.core.tests.broker import Published
from apps.documents.models import Chunk, Document
from apps.documents.services.recovery import document_stage_claim, documents_recover_stuck
from apps.documents.services.upload import document_reprocess
from apps.documents.tests.factories import DocumentFactory
from apps.documents.tests.utils import INGESTION_LIST

QUEUE = INGESTION_LIST


@pytest.fixture
def broker():
    """The pipeline messages published for a document (removed again afterwards)."""
    published = Published(QUEUE)
    yield lambda document_id: published.find("documents.extract_chunk", lambda message: message.args[1] == document_id)
    published.clear()


def _age(document: Document, *, seconds: float, heartbeat: bool = True) -> None:
    """Make the row look `seconds` old (its last update and, if asked, its heartbeat)."""
    then = timezone.now() - timedelta(seconds=seconds)
    Document.objects.filter(pk=document.pk).update(updated_at=then, heartbeat_at=then if heartbeat else None)


@pytest.mark.django_db
def test_sweep_requeues_a_pending_document_whose_publish_was_lost(broker, django_capture_on_commit_callbacks, settings):
    settings.RECOVERY_PENDING_GRACE_SECONDS = 60
    lost = DocumentFactory()
    recent = DocumentFactory()
    _age(lost, seconds=120, heartbeat=False)
    _age(recent, seconds=10, heartbeat=False)

    with django_capture_on_commit_callbacks(execute=True):
        report = documents_recover_stuck()

    assert report.requeued == [lost.pk] and report.failed == []
    lost.refresh_from_db()
    assert lost.status == Document.Status.PENDING
    assert lost.interruptions == 0 and lost.lease_owner == ""
    assert timezone.now() - lost.updated_at < timedelta(seconds=60)
    assert len(broker(lost.pk)) == 1
    recent.refresh_from_db()
    assert recent.status == Document.Status.PENDING and recent.interruptions == 0
    assert broker(recent.pk) == []


@pytest.mark.django_db
def test_a_document_waiting_behind_a_long_queue_is_published_again_but_never_failed(
    broker, django_capture_on_commit_callbacks, settings
):
    """A big upload can keep documents pending for longer than grace x attempt limit: each sweep
    publishes them again (duplicates return at once), none counts as an interruption."""
    settings.RECOVERY_PENDING_GRACE_SECONDS = 60
    settings.RECOVERY_MAX_ATTEMPTS = 2
    waiting = DocumentFactory()
    for _sweep in range(5):
        _age(waiting, seconds=120, heartbeat=False)
        with django_capture_on_commit_callbacks(execute=True):
            report = documents_recover_stuck()
        assert report.requeued == [waiting.pk] and report.failed == []
    waiting.refresh_from_db()
    assert (waiting.status, waiting.interruptions) == (Document.Status.PENDING, 0)
    assert len(broker(waiting.pk)) == 5


@pytest.mark.django_db
def test_sweep_requeues_processing_documents_whose_heartbeat_expired(
    broker, django_capture_on_commit_callbacks, settings
):
    settings.RECOVERY_LEASE_SECONDS = 60
    stuck = DocumentFactory(status=Document.Status.PROCESSING, lease_owner="root/task/0", chunks_total=452)
    alive = DocumentFactory(status=Document.Status.PROCESSING, lease_owner="other/task/0")
    _age(stuck, seconds=300)
    _age(alive, seconds=5)

    with django_capture_on_commit_callbacks(execute=True):
        report = documents_recover_stuck()

    assert report.requeued == [stuck.pk]
    stuck.refresh_from_db()
    assert (stuck.status, stuck.interruptions, stuck.lease_owner) == ("pending", 1, "")
    assert len(broker(stuck.pk)) == 1
    alive.refresh_from_db()
    assert (alive.interruptions, alive.lease_owner) == (0, "other/task/0")
    assert broker(alive.pk) == []


@pytest.mark.django_db
def test_sweep_fails_a_document_past_the_attempt_limit_with_a_readable_error(
    broker, django_capture_on_commit_callbacks, settings
):
    settings.RECOVERY_LEASE_SECONDS = 60
    settings.RECOVERY_MAX_ATTEMPTS = 3
    document = DocumentFactory(status=Document.Status.PROCESSING, interruptions=3)
    Chunk.objects.create(
        organization=document.organization, bot=document.bot, document=document, position=0, text="half built",
        content_hash="x",
    )  # fmt: skip
    _age(document, seconds=600)

    with django_capture_on_commit_callbacks(execute=True):
        report = documents_recover_stuck()

    assert report.failed == [document.pk] and report.requeued == []
    document.refresh_from_db()
    assert document.status == Document.Status.FAILED
    assert document.interruptions == 4
    assert document.error.startswith("Processing was interrupted 4 times (the worker stopped or its task was lost;")
    assert "last seen working at " in document.error
    assert document.error.endswith("use 'reprocess' to try again.")
    assert not Chunk.objects.filter(document=document).exists()
    assert broker(document.pk) == []
    # A failed document is never picked again.
    with django_capture_on_commit_callbacks(execute=True):
        assert documents_recover_stuck().failed == []


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_sweeps_at_once_recover_a_document_once(broker, settings):
    """The first sweep holds its row locks until its transaction ends; the second, meanwhile, skips
    those rows instead of waiting or recovering them again; a third, after the commit, finds nothing due."""
    settings.RECOVERY_LEASE_SECONDS = 60
    document = DocumentFactory(status=Document.Status.PROCESSING)
    _age(document, seconds=600)
    locked, release = threading.Event(), threading.Event()
    reports = {}

    def first_sweep():
        try:
            with transaction.atomic():
                reports["first"] = documents_recover_stuck()
                locked.set()
                release.wait(timeout=60)
        finally:
            locked.set()
            connection.close()

    thread = threading.Thread(target=first_sweep)
    thread.start()
    try:
        assert locked.wait(timeout=60)
        reports["second"] = documents_recover_stuck()
    finally:
        release.set()
        thread.join(timeout=60)
    reports["third"] = documents_recover_stuck()

    assert reports["first"].requeued == [document.pk]
    assert reports["second"].requeued == [] and reports["second"].failed == []
    assert reports["third"].requeued == [] and reports["third"].failed == []
    document.refresh_from_db()
    assert document.interruptions == 1
    assert len(broker(document.pk)) == 1


def _claim(document, token, stage="embed"):
    return document_stage_claim(
        organization_id=document.organization_id, document_id=document.pk, token=token, stage=stage
    )


@pytest.mark.django_db
def test_a_redelivered_stage_counts_an_interruption_and_fails_past_the_limit(settings):
    settings.RECOVERY_MAX_ATTEMPTS = 2
    document = DocumentFactory(status=Document.Status.PROCESSING)
    token = "chain-1/embed-task/0"
    assert _claim(document, token) is not None
    document.refresh_from_db()
    assert (document.lease_owner, document.interruptions) == (token, 0)

    # The same delivery again: its worker died and the broker redelivered it.
    assert _claim(document, token) is not None
    assert _claim(document, token) is not None
    document.refresh_from_db()
    assert document.interruptions == 2 and document.status == Document.Status.PROCESSING

    assert _claim(document, token) is None
    document.refresh_from_db()
    assert document.status == Document.Status.FAILED
    assert document.error.startswith("Processing was interrupted 3 times")


@pytest.mark.django_db
def test_the_next_stage_of_the_same_chain_and_a_retry_are_no_interruption():
    document = DocumentFactory(status=Document.Status.PENDING)
    assert _claim(document, "chain-1/extract-task/0", stage="extract") is not None
    Document.objects.filter(pk=document.pk).update(status=Document.Status.PROCESSING)
    assert _claim(document, "chain-1/embed-task/0") is not None
    assert _claim(document, "chain-1/embed-task/1") is not None  # self.retry(): next retry number
    assert _claim(document, "chain-1/finalize-task/0", stage="finalize") is not None
    document.refresh_from_db()
    assert document.interruptions == 0


@pytest.mark.django_db
def test_another_chain_waits_for_a_live_lease_and_takes_over_an_expired_one(settings):
    settings.RECOVERY_LEASE_SECONDS = 60
    document = DocumentFactory(status=Document.Status.PROCESSING, lease_owner="chain-1/embed-task/0")
    Document.objects.filter(pk=document.pk).update(heartbeat_at=timezone.now())
    assert _claim(document, "chain-2/extract-task/0", stage="extract") is None
    assert _claim(document, "chain-2/embed-task/0") is None

    _age(document, seconds=300)
    assert _claim(document, "chain-2/extract-task/0", stage="extract") is not None
    document.refresh_from_db()
    assert document.lease_owner == "chain-2/extract-task/0" and document.interruptions == 0


@pytest.mark.django_db
@pytest.mark.parametrize("status", [Document.Status.READY, Document.Status.FAILED])
def test_ready_and_failed_documents_are_never_claimed(status):
    document = DocumentFactory(status=status)
    for stage in ("extract", "embed", "finalize"):
        assert _claim(document, f"late/{stage}/0", stage=stage) is None
    document.refresh_from_db()
    assert document.status == status and document.lease_owner == ""


@pytest.mark.django_db
def test_a_pending_document_is_claimed_by_extraction_only():
    document = DocumentFactory(status=Document.Status.PENDING)
    assert _claim(document, "chain-1/embed-task/0") is None
    assert _claim(document, "chain-1/finalize-task/0", stage="finalize") is None
    assert _claim(document, "chain-1/extract-task/0", stage="extract") is not None


@pytest.mark.django_db
def test_reprocess_starts_a_fresh_count_of_interruptions():
    document = DocumentFactory(
        status=Document.Status.FAILED, interruptions=4, lease_owner="", error="Processing was interrupted 4 times"
    )
    document_reprocess(document=document)
    document.refresh_from_db()
    assert (document.status, document.interruptions, document.error) == ("pending", 0, "")
