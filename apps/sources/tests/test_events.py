"""The domain event of website sources (STYLE.md §9): `crawl_finished` once when a run ends (finished, failed,
cancelled before it started), with the run's page counts, inside the transaction that ends it."""

import pytest
from protego import Protego

from apps.core.tests.local_site import LocalSite, Page
from apps.sources import crawl, events
from apps.sources.models import CrawlSource
from apps.sources.services import crawl_cancel
from apps.sources.tests.factories import CrawlSourceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent():
    received = []

    def receiver(sender, signal, **kwargs):
        received.append(kwargs)

    events.crawl_finished.connect(receiver, dispatch_uid="test_sources_events")
    yield received
    events.crawl_finished.disconnect(dispatch_uid="test_sources_events")


def test_a_finished_crawl_sends_crawl_finished_with_its_page_counts(settings, sent):
    """issue 17 item 5: one event with the run's number, status and pages by state."""
    settings.FETCH_ALLOWED_PRIVATE_NETWORKS = ["127.0.0.0/8"]
    with LocalSite() as site:
        site.pages["/robots.txt"] = Page(b"User-agent: *\nDisallow: /private\n", "text/plain")
        site.pages["/"] = Page(b'<html><body><p>Start.</p><a href="/private/x">x</a></body></html>')
        source = CrawlSourceFactory(url=site.url("/"), run=1, status="queued")
        assert crawl.crawl_run(organization_id=source.organization_id, source_id=source.pk, run=1) == "finished"
    assert sent == [
        {
            "organization_id": source.organization_id, "bot_id": source.bot_id, "source_id": source.pk, "run": 1,
            "status": "finished", "pages": {"ingested": 1, "skipped": 1},
        }
    ]  # fmt: skip


def test_a_failed_run_and_a_cancelled_queued_run_send_it_too(sent, monkeypatch):
    """A run ending on an unexpected error, and a queued run cancelled before it started, each end once."""
    source = CrawlSourceFactory(run=1, status="queued")

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(crawl, "_robots", lambda url: Protego.parse(""))
    monkeypatch.setattr(crawl, "_seed", broken)
    assert crawl.crawl_run(organization_id=source.organization_id, source_id=source.pk, run=1) == "failed"
    queued = CrawlSourceFactory(run=3, status="queued")
    crawl_cancel(source=queued)
    assert CrawlSource.objects.get(pk=queued.pk).status == "cancelled"
    assert [(event["source_id"], event["run"], event["status"]) for event in sent] == [
        (source.pk, 1, "failed"), (queued.pk, 3, "cancelled"),
    ]  # fmt: skip
