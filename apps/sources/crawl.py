"""One crawl run of a website source (the body of the `sources.crawl` task).

Seeding puts the start URL (a `site` source) and every page of the site's sitemaps (the sitemap URL of
a `sitemap` source, those robots.txt names, `/sitemap.xml`) in the run's queue as `CrawlPage` rows.
Then page after page, in depth order: robots.txt decides (`protego`), the page is fetched through
`apps.core.fetch` (conditional on its ETag / Last-Modified), an unchanged answer or content hash is
`unchanged`, new bytes go through the documents upload service (`IncomingFile.url`: de-duplication,
versions and plan limits as for an upload; the HTML is cleaned by the upload's own extraction), and
same-site links of HTML pages join the queue up to the depth limit. Between two pages the run
reads `cancel_requested`; a redelivered task continues the queue where it stopped. A run that saw
the whole site retires the pages it no longer reached (and any page answering 404/410).

Politeness: two page requests of a run are at least the source's delay apart (`delay_seconds`, default
CRAWL_DELAY_SECONDS), or robots.txt's `Crawl-delay` when longer (capped at CRAWL_MAX_DELAY_SECONDS).
URLs are normalised before they are queued (`url_normalise`), so one page is fetched once.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from bs4 import BeautifulSoup
from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, transaction
from django.db.models import Count
from django.utils import timezone
from protego import Protego
from usp.fetch_parse import SitemapFetcher
from usp.web_client.abstract_client import (
    AbstractWebClient,
    AbstractWebClientSuccessResponse,
    WebClientErrorResponse,
)

from apps.core.exceptions import ApplicationError
from apps.core.fetch import FetchError, fetch
from apps.documents.services.upload import IncomingFile, document_upload
from apps.sources.events import crawl_finished_send
from apps.sources.models import CrawlPage, CrawlSource
from apps.sources.services import crawl_enqueue, next_crawl_time, pages_retire

logger = logging.getLogger(__name__)

#: content types a crawl ingests, with the extension the upload service knows them by
CONTENT_TYPES = {
    "text/html": "html",
    "application/xhtml+xml": "html",
    "application/pdf": "pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "text/plain": "txt",
    "text/markdown": "md",
    "text/x-rst": "rst",
}
DISALLOW_ALL = "User-agent: *\nDisallow: /\n"
#: links whose extension says they are not documents are not even fetched
SKIPPED_EXTENSIONS = re.compile(r"\.(png|jpe?g|gif|svg|webp|ico|css|js|zip|gz|tar|mp4|mp3|woff2?|ttf|xml)$", re.I)
#: query parameters that only track where a visitor came from: dropped, so a page is one URL
TRACKING_PARAMETERS = re.compile(
    r"^(utm_\w+|gclid|dclid|gbraid|wbraid|fbclid|msclkid|yclid|mc_cid|mc_eid|_ga|_gl|igshid)$", re.IGNORECASE
)
DEFAULT_PORTS = {"http": 80, "https": 443}


def crawl_run(*, organization_id: int, source_id: int, run: int) -> str:
    """Run (or continue) crawl `run` of the source; the status it ends with. A stale task (another
    run started since, the source deleted, the run over) does nothing."""
    source = CrawlSource.objects.filter(pk=source_id, organization_id=organization_id).first()
    if source is None or source.run != run or source.status not in CrawlSource.ACTIVE:
        return "stale"
    try:
        return _crawl(source, run)
    except (OperationalError, InterfaceError):
        raise  # the task retries: the run continues its queue
    except Exception as exc:
        logger.exception("crawl_failed", extra={"source_id": source.pk, "run": run})
        _finish(source, CrawlSource.Status.FAILED, error=f"The crawl stopped on an unexpected error: {exc!r}"[:2000])
        return CrawlSource.Status.FAILED


def _crawl(source: CrawlSource, run: int) -> str:
    budget_end = time.monotonic() + settings.CRAWL_TASK_SECONDS
    robots = _robots(source.url)
    if source.status == CrawlSource.Status.QUEUED:
        _seed(source, robots)
        queued = CrawlSource.objects.filter(pk=source.pk, run=run, status=CrawlSource.Status.QUEUED)
        if not queued.update(status=CrawlSource.Status.RUNNING):
            return "stale"  # cancelled before it started (resuming seeds again: idempotent)
    limit_hit = False
    pace = Pace(crawl_delay(source, robots))
    while True:
        if CrawlSource.objects.filter(pk=source.pk, cancel_requested=True).exists():
            _finish(source, CrawlSource.Status.CANCELLED)
            return CrawlSource.Status.CANCELLED
        pages = CrawlPage.objects.filter(source=source, run=run)
        page = pages.filter(state=CrawlPage.State.QUEUED).order_by("depth", "id").first()
        if page is None:
            break
        if (
            pages.exclude(state=CrawlPage.State.QUEUED).exclude(state=CrawlPage.State.RETIRED).count()
            >= source.max_pages
        ):
            limit_hit = True
            pages.filter(state=CrawlPage.State.QUEUED).update(
                state=CrawlPage.State.SKIPPED, error=f"Over the source's limit of {source.max_pages} pages."
            )
            break
        _page_process(source, page, robots, pace=pace)
        # The heartbeat the stalled-crawl sweep reads (services.sources_stalled_resume).
        CrawlSource.objects.filter(pk=source.pk).update(updated_at=timezone.now())
        if time.monotonic() > budget_end:
            # A long crawl is a chain of short tasks: the document pipeline of the pages interleaves,
            # and no task comes near the Celery time limits.
            crawl_enqueue(source)
            return "continued"
    reached = CrawlPage.objects.filter(source=source, run=run).exclude(state=CrawlPage.State.RETIRED).count()
    if not limit_hit and reached < source.max_pages:
        # The whole site was reached, under the page limit (at the limit a sitemap may have been cut
        # short): what this run did not reach is gone from it.
        gone = CrawlPage.objects.filter(source=source).exclude(run=run).exclude(state=CrawlPage.State.RETIRED)
        pages_retire(source=source, pages=list(gone.select_related("document")))
    _finish(source, CrawlSource.Status.FINISHED)
    return CrawlSource.Status.FINISHED


def _finish(source: CrawlSource, status: str, error: str = "") -> None:
    """End the run with `status`, and tell whoever listens (`crawl_finished`), in one transaction."""
    source.refresh_from_db()
    with transaction.atomic():
        CrawlSource.objects.filter(pk=source.pk).update(
            status=status,
            error=error,
            cancel_requested=False,
            crawl_finished_at=timezone.now(),
            next_crawl_at=next_crawl_time(source),
            updated_at=timezone.now(),
        )
        counts = (
            CrawlPage.objects.filter(source=source, run=source.run).values("state").annotate(n=Count("id")).order_by()
        )
        crawl_finished_send(
            organization_id=source.organization_id,
            bot_id=source.bot_id,
            source_id=source.pk,
            run=source.run,
            status=str(status),
            pages={row["state"]: row["n"] for row in counts},
        )


def crawl_delay(source: CrawlSource, robots: Protego) -> float:
    """Seconds between two page requests of a run: the source's delay (or CRAWL_DELAY_SECONDS), or the
    site's robots.txt `Crawl-delay` for our user agent when longer, capped at CRAWL_MAX_DELAY_SECONDS (a
    site asking for an hour between pages would never be crawled)."""
    own = settings.CRAWL_DELAY_SECONDS if source.delay_seconds is None else source.delay_seconds
    asked = robots.crawl_delay(settings.BEACON_FETCH_USER_AGENT) or 0
    return max(own, min(float(asked), settings.CRAWL_MAX_DELAY_SECONDS))


class Pace:
    """Keeps page requests of one run at least `delay` seconds apart (the first goes at once)."""

    def __init__(self, delay: float):
        self.delay = delay
        self._last: float | None = None

    def wait(self) -> None:
        if self._last is not None:
            remaining = self._last + self.delay - time.monotonic()
            if remaining > 0:
                time.sleep(remaining)
        self._last = time.monotonic()


def _robots(start_url: str) -> Protego:
    parts = urlsplit(start_url)
    try:
        response = fetch(f"{parts.scheme}://{parts.netloc}/robots.txt", max_bytes=512 * 1024)
    except FetchError:
        return Protego.parse(DISALLOW_ALL)  # unknown rules: nothing is fetched
    if 400 <= response.status < 500:
        return Protego.parse("")  # no robots.txt: everything allowed
    if response.status != 200:
        # A server error: the site's rules are unknown, so nothing is fetched (as the big crawlers do).
        return Protego.parse(DISALLOW_ALL)
    return Protego.parse(response.body.decode("utf-8", "replace"))


def _same_site(url: str, start_url: str) -> bool:
    return urlsplit(url_normalise(url)).netloc == urlsplit(url_normalise(start_url)).netloc


def url_normalise(url: str) -> str:
    """One spelling per page, so a page is queued and fetched once: scheme and host in lower case, the
    default port dropped, `/` for an empty path, the fragment dropped, tracking parameters (utm_*, gclid,
    fbclid, ...) dropped and the rest of the query sorted. Path case and encoding are kept (servers differ)."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:  # not a number: leave the URL as it is, the fetch will refuse it
        return url
    netloc = host if port is None or port == DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    if parts.username is not None:
        netloc = parts.netloc.rsplit("@", 1)[0] + "@" + netloc
    query = sorted(
        (key, value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
        if not TRACKING_PARAMETERS.match(key)
    )
    return urlunsplit((scheme, netloc, parts.path or "/", urlencode(query), ""))


def _enqueue(source: CrawlSource, url: str, depth: int) -> None:
    """The URL joins this run's queue unless this run has it already."""
    url = url_normalise(url)
    if len(url) > 1000 or not _same_site(url, source.url) or SKIPPED_EXTENSIONS.search(urlsplit(url).path):
        return
    updated = (
        CrawlPage.objects.filter(source=source, url=url)
        .exclude(run=source.run)
        .update(run=source.run, state=CrawlPage.State.QUEUED, depth=depth, error="")
    )
    if not updated and not CrawlPage.objects.filter(source=source, url=url).exists():
        try:
            CrawlPage.objects.create(
                organization_id=source.organization_id, source=source, url=url, depth=depth, run=source.run
            )
        except IntegrityError:  # the same URL twice in one sitemap
            pass


def _seed(source: CrawlSource, robots: Protego) -> None:
    parts = urlsplit(source.url)
    sitemaps = [*robots.sitemaps, f"{parts.scheme}://{parts.netloc}/sitemap.xml"]
    if source.kind == CrawlSource.Kind.SITEMAP:
        sitemaps.insert(0, source.url)
    else:
        _enqueue(source, source.url, 0)
    for sitemap_url in dict.fromkeys(sitemaps):
        if not _same_site(sitemap_url, source.url):
            continue
        try:
            tree = SitemapFetcher(sitemap_url, recursion_level=0, web_client=SafeWebClient(), quiet_404=True).sitemap()
            for listed in tree.all_pages():
                if CrawlPage.objects.filter(source=source, run=source.run).count() >= source.max_pages:
                    return  # a sitemap of 50,000 URLs does not queue more than the source will fetch
                _enqueue(source, listed.url, 0)
        except Exception:  # a broken sitemap is not a broken crawl: the links still lead on
            logger.warning(
                "crawl_sitemap_unreadable", extra={"source_id": source.pk, "url": sitemap_url}, exc_info=True
            )


def _page_process(source: CrawlSource, page: CrawlPage, robots: Protego, *, pace: Pace | None = None) -> None:
    fields = {"fetched_at": timezone.now()}
    if not robots.can_fetch(page.url, settings.BEACON_FETCH_USER_AGENT):
        _page_save(page, state=CrawlPage.State.SKIPPED, error="Disallowed by robots.txt.", **fields)
        return
    document_alive = page.document_id is not None
    headers = {}
    if document_alive and page.etag:
        headers["If-None-Match"] = page.etag
    if document_alive and page.last_modified:
        headers["If-Modified-Since"] = page.last_modified
    if pace is not None:
        pace.wait()
    try:
        response = fetch(page.url, headers=headers)
    except FetchError as exc:
        _page_save(page, state=CrawlPage.State.FAILED, error=exc.message, **fields)
        return
    fields["http_status"] = response.status
    if response.status == 304 and document_alive:
        _links_follow(source, page, page.links)
        _page_save(page, state=CrawlPage.State.UNCHANGED, **fields)
        return
    if response.status in (404, 410):
        _page_save(page, state=CrawlPage.State.FAILED, error=f"HTTP {response.status}: gone from the site.", **fields)
        pages_retire(source=source, pages=[page])
        return
    if not 200 <= response.status < 300:
        _page_save(page, state=CrawlPage.State.FAILED, error=f"HTTP {response.status}.", **fields)
        return
    if not _same_site(response.url, source.url):
        _page_save(
            page, state=CrawlPage.State.SKIPPED, error=f"Redirected off the site, to {response.url[:300]}.", **fields
        )
        return
    kind = CONTENT_TYPES.get(response.content_type)
    if kind is None:
        _page_save(
            page,
            state=CrawlPage.State.SKIPPED,
            error=f"Content type '{response.content_type}' is not ingested.",
            **fields,
        )
        return
    if kind == "html":
        fields["links"] = [link for link in _links(response.body, response.url) if _same_site(link, source.url)][:1000]
        _links_follow(source, page, fields["links"])
    fields["etag"] = response.headers.get("etag", "")[:300]
    fields["last_modified"] = response.headers.get("last-modified", "")[:100]
    digest = hashlib.sha256(response.body).hexdigest()
    if document_alive and digest == page.content_sha256:
        _page_save(page, state=CrawlPage.State.UNCHANGED, **fields)
        return
    incoming = IncomingFile(name=_file_name(page.url, kind), data=response.body, url=page.url)
    try:
        (outcome,) = document_upload(
            organization=source.organization, bot=source.bot, files=[incoming], created_by=None
        )
    except ApplicationError as exc:
        _page_save(page, state=CrawlPage.State.FAILED, error=str(exc.detail), **fields)
        return
    _page_save(page, state=CrawlPage.State.INGESTED, content_sha256=digest, document=outcome.document, **fields)


def _links_follow(source: CrawlSource, page: CrawlPage, links: list[str]) -> None:
    if page.depth < source.max_depth:
        for link in links:
            _enqueue(source, link, page.depth + 1)


def _page_save(page: CrawlPage, **fields) -> None:
    CrawlPage.objects.filter(pk=page.pk).update(**{"error": "", **fields})


def _links(body: bytes, base_url: str) -> list[str]:
    soup = BeautifulSoup(body, "lxml")
    base = soup.find("base", href=True)
    base_url = urljoin(base_url, base["href"]) if base else base_url
    links = []
    for anchor in soup.find_all("a", href=True):
        if "nofollow" in (anchor.get("rel") or []):
            continue
        url = urljoin(base_url, anchor["href"].strip())
        if urlsplit(url).scheme in ("http", "https"):
            links.append(url)
    return links


def _file_name(url: str, kind: str) -> str:
    """A file name the upload service types by its extension: the URL's last segment, readable."""
    parts = urlsplit(url)
    stem = parts.path.rstrip("/").rsplit("/", 1)[-1] or parts.netloc
    stem = re.sub(r"\.[A-Za-z0-9]{1,5}$", "", stem)
    stem = re.sub(r"[^\w.-]+", "-", stem).strip("-") or "page"
    return f"{stem[:200]}.{kind}"


class _SitemapResponse(AbstractWebClientSuccessResponse):
    def __init__(self, response):
        self._response = response

    def status_code(self) -> int:
        return self._response.status

    def status_message(self) -> str:
        return ""

    def header(self, case_insensitive_name: str) -> str | None:
        return self._response.headers.get(case_insensitive_name.lower())

    def raw_data(self) -> bytes:
        return self._response.body

    def url(self) -> str:
        return self._response.url


class SafeWebClient(AbstractWebClient):
    """`ultimate-sitemap-parser` fetching through `apps.core.fetch` (the same address checks)."""

    def set_max_response_data_length(self, max_response_data_length: int | None) -> None:
        self._max = max_response_data_length

    def get(self, url: str):
        try:
            response = fetch(url)
        except FetchError as exc:
            return WebClientErrorResponse(exc.message, retryable=False)
        if response.status != 200:
            return WebClientErrorResponse(f"HTTP {response.status}", retryable=False)
        return _SitemapResponse(response)
