"""Shared set-up of the tests that drive real headless Chromium (Debian's `chromium`, through
Playwright's Python package with `executable_path`; `playwright install` is never needed).

Without Chromium those tests are skipped with the reason shown, unless BEACON_REQUIRE_BROWSER=1
(CI sets it), where a missing browser is an error. The `browser` fixture is in the root conftest.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("BEACON_CHROMIUM", "/usr/bin/chromium")
# Without the background-networking flags Chromium keeps dialling out, which this closed network refuses.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    # The widget's frame (Beacon's origin) in the host page's process, not an out-of-process iframe. With site
    # isolation, Playwright's keys (Input.dispatchKeyEvent and insertText, sent to the page's target) now and then went
    # to the host page while the frame held the focus: a probe of 430 opens under load (open the chat, fill, Enter)
    # lost the text and the Enter 5 times; the host page got the Enter while the frame's document had focus with the
    # question box active, and a real click into the box first did not help (1 in 150). That was every widget e2e
    # timeout in CI ("no finished answer"; the held restore sending nothing). Without it: none in 150. This switch
    # alone does it (the browser then lists no iframe target); a --disable-features here would replace Playwright's
    # own list of disabled features, which keeps Chromium from dialling out.
    "--disable-site-isolation-trials",
]


def browser_marks(*extra) -> list:
    """A browser test module's `pytestmark`: skip (or fail under BEACON_REQUIRE_BROWSER=1) without
    Chromium; else the `browser` marker and a transactional database with serialized rollback (like
    every transactional test here: the flush restores plans and content types), plus `extra`."""
    if not Path(CHROMIUM).exists():
        reason = f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("BEACON_REQUIRE_BROWSER") == "1":
            raise RuntimeError(reason + "; BEACON_REQUIRE_BROWSER=1 requires it")
        return [pytest.mark.skip(reason=reason)]
    return [pytest.mark.browser, *extra, pytest.mark.django_db(transaction=True, serialized_rollback=True)]
