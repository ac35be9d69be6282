"""Admin organization dashboard (issue 6): /admin/dashboard/.

Coverage: the admin index links to it; staff with view permission get the form, and with an
organization the figures (embedded as JSON for the charts, the same bodies as the analytics API)
and the vendored Chart.js from the project's static files (no CDN); the static files are served;
an invalid range shows the form error, not a 500; non-staff are sent to the admin login; staff
without the `organizations.view_organization` permission get 403.
"""

from __future__ import annotations

import json
import re

import pytest
from django.contrib.auth.models import Permission
from django.contrib.staticfiles import finders
from django.test import Client
from django.urls import reverse

from apps.organizations.models import Role
from apps.organizations.tests.factories import MembershipFactory, OrganizationFactory
from apps.progress.models import ContentItem, Interaction
from apps.users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

URL = "/admin/dashboard/"


@pytest.fixture
def organization(db):
    import datetime as dt

    org = OrganizationFactory(name="Acme")
    user = MembershipFactory(organization=org, role=Role.MEMBER).user
    item = ContentItem.objects.create(organization=org, title="Intro lesson", kind="lesson")
    for kind, weight in (("view", 1), ("start", 2)):
        Interaction.objects.create(
            organization=org,
            user=user,
            item=item,
            kind=kind,
            weight=weight,
            occurred_at=dt.datetime(2026, 3, 2, 12, tzinfo=dt.UTC),
        )
    return org


def embedded_figures(response) -> dict:
    match = re.search(r'<script id="analytics-data" type="application/json">(.*?)</script>', response.text, re.S)
    assert match, "the figures are not embedded"
    return json.loads(match.group(1))


def test_url_and_index_link(staff_client):
    """The dashboard is reverse-able and linked from the admin index."""
    assert reverse("admin-dashboard") == URL
    response = staff_client.get(reverse("admin:index"))
    assert response.status_code == 200
    assert f'href="{URL}"' in response.text


def test_form_without_an_organization(staff_client, organization):
    """No organization chosen: the form (listing the organizations) and no figures."""
    response = staff_client.get(URL)

    assert response.status_code == 200
    assert "Organization analytics" in response.text
    assert f'<option value="{organization.pk}">Acme</option>' in response.text
    assert 'id="analytics-data"' not in response.text


def test_figures_and_charts_for_an_organization(staff_client, organization):
    """With an organization and range: the API's figures embedded for Chart.js, loaded from /static/."""
    response = staff_client.get(
        URL,
        {"organization": organization.pk, "date_from": "2026-03-01", "date_to": "2026-03-07", "grouping": "week"},
    )

    assert response.status_code == 200
    assert '<script src="/static/progress/vendor/chart.umd.min.js" defer></script>' in response.text
    assert '<script src="/static/progress/dashboard.js" defer></script>' in response.text
    assert "cdn" not in response.text.lower()
    figures = embedded_figures(response)
    assert figures["range"] == {"date_from": "2026-03-01", "date_to": "2026-03-07", "tz": "UTC"}
    assert figures["active_users"]["results"] == [
        {"period": "2026-02-23", "active_users": 0},
        {"period": "2026-03-02", "active_users": 1},
    ]
    assert figures["top_items"]["results"] == [
        {
            "id": ContentItem.objects.get(organization=organization).pk,
            "external_id": None,
            "title": "Intro lesson",
            "kind": "lesson",
            "score": 3.0,
            "interactions": 2,
            "users": 1,
        }
    ]
    assert [(s["step"], s["users"]) for s in figures["funnel"]["steps"]] == [("view", 1), ("start", 1), ("complete", 0)]
    assert figures["bot_usage"]["bots"] == []
    assert figures["completion"]["results"] == []
    assert "No progress started in this range." in response.text
    assert figures["recommendations"]["totals"] == {
        "impressions": 0, "clicks": 0, "dismissals": 0, "click_through_rate": None, "dismissal_rate": None,
    }  # fmt: skip
    assert "No recommendations shown in this range." in response.text


def test_static_files_are_served():
    """Chart.js, its licence and the dashboard script are served from the project's static files."""
    client = Client()
    for path, start in (
        ("progress/vendor/chart.umd.min.js", b"/*!\n * Chart.js v4."),
        ("progress/vendor/chart.js.LICENSE.md", b"The MIT License"),
        ("progress/dashboard.js", b"/* Admin analytics dashboard"),
    ):
        assert finders.find(path), path
        response = client.get(f"/static/{path}")
        assert response.status_code == 200, path
        assert b"".join(response.streaming_content).startswith(start), path


def test_invalid_range_is_a_form_error(staff_client, organization):
    """date_from after date_to: 200 with the error shown, no figures."""
    response = staff_client.get(
        URL, {"organization": organization.pk, "date_from": "2026-03-10", "date_to": "2026-03-01"}
    )

    assert response.status_code == 200
    assert "Must be on or before date_to." in response.text
    assert 'id="analytics-data"' not in response.text


def test_non_staff_is_sent_to_login(db):
    """A signed-in non-staff user is redirected to the admin login."""
    client = Client()
    client.force_login(UserFactory())
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_staff_without_permission_is_403(db):
    """Staff lacking organizations.view_organization: 403; with it: 200."""
    staff = UserFactory(is_staff=True)
    client = Client()
    client.force_login(staff)
    assert client.get(URL).status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_organization"))
    client.force_login(staff)
    assert client.get(URL).status_code == 200
