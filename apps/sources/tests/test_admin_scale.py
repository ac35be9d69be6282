"""The crawl source's change page at a real customer's size: the pages inline shows the first INLINE_PAGES pages
with their documents joined (5,000 pages drew 5,000 rows with one query each for the document: 8.6 s, 1,007
queries), beside the current run's pages by state linked to the read-only page list, which filters and searches
them all."""

import pytest
from django.urls import reverse

from apps.core.tests.admin_pages import change_page
from apps.documents.tests.factories import DocumentFactory
from apps.sources.admin import INLINE_PAGES
from apps.sources.models import CrawlPage
from apps.sources.tests.factories import CrawlPageFactory, CrawlSourceFactory

pytestmark = pytest.mark.django_db


def pages(source, number: int, start: int = 0):
    for n in range(start, start + number):
        document = DocumentFactory(bot=source.bot)
        url = f"{source.url}page-{n}"
        CrawlPageFactory(source=source, url=url, document=document, run=source.run, state="ingested")


def test_the_change_page_is_bounded_in_rows_and_queries(staff_client, monkeypatch):
    monkeypatch.setattr("apps.sources.admin.INLINE_PAGES", 5)
    source = CrawlSourceFactory(run=2)
    pages(source, 2)
    change_page(staff_client, source)  # the first request of the session loads what later ones find cached
    _text, few = change_page(staff_client, source)
    pages(source, 10, start=2)
    CrawlPageFactory(source=source, url=f"{source.url}old", run=1, state="failed")

    text, many = change_page(staff_client, source)

    assert many == few
    assert 'name="pages-TOTAL_FORMS" value="5"' in text
    link = f'href="{reverse("admin:sources_crawlpage_changelist")}?source__id__exact={source.pk}"'
    assert f"Run 2: 12 ingested · <a {link}>all 13 pages</a>" in text


def test_the_page_list_filters_and_searches_every_page(staff_client):
    source = CrawlSourceFactory(run=1)
    pages(source, INLINE_PAGES + 1)
    failed = CrawlPageFactory(source=source, url=f"{source.url}broken", run=1, state="failed", error="HTTP 500")
    url = reverse("admin:sources_crawlpage_changelist")

    everything = staff_client.get(url, {"source__id__exact": source.pk})
    by_state = staff_client.get(url, {"state__exact": "failed"})
    searched = staff_client.get(url, {"q": "broken"})

    assert everything.context["cl"].result_count == INLINE_PAGES + 2
    assert [p.pk for p in by_state.context["cl"].result_list] == [failed.pk]
    assert [p.pk for p in searched.context["cl"].result_list] == [failed.pk]
    assert staff_client.get(reverse("admin:sources_crawlpage_change", args=[failed.pk])).status_code == 200
    assert CrawlPage.objects.count() == INLINE_PAGES + 2
