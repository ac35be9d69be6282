"""Fixtures of the chat tests: a bot with a ready knowledge base, and the fake language model (utils.py)."""

from __future__ import annotations

import httpx2
import openai
import pytest
from openai._base_client import BaseClient

from apps.bots.tests.factories import BotFactory
from apps.conversations import chat
from apps.conversations.tests.utils import SYSTEM_PROMPT, FakeLLM, Reply, ingest
from apps.documents.tests import samples
from apps.organizations.tests.factories import OrganizationFactory


@pytest.fixture
def llm(settings, monkeypatch):
    """`llm(*replies, max_retries=0, timeout=5)`: configure a language model answered by `replies`."""
    settings.OPENAI_API_KEY = "test"
    settings.OPENAI_BASE_URL = None
    monkeypatch.setattr(BaseClient, "_calculate_retry_timeout", lambda *args, **kwargs: 0)

    def install(*replies: Reply, max_retries: int = 0, timeout: float = 5.0) -> FakeLLM:
        fake = FakeLLM(replies)

        def client():
            return openai.OpenAI(
                api_key="test",
                base_url="http://llm.test/v1",
                max_retries=max_retries,
                timeout=timeout,
                http_client=httpx2.Client(transport=httpx2.MockTransport(fake.handler)),
            )

        monkeypatch.setattr(chat, "llm_client", client)
        return fake

    return install


@pytest.fixture
def offline(settings):
    """No language model configured: the offline extractive answerer replies."""
    settings.OPENAI_API_KEY = None
    settings.OPENAI_BASE_URL = None


# --------------------------------------------------------------------------- knowledge base


@pytest.fixture
def chat_org(db):
    return OrganizationFactory()


@pytest.fixture
def guide_bot(chat_org):
    """A bot whose knowledge base is the two-page guide PDF (Installation on page 1, Billing on page 2)."""
    bot = BotFactory(organization=chat_org, min_score=0.3, system_prompt=SYSTEM_PROMPT)
    ingest(bot, "guide.pdf", samples.pdf())
    return bot
