"""The admin analytics dashboard in real headless Chromium (Debian's chromium, driven by Playwright).

A staff user's session cookie opens /admin/dashboard/ for an organization on a live server: the
vendored Chart.js loads from the project's static files, the four charts are drawn with the figures
of the page (active users per week, funnel, top items, bot usage), and the page logs no error.

Without Chromium these tests are skipped with the reason shown, unless BEACON_REQUIRE_BROWSER=1.
"""

from __future__ import annotations

import datetime as dt
import uuid

from django.conf import settings as django_settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore

from apps.core.tests.browser import browser_marks
from apps.organizations.models import Role
from apps.organizations.tests.factories import MembershipFactory, OrganizationFactory
from apps.progress.models import ContentItem, Interaction
from apps.recommendations.models import RecommendationLog
from apps.users.tests.factories import UserFactory

pytestmark = browser_marks()


def session_cookie(user) -> str:
    """A logged-in session for `user` (what the admin login would create)."""
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return session.session_key


def test_charts_are_drawn(live_server, browser, monkeypatch, tmp_path):
    """Six charts drawn by Chart.js with the page's figures; no console or page errors."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's loop runs in this thread
    organization = OrganizationFactory(name="Acme")
    learner = MembershipFactory(organization=organization, role=Role.MEMBER).user
    item = ContentItem.objects.create(organization=organization, title="Intro lesson", kind="lesson")
    for kind, day in (("view", 2), ("start", 2), ("view", 10)):
        Interaction.objects.create(
            organization=organization,
            user=learner,
            item=item,
            kind=kind,
            weight=1,
            occurred_at=dt.datetime(2026, 3, day, 12, tzinfo=dt.UTC),
        )
    # issue 18: recommendations shown in the weeks of 2 March (cf at 1, clicked) and 9 March (content at 2)
    for day, source, position, clicked in ((2, "cf", 1, True), (10, "content", 2, False)):
        shown = dt.datetime(2026, 3, day, 12, tzinfo=dt.UTC)
        log = RecommendationLog.objects.create(
            organization=organization, user=learner, item=item, request_id=uuid.uuid4(), position=position,
            source=source, reason="because", score=1.0,
        )  # fmt: skip
        RecommendationLog.objects.filter(pk=log.pk).update(created_at=shown, clicked_at=shown if clicked else None)
    staff = UserFactory(is_staff=True, is_superuser=True)

    context = browser.new_context()
    context.add_cookies(
        [{"name": django_settings.SESSION_COOKIE_NAME, "value": session_cookie(staff), "url": live_server.url}]
    )
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    def on_console(message):
        # The browser's own favicon request 404s (the admin has none); anything else is a failure.
        if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico"):
            errors.append(message.text)

    page.on("console", on_console)
    query = f"organization={organization.pk}&date_from=2026-03-01&date_to=2026-03-14&grouping=week"
    page.goto(f"{live_server.url}/admin/dashboard/?{query}")
    page.wait_for_function("() => window.Chart && Chart.getChart('chart-bot-usage')")

    charts = page.evaluate(
        """() => ['chart-active-users', 'chart-funnel', 'chart-top-items', 'chart-bot-usage', 'chart-rec-sources',
                  'chart-rec-positions'].map((id) => {
            const chart = Chart.getChart(id);
            return {id, type: chart.config.type, labels: chart.data.labels, data: chart.data.datasets[0].data};
        })"""
    )

    assert charts == [
        {"id": "chart-active-users", "type": "line", "labels": ["2026-02-23", "2026-03-02", "2026-03-09"],
         "data": [0, 1, 1]},
        {"id": "chart-funnel", "type": "bar", "labels": ["view", "start", "complete"], "data": [1, 1, 0]},
        {"id": "chart-top-items", "type": "bar", "labels": ["Intro lesson"], "data": [3]},
        {"id": "chart-bot-usage", "type": "bar", "labels": ["2026-02-23", "2026-03-02", "2026-03-09"],
         "data": [0, 0, 0]},
        {"id": "chart-rec-sources", "type": "line", "labels": ["2026-02-23", "2026-03-02", "2026-03-09"],
         "data": [None, 1, None]},
        {"id": "chart-rec-positions", "type": "bar", "labels": ["1", "2"], "data": [1, 0]},
    ]  # fmt: skip
    assert errors == []
    page.screenshot(path=tmp_path / "dashboard.png", full_page=True)  # kept in pytest's tmp dir for a look
    context.close()
