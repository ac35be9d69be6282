"""The shared vision board page in real headless Chromium (issue 19; apps/core/tests/browser.py).

A member's board (catalog image served by a local HTTP server and embedded) is shared with a signed link;
the public page, opened without an account, shows the four themed groups with their cards and the
embedded image, loads nothing from any other host, and is responsive: two columns on a desktop, one on a
phone. With BEACON_SCREENSHOT_DIR set the desktop screenshot is written there (docs/img/vision-board.png
was made this way: `BEACON_SCREENSHOT_DIR=docs/img`).
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from apps.boards.services import board_share_create, vision_board_generate
from apps.boards.tests.board_utils import png_bytes, scene
from apps.core.tests.browser import browser_marks
from apps.core.tests.local_site import LocalSite, Page
from apps.organizations.tests.factories import OrganizationFactory

pytestmark = browser_marks()


@pytest.fixture
def shared_url(live_server, settings):
    settings.OPENAI_API_KEY = None
    settings.OPENAI_BASE_URL = None
    settings.FETCH_ALLOWED_PRIVATE_NETWORKS = ["127.0.0.1/32"]
    with LocalSite() as site:
        site.pages["/cover.png"] = Page(body=png_bytes(color=(108, 92, 231)), content_type="image/png")
        s = scene(OrganizationFactory(), site=site)
        board, _ = vision_board_generate(membership=s.membership)
    token, _ = board_share_create(board=board)
    return f"{live_server.url}/boards/shared/{token}/"


def test_shared_board_page_renders_offline_and_responsive(shared_url, browser, monkeypatch, tmp_path):
    """Four groups with cards, the embedded image decoded, no remote request; 2 columns wide, 1 narrow."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's loop runs in this thread
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    remote, errors = [], []

    def route(route):
        url = route.request.url
        if url.startswith("data:") or urlsplit(url).hostname in {"127.0.0.1", "localhost"}:
            route.continue_()
        else:
            remote.append(url)
            route.abort()

    page.route("**/*", route)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    response = page.goto(shared_url)
    assert response.status == 200
    assert page.locator("h1").inner_text() == "Ada's vision board"
    assert page.locator("section h2").all_inner_texts() == [
        "What I'm aiming for", "What I've achieved", "My next steps", "What drives me",
    ]  # fmt: skip
    assert page.locator(".card-goal strong").inner_text() == "Become a data analyst"
    assert page.locator(".chips li").all_inner_texts() == ["python", "cooking", "data"]
    image = page.locator(".card-item img")
    assert image.count() == 1
    assert image.evaluate("img => img.complete && img.naturalWidth") > 0
    assert page.locator(".card-item .placeholder").count() >= 1
    wide = {round(box["x"]) for box in (s.bounding_box() for s in page.locator("section").all())}
    assert len(wide) == 2, wide
    folder = Path(os.environ.get("BEACON_SCREENSHOT_DIR") or tmp_path)
    page.screenshot(path=str(folder / "vision-board.png"), full_page=True)
    assert (folder / "vision-board.png").stat().st_size > 10_000

    page.set_viewport_size({"width": 390, "height": 844})
    narrow = {round(box["x"]) for box in (s.bounding_box() for s in page.locator("section").all())}
    assert len(narrow) == 1, narrow
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert remote == [] and errors == []
    page.close()
