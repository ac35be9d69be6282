"""simplejwt's blacklisted-token admin, re-registered by users: the token is a raw-id field. Every refresh rotates
the token and blacklists the old one, so outstanding tokens number in the hundreds of thousands; the form's
select listed all of them with one query each for its label (120,000 tokens: 179 s, 120,004 queries)."""

from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.admin.widgets import ForeignKeyRawIdWidget
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from apps.users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def tokens(number: int) -> list[OutstandingToken]:
    user = UserFactory()
    expires = timezone.now() + timedelta(days=7)
    return OutstandingToken.objects.bulk_create(
        OutstandingToken(user=user, jti=f"{user.pk}-{n}", token="x", expires_at=expires) for n in range(number)
    )


def test_the_token_is_a_raw_id_field(rf):
    request = rf.get("/")
    request.user = UserFactory(is_staff=True, is_superuser=True)

    form = admin.site._registry[BlacklistedToken].get_form(request, None, change=True)

    assert isinstance(form.base_fields["token"].widget, ForeignKeyRawIdWidget)


def test_the_change_page_queries_do_not_grow_with_the_tokens(staff_client):
    blacklisted = BlacklistedToken.objects.create(token=tokens(1)[0])
    url = reverse("admin:token_blacklist_blacklistedtoken_change", args=[blacklisted.pk])
    staff_client.get(url)  # the first request of the session loads what later ones find cached
    with CaptureQueriesContext(connection) as few:
        assert staff_client.get(url).status_code == 200
    tokens(30)

    with CaptureQueriesContext(connection) as many:
        response = staff_client.get(url)

    assert response.status_code == 200
    assert len(many.captured_queries) == len(few.captured_queries)
    assert response.content.decode().count("<option") < 10
