"""A website crawled end to end through a real Celery worker: a small site on 127.0.0.1 (allowed by
FETCH_ALLOWED_PRIVATE_NETWORKS) becomes ready documents with their URLs; robots.txt, the sitemap,
re-crawls (unchanged pages skipped, a removed page retired) and cancel/resume."""

import threading
import time

import pytest

from apps.bots.tests.factories import BotFactory
from apps.core.tests.local_site import LocalSite, Page
from apps.documents.models import Document
from apps.documents.tests import samples
from apps.organizations.models import Role
from apps.organizations.tests.factories import MembershipFactory
from apps.sources.models import CrawlPage, CrawlSource
from conftest import client_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def html(title: str, text: str, links: list[str] = ()) -> bytes:
    anchors = "".join(f'<li><a href="{link}">{link}</a></li>' for link in links)
    return (
        f"<!doctype html><html><head><title>{title}</title><script>var tracking = 1;</script></head><body>"
        f"<nav><ul>{anchors}</ul></nav><main><h1>{title}</h1><p>{text}</p></main></body></html>"
    ).encode()


def wait_until(check, what: str, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"still waiting for {what} after {timeout}s")


def settled(source_id: int) -> CrawlSource:
    def done():
        source = CrawlSource.objects.get(pk=source_id)
        return source if source.status not in CrawlSource.ACTIVE else None

    source = wait_until(done, "the crawl")
    wait_until(
        lambda: (
            not Document.objects.filter(
                bot_id=source.bot_id, status__in=[Document.Status.PENDING, Document.Status.PROCESSING]
            ).exists()
        ),
        "the documents",
    )
    return source


@pytest.fixture
def setup(celery_worker, transactional_db, settings):
    settings.FETCH_ALLOWED_PRIVATE_NETWORKS = ["127.0.0.0/8"]
    owner = MembershipFactory(role=Role.OWNER)
    bot = BotFactory(organization=owner.organization, min_score=0.0)
    client = client_for(owner.user)
    base = f"/api/v1/orgs/{owner.organization.slug}/bots/{bot.pk}/sources/"
    with LocalSite() as site:
        yield site, bot, client, base


def test_a_site_becomes_documents_and_a_recrawl_keeps_what_did_not_change(setup, settings):
    site, bot, client, base = setup
    site.pages["/robots.txt"] = Page(
        f"User-agent: *\nDisallow: /private/\nSitemap: {site.url('/sitemap.xml')}\n".encode(), "text/plain"
    )
    site.pages["/sitemap.xml"] = Page(
        (
            '<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"<url><loc>{site.url('/listed')}</loc></url></urlset>"
        ).encode(),
        "application/xml",
    )
    site.pages["/"] = Page(
        html(
            "Home",
            "Welcome to the harbour shop.",
            ["/about", "/private/secret", "/guide.pdf", "https://elsewhere.example/"],
        ),
        headers={"ETag": '"home-1"'},
    )
    site.pages["/about"] = Page(html("About", "Refunds are granted within fourteen days of purchase.", ["/team"]))
    site.pages["/team"] = Page(html("Team", "Our team answers every question about lighthouses."))
    site.pages["/listed"] = Page(
        html("Listed", "Only the sitemap knows about the winter opening hours."),
        headers={"Last-Modified": "Tue, 01 Dec 2026 10:00:00 GMT"},
    )
    site.pages["/team"].headers["Last-Modified"] = "Tue, 01 Dec 2026 10:00:00 GMT"
    site.pages["/private/secret"] = Page(html("Secret", "Never crawl this."))
    site.pages["/guide.pdf"] = Page(samples.pdf(), "application/pdf")

    response = client.post(base, {"url": site.url("/"), "max_depth": 2}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "queued"
    source = settled(response.json()["id"])
    assert source.status == CrawlSource.Status.FINISHED, source.error

    documents = {document.url: document for document in Document.objects.filter(bot=bot)}
    expected = {site.url(path) for path in ["/", "/about", "/team", "/listed", "/guide.pdf"]}
    assert set(documents) == expected
    assert all(document.source == Document.Source.URL for document in documents.values())
    assert {document.status for document in documents.values()} == {Document.Status.READY}
    assert documents[site.url("/guide.pdf")].kind == "pdf"
    assert "/private/secret" not in site.paths()  # robots.txt respected
    secret = CrawlPage.objects.get(source=source, url=site.url("/private/secret"))
    assert (secret.state, secret.error) == (CrawlPage.State.SKIPPED, "Disallowed by robots.txt.")
    assert all("BeaconBot" in headers["user-agent"] for _, headers in site.requests)

    detail = client.get(f"{base}{source.pk}/").json()
    assert (detail["pages_ingested"], detail["pages_skipped"], detail["pages_failed"]) == (5, 1, 0)
    hits = client.get(
        f"/api/v1/orgs/{bot.organization.slug}/bots/{bot.pk}/search/", {"q": "refunds fourteen days"}
    ).json()["results"]
    assert hits[0]["document_url"] == site.url("/about")  # citations link to the page
    # the HTML was cleaned as in upload: no script in the chunks
    assert "tracking" not in " ".join(documents[site.url("/")].chunks.values_list("text", flat=True))

    # The site changes: /about is rewritten, /team is removed.
    site.pages["/about"] = Page(html("About", "Refunds are now granted within thirty days.", ["/team"]))
    del site.pages["/team"]
    site.requests.clear()
    settings.CRAWL_TASK_SECONDS = 0  # one page per task: the run goes on as a chain of tasks
    response = client.post(f"{base}{source.pk}/crawl/", {}, format="json")
    assert response.status_code == 202, response.content
    source = settled(source.pk)
    assert source.status == CrawlSource.Status.FINISHED and source.run == 2

    states = dict(CrawlPage.objects.filter(source=source).values_list("url", "state"))
    assert states[site.url("/")] == CrawlPage.State.UNCHANGED  # ETag: 304
    assert states[site.url("/listed")] == CrawlPage.State.UNCHANGED  # Last-Modified: 304
    assert states[site.url("/guide.pdf")] == CrawlPage.State.UNCHANGED  # no validators: the same content hash
    assert states[site.url("/about")] == CrawlPage.State.INGESTED
    assert states[site.url("/team")] == CrawlPage.State.RETIRED
    sent = {path: headers for path, headers in site.requests}
    assert sent["/"]["if-none-match"] == '"home-1"'
    assert sent["/listed"]["if-modified-since"] == "Tue, 01 Dec 2026 10:00:00 GMT"
    assert "if-none-match" not in sent["/guide.pdf"] and "if-modified-since" not in sent["/guide.pdf"]
    about = Document.objects.get(bot=bot, url=site.url("/about"))
    assert about.version == 2 and "thirty days" in " ".join(about.chunks.values_list("text", flat=True))
    assert not Document.objects.filter(bot=bot, url=site.url("/team")).exists()
    assert Document.objects.filter(bot=bot).count() == 4
    detail = client.get(f"{base}{source.pk}/").json()
    assert (detail["pages_unchanged"], detail["pages_ingested"], detail["pages_retired"]) == (3, 1, 1)


def test_cancel_stops_the_crawl_and_resume_finishes_it(setup):
    site, bot, client, base = setup
    hold = threading.Event()
    pages = [f"/page-{n}" for n in range(6)]
    site.pages["/"] = Page(html("Home", "Index of the shop.", pages))
    for n, path in enumerate(pages):
        site.pages[path] = Page(html(f"Page {n}", f"Page number {n} describes product {n} of the shop."))
    site.pages["/page-0"].hold = hold

    source_id = client.post(base, {"url": site.url("/")}, format="json").json()["id"]
    assert site.reached.wait(60)  # the crawl is on /page-0
    response = client.post(f"{base}{source_id}/cancel/", {}, format="json")
    assert response.status_code == 202 and response.json()["cancel_requested"] is True
    hold.set()
    source = settled(source_id)
    assert source.status == CrawlSource.Status.CANCELLED
    queued = CrawlPage.objects.filter(source=source, state=CrawlPage.State.QUEUED).count()
    assert queued == 5  # /page-1 .. /page-5 never fetched
    assert not any(path in site.paths() for path in pages[1:])
    assert client.post(f"{base}{source_id}/cancel/", {}, format="json").status_code == 409

    response = client.post(f"{base}{source_id}/crawl/", {"resume": True}, format="json")
    assert response.status_code == 202, response.content
    source = settled(source_id)
    assert source.status == CrawlSource.Status.FINISHED and source.run == 1
    assert Document.objects.filter(bot=bot, status=Document.Status.READY).count() == 7
    assert site.paths().count("/") == 1 and site.paths().count("/page-0") == 1  # resumed, not restarted


def test_the_page_limit_skips_the_rest_and_retires_nothing(setup):
    site, bot, client, base = setup
    pages = [f"/doc-{n}" for n in range(4)]
    site.pages["/"] = Page(html("Home", "The manual of the harbour shop.", pages))
    for n, path in enumerate(pages):
        site.pages[path] = Page(html(f"Doc {n}", f"Chapter {n} of the manual covers topic number {n}."))
    source_id = client.post(base, {"url": site.url("/"), "max_pages": 5}, format="json").json()["id"]
    assert settled(source_id).status == CrawlSource.Status.FINISHED
    assert Document.objects.filter(bot=bot).count() == 5

    CrawlSource.objects.filter(pk=source_id).update(max_pages=2)
    assert client.post(f"{base}{source_id}/crawl/", {}, format="json").status_code == 202
    source = settled(source_id)
    assert source.status == CrawlSource.Status.FINISHED
    current = CrawlPage.objects.filter(source=source, run=2)
    assert current.exclude(state=CrawlPage.State.SKIPPED).count() == 2
    skipped = current.filter(state=CrawlPage.State.SKIPPED)
    assert skipped.count() == 3
    assert {page.error for page in skipped} == {"Over the source's limit of 2 pages."}
    assert not CrawlPage.objects.filter(source=source, state=CrawlPage.State.RETIRED).exists()
    assert Document.objects.filter(bot=bot).count() == 5  # the site was not seen whole: nothing retired
