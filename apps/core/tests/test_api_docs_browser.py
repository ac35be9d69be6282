"""/api/docs/ (Swagger UI) and /api/redoc/ (ReDoc) offline, in real headless Chromium (issue 16).

Both pages load their scripts and styles from the project's static files (drf-spectacular-sidecar),
not from a CDN: every request to a host other than the live server is aborted, and the pages still
list the API's operations. Without Chromium these tests are skipped with the reason shown, unless
BEACON_REQUIRE_BROWSER=1 (apps/core/tests/browser.py).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from apps.core.tests.browser import browser_marks

pytestmark = browser_marks()

LOCAL_HOSTS = {"127.0.0.1", "localhost"}
# ReDoc's bundle always shows this logo in its "API docs by Redocly" footer link; offline the image
# hides itself. Nothing else may leave the machine.
REDOCLY_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@pytest.fixture
def offline_page(live_server, browser, monkeypatch):
    """A page whose requests to any non-local host are aborted (and recorded), with its errors."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's loop runs in this thread
    page = browser.new_page()
    blocked: list[str] = []
    errors: list[str] = []

    def route(route):
        if urlsplit(route.request.url).hostname in LOCAL_HOSTS or route.request.url.startswith("data:"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    page.route("**/*", route)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page, blocked, errors
    page.close()


def test_swagger_ui_lists_the_operations_offline(live_server, offline_page):
    """Swagger UI renders the schema's operations (the token endpoint among them) with the network
    cut off; its files came from /static/ and nothing tried a remote host."""
    page, blocked, errors = offline_page
    static = []
    page.on("requestfinished", lambda request: static.append(request.url) if "/static/" in request.url else None)
    # Swagger UI renders the operations that are in view (with more than a screenful of tags, the rest
    # appear as one scrolls): a tall window shows them all.
    page.set_viewport_size({"width": 1280, "height": 16_000})
    page.goto(f"{live_server.url}/api/docs/")
    # Swagger UI fetches /api/schema/, which drf-spectacular generates on request for every operation
    # (a few seconds on 2 cores), then renders them: the bound only stops a broken page from hanging.
    # Rendering continues after the first operation appears: wait until more than 50 are there.
    page.wait_for_function("document.querySelectorAll('.opblock-summary-path').length > 50", timeout=30_000)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert len(paths) > 50, paths
    assert any(path.replace("\u200b", "") == "/api/v1/auth/token/" for path in paths), paths
    assert any("swagger-ui" in url for url in static), static
    assert blocked == [] and errors == []


def test_redoc_lists_the_operations_offline(live_server, offline_page):
    """ReDoc renders the operations with the network cut off; only its footer logo tried a remote host
    (the Google Fonts of drf-spectacular's page are dropped by templates/drf_spectacular/redoc.html)."""
    page, blocked, errors = offline_page
    page.goto(f"{live_server.url}/api/redoc/")
    # As above: the schema is generated on request before ReDoc can render; a bound, not a pause.
    page.wait_for_selector("[data-section-id^='operation/']", timeout=30_000)
    operations = page.locator("[data-section-id^='operation/']").count()
    assert operations > 50
    assert page.locator("text=/api/v1/auth/token/").count() >= 1
    assert [url for url in blocked if url != REDOCLY_LOGO] == [] and errors == []
