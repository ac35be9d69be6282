"""The bot admin with the parts the apps above bots register (issue 12: bots imports none of them).

Coverage: the changelist has the documents column (counts from documents' registered annotation,
sortable); the change page shows, in order, the widget panel (snippet, preview link), the recent
conversations panel (linked) and the documents inline; the add page renders.
"""

import pytest

from apps.bots.tests.factories import BotFactory
from apps.conversations.models import Conversation
from apps.documents.tests.factories import DocumentFactory

pytestmark = pytest.mark.django_db


def test_changelist_counts_documents(staff_client, organization):
    """The documents column counts each bot's documents and sorts by them."""
    busy = BotFactory(organization=organization, name="Busy")
    BotFactory(organization=organization, name="Idle")
    DocumentFactory(bot=busy, organization=organization)
    DocumentFactory(bot=busy, organization=organization)

    response = staff_client.get("/admin/bots/bot/", {"o": "-4"})

    assert response.status_code == 200
    text = response.content.decode()
    assert 'class="column-document_count' in text
    assert '<td class="field-document_count">2</td>' in text
    assert '<td class="field-document_count">0</td>' in text
    assert text.index("Busy") < text.index("Idle")


def test_change_page_shows_widget_conversations_and_documents(staff_client, organization):
    """Widget snippet and preview link, then the recent conversations (linked), then the documents inline."""
    bot = BotFactory(organization=organization)
    conversation = Conversation.objects.create(organization=organization, bot=bot, title="Hello there")
    document = DocumentFactory(bot=bot, organization=organization, title="Handbook")

    response = staff_client.get(f"/admin/bots/bot/{bot.pk}/change/")

    assert response.status_code == 200
    text = response.content.decode()
    assert f"/widget/{bot.public_id}.js" in text
    assert f'href="/widget/{bot.public_id}/preview/"' in text
    assert f'href="/admin/conversations/conversation/{conversation.pk}/change/">Hello there</a>' in text
    assert f"/admin/documents/document/{document.pk}/change/" in text and "Handbook" in text
    assert text.index("Open the preview page") < text.index("Hello there") < text.index("Handbook")


def test_add_page_renders(staff_client):
    """The registered panels show a dash for a bot that does not exist yet."""
    response = staff_client.get("/admin/bots/bot/add/")

    assert response.status_code == 200
    assert "recent conversations" in response.content.decode().lower()


def test_cut_off_column_and_calibration_figures(staff_client, organization):
    """Issue 14: the list shows the cut-off in force and its source; the change page the calibration figures."""
    from django.utils import timezone

    figures = {
        "target_false_answer_rate": 0.1,
        "false_answer_rate": 0.0974,
        "in_domain_answered_rate": 0.93,
        "out_of_domain_questions": 390,
        "out_of_domain_excluded": ["How do I caramelize onions?"],
        "in_domain_questions": 200,
        "corpus": {"documents": 39, "chunks": 1354},
    }
    calibrated = BotFactory(
        organization=organization,
        name="Calibrated",
        min_score=None,
        calibrated_min_score=0.52,
        calibrated_at=timezone.now(),
        calibration=figures,
    )
    BotFactory(organization=organization, name="Overridden", min_score=0.4, calibrated_min_score=0.52)
    BotFactory(organization=organization, name="New", min_score=None)

    text = staff_client.get("/admin/bots/bot/").content.decode()
    assert "0.52 (calibrated)" in text and "0.4 (override)" in text and "0.3 (default)" in text

    text = staff_client.get(f"/admin/bots/bot/{calibrated.pk}/change/").content.decode()
    assert "achieved 0.0974 on 390 general questions (1 left out as in-domain)" in text
    assert "In-domain answered at the cut-off: 0.93 of 200 synthetic questions" in text
    assert "Corpus: 39 documents, 1354 chunks." in text
