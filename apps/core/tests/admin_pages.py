"""Admin pages in tests at a customer's size (the *_admin_scale tests): a change page with its query count."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse


def change_page(client, obj) -> tuple[str, int]:
    """`obj`'s admin change page as `client` gets it (200 asserted): its HTML and the SQL queries it took."""
    url = reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return response.content.decode(), len(queries.captured_queries)
