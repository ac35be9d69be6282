"""Single steps of a crawl against a local site, without a worker (nothing reaches the upload)."""

import pytest
from protego import Protego

from apps.core.tests.local_site import LocalSite, Page
from apps.sources import crawl
from apps.sources.models import CrawlPage
from apps.sources.tests.factories import CrawlPageFactory, CrawlSourceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def site(settings):
    settings.FETCH_ALLOWED_PRIVATE_NETWORKS = ["127.0.0.0/8"]
    with LocalSite() as site:
        yield site


def test_a_page_redirecting_off_the_site_is_skipped(site):
    site.pages["/out"] = Page(status=302, headers={"Location": site.url("/elsewhere", host="localhost")})
    site.pages["/elsewhere"] = Page(b"<html><body><p>Another site.</p></body></html>")
    source = CrawlSourceFactory(url=site.url("/"), run=1)
    page = CrawlPageFactory(source=source, url=site.url("/out"), run=1)
    crawl._page_process(source, page, Protego.parse(""))
    page.refresh_from_db()
    assert page.state == CrawlPage.State.SKIPPED
    assert page.error.startswith("Redirected off the site")
    assert page.document is None


@pytest.mark.parametrize("status, allowed", [(200, False), (404, True), (503, False)])
def test_robots_rules_by_status(site, status, allowed):
    site.pages["/robots.txt"] = Page(b"User-agent: *\nDisallow: /\n", "text/plain", status=status)
    robots = crawl._robots(site.url("/"))
    assert robots.can_fetch(site.url("/any"), "BeaconBot") is allowed


def test_links_are_absolute_same_scheme_and_skip_nofollow():
    body = (
        b'<a href="/a#top">a</a><a rel="nofollow" href="/b">b</a><a href="mailto:x@example.com">m</a><a href="c">c</a>'
    )
    assert crawl._links(body, "http://example.com/dir/") == ["http://example.com/a#top", "http://example.com/dir/c"]
    assert crawl._file_name("http://example.com/docs/getting-started.html", "html") == "getting-started.html"
    assert crawl._file_name("http://example.com/", "html") == "example.html"
