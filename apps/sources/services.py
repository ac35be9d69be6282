"""What an owner does with a bot's website sources: add one, crawl it again (now, or resume a
cancelled crawl), cancel a crawl, delete it (its documents with it); and the beat sweep that starts
scheduled re-crawls. The crawl itself is `crawl.py`, run by the `sources.crawl` task."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.core.exceptions import ApplicationError
from apps.core.fetch import FetchError, url_target
from apps.documents.services.upload import documents_delete
from apps.sources.events import crawl_finished_send
from apps.sources.models import CrawlPage, CrawlSource


def crawl_enqueue(source: CrawlSource) -> None:
    from apps.core.tasks import enqueue_on_commit
    from workers.tasks.sources import source_crawl

    enqueue_on_commit(source_crawl, source.organization_id, source.pk, source.run)


def source_url_check(url: str) -> None:
    """400 with the reason for a URL Beacon will not fetch (scheme, unresolvable, private address)."""
    try:
        url_target(url)
    except FetchError as exc:
        raise ApplicationError(exc.message, code=exc.code) from exc


@transaction.atomic
def source_create(
    *,
    organization,
    bot,
    url: str,
    kind: str = CrawlSource.Kind.SITE,
    max_pages: int | None = None,
    max_depth: int | None = None,
    recrawl_every_hours: int | None = None,
    delay_seconds: float | None = None,
    created_by=None,
) -> CrawlSource:
    """A website source of `bot`, its first crawl queued."""
    assert bot.organization_id == organization.pk
    source_url_check(url)
    if CrawlSource.objects.filter(bot=bot, url=url).exists():
        raise ApplicationError(f"This bot already has a source for {url}.", code="duplicate_source", status_code=409)
    source = CrawlSource.objects.create(
        organization=organization,
        bot=bot,
        url=url,
        kind=kind,
        max_pages=max_pages or settings.CRAWL_DEFAULT_MAX_PAGES,
        max_depth=settings.CRAWL_DEFAULT_MAX_DEPTH if max_depth is None else max_depth,
        recrawl_every_hours=recrawl_every_hours,
        delay_seconds=delay_seconds,
        created_by=created_by,
    )
    return crawl_start(source=source)


@transaction.atomic
def crawl_start(*, source: CrawlSource, resume: bool = False) -> CrawlSource:
    """Queue a new crawl run of `source` (409 while one is queued or running). With `resume`, a
    cancelled or failed run continues with the pages it had not reached yet."""
    source = CrawlSource.objects.select_for_update().get(pk=source.pk)
    if source.status in CrawlSource.ACTIVE:
        raise ApplicationError("A crawl of this source is already running.", code="crawl_running", status_code=409)
    resumable = source.status in (CrawlSource.Status.CANCELLED, CrawlSource.Status.FAILED) and source.run > 0
    if resume and not resumable:
        raise ApplicationError("Only a cancelled or failed crawl can be resumed.", code="not_resumable")
    if not resume:
        source.run += 1
        source.crawl_started_at = timezone.now()
    # Seeding is idempotent (a URL already in the run keeps its state): a resumed run continues its queue.
    source.status = CrawlSource.Status.QUEUED
    source.cancel_requested = False
    source.error = ""
    source.crawl_finished_at = None
    source.next_crawl_at = None
    source.save()
    crawl_enqueue(source)
    return source


@transaction.atomic
def crawl_cancel(*, source: CrawlSource) -> CrawlSource:
    """Ask the running crawl to stop after its current page (a queued one stops before its first)."""
    source = CrawlSource.objects.select_for_update().get(pk=source.pk)
    if source.status not in CrawlSource.ACTIVE:
        raise ApplicationError("No crawl of this source is running.", code="crawl_not_running", status_code=409)
    if source.status == CrawlSource.Status.QUEUED:
        # Not started: nothing to wait for (a task arriving later finds the run over).
        source.status = CrawlSource.Status.CANCELLED
        source.crawl_finished_at = timezone.now()
        crawl_finished_send(
            organization_id=source.organization_id,
            bot_id=source.bot_id,
            source_id=source.pk,
            run=source.run,
            status=str(source.status),
            pages={},
        )
    else:
        source.cancel_requested = True
    source.save()
    return source


def bot_crawls_cancel(*, organization_id: int, bot_id: int) -> int:
    """Ask every queued or running crawl of a bot to stop (the bot was deleted): a running one stops after its
    current page, a queued one before its first. Returns how many were asked."""
    return CrawlSource.objects.filter(
        organization_id=organization_id, bot_id=bot_id, status__in=CrawlSource.ACTIVE, cancel_requested=False
    ).update(cancel_requested=True)


@transaction.atomic
def source_delete(*, source: CrawlSource) -> None:
    """Delete the source, its page rows and the documents its pages became (together: a source of 473 pages took
    83.8 s one document at a time)."""
    documents_delete(documents=list(_documents_of(source.pages.all())))
    CrawlPage.objects.filter(source=source).delete()
    source.delete()


def _documents_of(pages):
    return _documents_of_ids(set(pages.exclude(document=None).values_list("document_id", flat=True)))


def _documents_of_ids(ids):
    from apps.documents.models import Document

    # An uploaded document with the same bytes as a page stands for the upload: it stays. A page's new version still
    # in the pipeline takes the version it replaces with it (no page points to that one: it would stay searchable).
    pages = Document.objects.filter(pk__in=ids, source=Document.Source.URL)
    replaced = pages.exclude(replaces=None).values("replaces_id")
    return (
        Document.objects.filter(Q(pk__in=pages.values("pk")) | Q(pk__in=replaced, source=Document.Source.URL))
        .order_by("id")
        .only("id")
    )


#: pages retired per transaction
RETIRE_BATCH = 500


def pages_retire(*, source: CrawlSource, pages) -> int:
    """Retire pages gone from the site: their documents are deleted (unless a page not retired here still has the
    same content, or it is an uploaded document with the same bytes), together (`documents_delete`), RETIRE_BATCH
    pages a transaction; the rows stay as `retired`."""
    pages = list(pages)
    for start in range(0, len(pages), RETIRE_BATCH):
        batch = pages[start : start + RETIRE_BATCH]
        ids = [page.pk for page in batch]
        with transaction.atomic():
            documents = {page.document_id for page in batch if page.document_id is not None}
            kept = CrawlPage.objects.filter(document_id__in=documents).exclude(pk__in=ids)
            gone = documents - set(kept.values_list("document_id", flat=True))
            documents_delete(documents=list(_documents_of_ids(gone)))
            CrawlPage.objects.filter(pk__in=ids).update(state=CrawlPage.State.RETIRED, document=None, run=source.run)
    return len(pages)


def sources_recrawl_due(*, now=None) -> int:
    """Start the scheduled re-crawls that are due (beat, `sources.recrawl_due`); the count started."""
    now = now or timezone.now()
    due = CrawlSource.objects.filter(next_crawl_at__lte=now, bot__deleted_at__isnull=True).exclude(
        status__in=CrawlSource.ACTIVE
    )  # a deleted bot's sources wait for its purge
    started = 0
    for source in due.order_by("next_crawl_at")[:100]:
        try:
            crawl_start(source=source)
            started += 1
        except ApplicationError:  # started meanwhile by a person
            continue
    return started


def sources_stalled_resume(*, now=None) -> int:
    """Queue again the crawls whose task was lost (a publish that failed, a worker killed past its
    redelivery): a running crawl touches its source after every page, so one quiet for longer than
    `RECOVERY_LEASE_SECONDS` has no task. The task continues the run's queue."""
    now = now or timezone.now()
    stalled = CrawlSource.objects.filter(
        status__in=CrawlSource.ACTIVE,
        updated_at__lt=now - timedelta(seconds=settings.RECOVERY_LEASE_SECONDS),
        bot__deleted_at__isnull=True,
    )
    count = 0
    for source in stalled.order_by("updated_at")[:100]:
        with transaction.atomic():
            CrawlSource.objects.filter(pk=source.pk).update(updated_at=now)
            crawl_enqueue(source)
        count += 1
    return count


def next_crawl_time(source: CrawlSource):
    if not source.recrawl_every_hours:
        return None
    return timezone.now() + timedelta(hours=source.recrawl_every_hours)
