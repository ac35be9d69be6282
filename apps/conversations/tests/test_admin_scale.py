"""The conversation list's search at a real customer's size: the title, a member's exact e-mail or a visitor id,
not the text of every message of every conversation (825 ms on 100,000 messages and growing with them; the
message list searches messages and links to their conversations)."""

import pytest
from django.contrib import admin
from django.urls import reverse

from apps.bots.tests.factories import BotFactory
from apps.conversations.models import Conversation, Message
from apps.users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

URL = reverse("admin:conversations_conversation_changelist")


def found(client, term):
    response = client.get(URL, {"q": term})
    assert response.status_code == 200
    return [row.pk for row in response.context["cl"].result_list]


def test_the_search_reads_conversations_not_their_messages(staff_client, organization):
    bot = BotFactory(organization=organization)
    member = UserFactory(email="kim@example.com")
    by_title = Conversation.objects.create(organization=organization, bot=bot, title="Refund policy")
    by_member = Conversation.objects.create(organization=organization, bot=bot, user=member)
    by_visitor = Conversation.objects.create(organization=organization, bot=bot, visitor_id="v-123")
    Message.objects.create(organization=organization, conversation=by_visitor, role="user", content="zebra crossing")

    assert "messages__content" not in admin.site._registry[Conversation].search_fields
    assert found(staff_client, "refund") == [by_title.pk]
    assert found(staff_client, "KIM@example.com") == [by_member.pk]
    assert found(staff_client, "v-123") == [by_visitor.pk]
    assert found(staff_client, "zebra") == []
