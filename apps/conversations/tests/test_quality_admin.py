"""The quality loop in the admin (issue 14).

Coverage: the bot's change page links to its content gaps, Q&A pairs and evaluation runs; the content gaps
page shows the topics (label, counts, linked examples) and refuses staff who may not view messages (403);
a pair added or changed in the admin goes through the services (embedded, re-embedded on a new question);
the evaluation runs changelist shows the figures and offers no add.
"""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from apps.bots.tests.factories import BotFactory
from apps.conversations import qa
from apps.conversations.models import Conversation, EvaluationRun, Message, QAPair
from apps.core.embeddings import get_embedder
from apps.users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_bot_page_links_to_the_quality_pages(staff_client, organization):
    """Content gaps, Q&A pairs (with their count) and evaluation runs, filtered to the bot."""
    bot = BotFactory(organization=organization)
    qa.qa_pair_create(organization=organization, bot=bot, question="Q?", answer="A.")

    text = staff_client.get(f"/admin/bots/bot/{bot.pk}/change/").content.decode()

    assert f'href="/admin/conversations/qapair/content-gaps/{bot.pk}/"' in text
    assert f'href="/admin/conversations/qapair/?bot__id__exact={bot.pk}">Q&amp;A pairs (1)</a>' in text
    assert f'href="/admin/conversations/evaluationrun/?bot__id__exact={bot.pk}"' in text


def test_content_gaps_page(staff_client, organization):
    """The topic's label, count and its examples linked to their conversations; `days` is read."""
    bot = BotFactory(organization=organization, name="Helpdesk")
    conversation = Conversation.objects.create(organization=organization, bot=bot)
    Message.objects.create(organization=organization, conversation=conversation, role="user", content="Refund time?")
    Message.objects.create(organization=organization, conversation=conversation, role="assistant", content="Sorry.",
                           status="unanswered")  # fmt: skip

    response = staff_client.get(f"/admin/conversations/qapair/content-gaps/{bot.pk}/", {"days": "7"})

    text = response.content.decode()
    assert response.status_code == 200
    assert "Content gaps of Helpdesk" in text and 'value="7"' in text
    assert "<td>Refund time?</td>" in text and "<td>new</td>" in text
    assert f'href="/admin/conversations/conversation/{conversation.pk}/change/">Refund time?</a>' in text


def test_content_gaps_page_needs_the_message_view_permission(organization):
    """Staff without conversations.view_message: 403; with it: 200."""
    bot = BotFactory(organization=organization)
    user = UserFactory(is_staff=True)
    client = Client()
    client.force_login(user)

    assert client.get(f"/admin/conversations/qapair/content-gaps/{bot.pk}/").status_code == 403
    user.user_permissions.add(Permission.objects.get(codename="view_message"))
    assert client.get(f"/admin/conversations/qapair/content-gaps/{bot.pk}/").status_code == 200


def test_pair_added_and_changed_in_the_admin_is_embedded(staff_client, organization):
    """Add: stored with its organization and vector; change of the question: a new vector."""
    bot = BotFactory(organization=organization)

    added = staff_client.post(
        "/admin/conversations/qapair/add/", {"bot": bot.pk, "question": "How long do refunds take?", "answer": "14d."}
    )
    pair = QAPair.objects.get()
    before = list(pair.embedding)
    changed = staff_client.post(
        f"/admin/conversations/qapair/{pair.pk}/change/", {"question": "How do I install it?", "answer": "make run"}
    )

    pair.refresh_from_db()
    assert added.status_code == changed.status_code == 302
    assert (pair.organization, pair.bot, pair.question, pair.answer) == (
        organization, bot, "How do I install it?", "make run",
    )  # fmt: skip
    assert pair.embedding_model == get_embedder().name and list(pair.embedding) != before
    assert qa.qa_match_find(bot=bot, question="How do I install it?").pair == pair


def test_evaluation_runs_changelist(staff_client, organization):
    """The figures as columns; no add button."""
    bot = BotFactory(organization=organization)
    EvaluationRun.objects.create(organization=organization, bot=bot, status="done",
                                 metrics={"pairs": 4, "recall_at_k": 0.75, "mrr": 0.6})  # fmt: skip

    text = staff_client.get("/admin/conversations/evaluationrun/").content.decode()

    assert '<td class="field-pairs">4</td>' in text and '<td class="field-recall">0.75</td>' in text
    assert "/admin/conversations/evaluationrun/add/" not in text
