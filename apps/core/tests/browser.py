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
