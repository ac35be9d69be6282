"""Fixtures shared by the widget's tests."""

import time
from types import SimpleNamespace

import pytest

from apps.widget import services


@pytest.fixture
def rate_clock(monkeypatch):
    """The widget's rate limits count in fixed windows (time // window seconds): requests that straddle a window's
    end are counted afresh, so a test of a limit stops the services' clock in the middle of a 60-second window
    (a limit test once got 200 for its third request in CI). Token expiry reads the same clock."""
    now = int(time.time()) // 60 * 60 + 30
    monkeypatch.setattr(services, "time", SimpleNamespace(time=lambda: now))
