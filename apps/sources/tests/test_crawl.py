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


@pytest.mark.parametrize(
    "url, normalised",
    [
        ("HTTP://Example.COM:80/Docs/Page#intro", "http://example.com/Docs/Page"),
        ("https://example.com:443", "https://example.com/"),
        ("https://example.com:8443/a", "https://example.com:8443/a"),
        (
            "https://example.com/a?b=2&a=1&utm_source=news&UTM_Campaign=x&fbclid=1&gclid=2",
            "https://example.com/a?a=1&b=2",
        ),
        ("https://example.com/a?utm_medium=mail", "https://example.com/a"),
        ("https://example.com/search?q=&lang=fr", "https://example.com/search?lang=fr&q="),
        ("http://[::1]:8000/x", "http://[::1]:8000/x"),
    ],
)
def test_url_normalise(url, normalised):
    """Scheme and host lower case, default port, fragment and tracking parameters dropped, query sorted;
    path case kept (issue 17 item 1)."""
    assert crawl.url_normalise(url) == normalised
    assert crawl.url_normalise(normalised) == normalised  # idempotent


def test_one_page_spelled_several_ways_is_fetched_once(site):
    """Links that differ by host case, default port, fragment, query order or tracking parameters are one
    page: one CrawlPage row, one request."""
    base = f"127.0.0.1:{site.port}"
    links = [
        "/a?x=1&y=2", "/a?y=2&x=1#part", "/a?x=1&y=2&utm_source=mail", f"http://{base.upper()}/a?x=1&y=2",
    ]  # fmt: skip
    anchors = "".join(f'<a href="{link}">link</a>' for link in links).encode()
    site.pages["/"] = Page(b"<html><body><p>Start.</p>" + anchors + b"</body></html>")
    site.pages["/a?x=1&y=2"] = Page(b"<html><body><p>The page.</p></body></html>")
    source = CrawlSourceFactory(url=site.url("/"), run=1, status="queued")
    assert crawl.crawl_run(organization_id=source.organization_id, source_id=source.pk, run=1) == "finished"
    assert sorted(CrawlPage.objects.filter(source=source).values_list("url", flat=True)) == [
        site.url("/"), site.url("/a?x=1&y=2"),
    ]  # fmt: skip
    assert site.paths().count("/a?x=1&y=2") == 1


def test_crawl_delay_is_the_longer_of_the_source_and_robots(settings):
    """The source's delay (or CRAWL_DELAY_SECONDS) unless robots.txt asks for longer, capped at
    CRAWL_MAX_DELAY_SECONDS."""
    settings.CRAWL_DELAY_SECONDS, settings.CRAWL_MAX_DELAY_SECONDS = 1.0, 30.0
    robots = Protego.parse("User-agent: *\nCrawl-delay: 5\n")
    assert crawl.crawl_delay(CrawlSourceFactory.build(), Protego.parse("")) == 1.0
    assert crawl.crawl_delay(CrawlSourceFactory.build(delay_seconds=0.25), Protego.parse("")) == 0.25
    assert crawl.crawl_delay(CrawlSourceFactory.build(), robots) == 5.0
    assert crawl.crawl_delay(CrawlSourceFactory.build(delay_seconds=8), robots) == 8.0
    assert crawl.crawl_delay(CrawlSourceFactory.build(), Protego.parse("User-agent: *\nCrawl-delay: 3600\n")) == 30.0
    other_agent = Protego.parse("User-agent: SomeoneElse\nCrawl-delay: 9\n")
    assert crawl.crawl_delay(CrawlSourceFactory.build(), other_agent) == 1.0


def test_page_requests_wait_for_robots_crawl_delay(site, settings, monkeypatch):
    """A run waits between two page requests (not before the first) as robots.txt's Crawl-delay says, cut
    to CRAWL_MAX_DELAY_SECONDS; the sleeps are recorded, not slept."""
    settings.CRAWL_MAX_DELAY_SECONDS = 20.0
    slept = []
    monkeypatch.setattr(crawl.time, "sleep", slept.append)
    site.pages["/robots.txt"] = Page(b"User-agent: *\nCrawl-delay: 60\n", "text/plain")
    site.pages["/"] = Page(b'<html><body><p>Start.</p><a href="/a">a</a><a href="/b">b</a></body></html>')
    site.pages["/a"] = Page(b"<html><body><p>Page a.</p></body></html>")
    site.pages["/b"] = Page(b"<html><body><p>Page b.</p></body></html>")
    source = CrawlSourceFactory(url=site.url("/"), run=1, status="queued")
    assert crawl.crawl_run(organization_id=source.organization_id, source_id=source.pk, run=1) == "finished"
    assert [path for path in site.paths() if path != "/robots.txt" and path != "/sitemap.xml"] == ["/", "/a", "/b"]
    assert len(slept) == 2 and all(0 < seconds <= 20.0 for seconds in slept), slept
