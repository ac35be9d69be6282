"""The language-model fixtures every app's tests share: `llm` answers at the HTTP transport of the
project's own client (`conversations.chat.llm_client`, the only thing faked), `offline` configures none.

Import them into a conftest or test module (`from apps.conversations.tests.fixtures import llm, offline`).
"""

from __future__ import annotations

import httpx2
import openai
import pytest
from openai._base_client import BaseClient

from apps.conversations import chat
from apps.conversations.tests.utils import FakeLLM, Reply


@pytest.fixture
def llm(settings, monkeypatch):
    """`llm(*replies, max_retries=0, timeout=5)`: configure a language model answered by `replies`.
    The client's retry back-off is zeroed: a retry test replays its scripted replies at once instead
    of sleeping (the replies, not the clock, are what it checks)."""
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
    """No language model configured: the offline paths (extractive answerer, template composers) reply."""
    settings.OPENAI_API_KEY = None
    settings.OPENAI_BASE_URL = None
