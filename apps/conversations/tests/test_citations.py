"""Citation checking details: grouped markers, out-of-range numbers, kept line breaks, and the
Retry-After header of the monthly message limit."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.conversations import grounding
from apps.conversations.models import Message
from apps.conversations.services import conversation_create
from apps.documents.selectors import chunk_search, chunk_vectors
from apps.organizations.tests.factories import plan
from conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def hits(guide_bot):
    return chunk_search(organization=guide_bot.organization, bot=guide_bot, query="refunds billing", min_score=0)


def test_grouped_and_out_of_range_markers(hits):
    """[1, 2] is checked per number; [100] is not a source and disappears."""
    refund = next(i for i, h in enumerate(hits, start=1) if "Refunds" in h.text)
    content = f"Refunds are processed within 14 days [{refund}, 100]."
    checked, citations, supported = grounding.check_citations(
        content=content, hits=hits, chunk_vectors=chunk_vectors(chunk_ids=[h.chunk_id for h in hits])
    )
    assert checked == f"Refunds are processed within 14 days [{refund}]."
    assert [c["ref"] for c in citations] == [refund]
    assert supported


def test_line_breaks_survive(hits):
    """A list or paragraphs written by the model keep their line breaks after checking."""
    refund = next(i for i, h in enumerate(hits, start=1) if "Refunds" in h.text)
    content = f"Billing:\n\n- Refunds are processed within 14 days [{refund}].\n- Unrelated moon cheese [{refund}]."
    vectors = chunk_vectors(chunk_ids=[h.chunk_id for h in hits])
    checked = grounding.check_citations(content=content, hits=hits, chunk_vectors=vectors).content
    assert checked.split("\n") == [
        "Billing:",
        "",
        f"- Refunds are processed within 14 days [{refund}].",
        "- Unrelated moon cheese.",
    ]


def test_message_limit_has_retry_after_header(guide_bot):
    """Over the monthly limit: 429 with a Retry-After header equal to details.retry_after."""
    from apps.organizations.models import Role
    from apps.organizations.tests.factories import MembershipFactory

    organization = guide_bot.organization
    tiny = plan("free")
    tiny.max_monthly_messages = 1
    tiny.save()
    organization.plan = tiny
    organization.save()
    member = MembershipFactory(organization=organization, role=Role.MEMBER)
    conversation = conversation_create(organization=organization, bot=guide_bot, user=member.user)
    Message.objects.create(organization=organization, conversation=conversation, role="user", content="earlier")
    Message.objects.filter(conversation=conversation).update(created_at=timezone.now() - timedelta(minutes=1))
    url = f"/api/v1/orgs/{organization.slug}/bots/{guide_bot.pk}/conversations/{conversation.pk}/messages/"
    response = client_for(member.user).post(url, {"content": "How long do refunds take?"}, format="json")
    assert response.status_code == 429
    body = response.json()["error"]
    assert body["code"] == "message_limit_exceeded"
    assert int(response["Retry-After"]) == body["details"]["retry_after"] > 0
