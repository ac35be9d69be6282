"""The bot's change page at a real customer's size: `created_by` is a raw-id field (a select of every user
account drew 20,053 options), and the documents inline shows the latest INLINE_DOCUMENTS documents (1,000 drew
1,000 rows: 1.6 s, 1.6 MB) beside a count linked to the bot's document list; its queries do not grow with the
documents, and the bot still saves."""

import pytest
from django.contrib import admin
from django.contrib.admin.widgets import ForeignKeyRawIdWidget
from django.test import RequestFactory
from django.urls import reverse

from apps.bots.models import Bot
from apps.bots.tests.factories import BotFactory
from apps.core.tests.admin_pages import change_page
from apps.documents.admin import INLINE_DOCUMENTS
from apps.documents.tests.factories import DocumentFactory
from apps.users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_created_by_is_a_raw_id_field():
    request = RequestFactory().get("/")
    request.user = UserFactory(is_staff=True, is_superuser=True)

    form = admin.site._registry[Bot].get_form(request, None, change=True)

    assert isinstance(form.base_fields["created_by"].widget, ForeignKeyRawIdWidget)


def test_the_documents_inline_is_bounded_in_rows_and_queries(staff_client, organization):
    bot = BotFactory(organization=organization)
    DocumentFactory(bot=bot)
    change_page(staff_client, bot)  # the first request of the session loads what later ones find cached
    _text, few = change_page(staff_client, bot)
    documents = [DocumentFactory(bot=bot) for _ in range(INLINE_DOCUMENTS + 4)]

    text, many = change_page(staff_client, bot)

    assert many == few
    assert f'name="documents-TOTAL_FORMS" value="{INLINE_DOCUMENTS}"' in text
    assert f"/admin/documents/document/{documents[-1].pk}/change/" in text  # the latest
    assert f"/admin/documents/document/{documents[0].pk}/change/" not in text  # not among the latest
    link = f'href="{reverse("admin:documents_document_changelist")}?bot__id__exact={bot.pk}"'
    assert f"{link}>{INLINE_DOCUMENTS + 5} documents</a>" in text


def test_the_bot_still_saves_with_more_documents_than_shown(staff_client, organization):
    bot = BotFactory(organization=organization)
    for _ in range(INLINE_DOCUMENTS + 2):
        DocumentFactory(bot=bot)
    page = staff_client.get(reverse("admin:bots_bot_change", args=[bot.pk]))
    form = page.context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None and name in form.fields}
    data.update(
        {
            "name": "Renamed",
            "organization": organization.pk,
            "suggested_questions": "[]",
            "widget_theme": "{}",
            "allowed_origins": "[]",
            "documents-TOTAL_FORMS": str(INLINE_DOCUMENTS),
            "documents-INITIAL_FORMS": str(INLINE_DOCUMENTS),
            "documents-MIN_NUM_FORMS": "0",
            "documents-MAX_NUM_FORMS": "1000",
        }
    )
    for index, document in enumerate(page.context["inline_admin_formsets"][0].formset.get_queryset()):
        data[f"documents-{index}-id"] = document.pk
        data[f"documents-{index}-bot"] = bot.pk

    response = staff_client.post(reverse("admin:bots_bot_change", args=[bot.pk]), data)

    assert response.status_code == 302, response.content.decode()[:3000]
    bot.refresh_from_db()
    assert bot.name == "Renamed"
