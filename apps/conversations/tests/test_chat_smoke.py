"""A turn end to end, offline answerer, JSON and SSE (smoke; the full suite lives beside it)."""

import json

import pytest

from apps.bots.tests.factories import BotFactory
from apps.conversations.models import Message
from apps.documents.services.pipeline import document_ingest_now
from apps.documents.services.upload import IncomingFile, document_upload
from apps.documents.tests import samples
from apps.organizations.models import Role
from apps.organizations.tests.factories import MembershipFactory
from conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(settings):
    settings.OPENAI_API_KEY = None
    settings.OPENAI_BASE_URL = None
    member = MembershipFactory(role=Role.MEMBER)
    bot = BotFactory(organization=member.organization, min_score=0.3)
    for name, build in [("guide.md", samples.md)]:
        document = document_upload(
            organization=bot.organization, bot=bot, files=[IncomingFile(name, build())], enqueue=False
        )[0].document
        document_ingest_now(document=document)
    client = client_for(member.user)
    base = f"/api/v1/orgs/{bot.organization.slug}/bots/{bot.pk}/conversations/"
    conversation = client.post(base, {}, format="json").json()
    return client, f"{base}{conversation['id']}/messages/", bot


def test_offline_answer_with_checked_citation(setup):
    """The offline answerer quotes the refund sentence and cites the guide."""
    client, url, _bot = setup
    response = client.post(url, {"content": "How long do refunds take?"}, format="json")
    assert response.status_code == 201, response.content
    answer = response.json()["answer"]
    assert answer["status"] == "ok"
    assert "14 days" in answer["content"]
    assert "[1]" in answer["content"]
    assert answer["citations"][0]["title"] == "Beacon Guide"
    assert answer["model"] == "offline-extractive"


def test_unrelated_question_gets_the_fallback(setup):
    """Nothing above the cut-off: the fallback message, status unanswered."""
    client, url, bot = setup
    response = client.post(url, {"content": "What is the airspeed velocity of an unladen swallow?"}, format="json")
    answer = response.json()["answer"]
    assert answer["status"] == "unanswered"
    assert answer["content"] == bot.fallback_message
    assert answer["citations"] == []


def test_streamed_answer(setup):
    """stream=true: token events, then done with the message id and citations."""
    client, url, _bot = setup
    response = client.post(url, {"content": "How long do refunds take?", "stream": True}, format="json")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    body = b"".join(response.streaming_content).decode()
    events = [block.split("\n") for block in body.strip().split("\n\n")]
    assert events[0][0] == "event: token"
    assert events[-1][0] == "event: done"
    done = json.loads(events[-1][1].removeprefix("data: "))
    assert Message.objects.get(pk=done["message_id"]).content == done["content"]
    assert done["citations"]
