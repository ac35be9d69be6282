"""Fixtures of the chat tests: a bot with a ready knowledge base, and the fake language model (utils.py)."""

from __future__ import annotations

import pytest

from apps.bots.tests.factories import BotFactory
from apps.conversations.tests.fixtures import llm, offline  # noqa: F401 (fixtures)
from apps.conversations.tests.utils import SYSTEM_PROMPT, ingest
from apps.documents.tests import samples
from apps.organizations.tests.factories import OrganizationFactory

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
