"""Test helpers of deleting bots (docs/bots.md#deleting-a-bot): a bot with a row of each kind it owns; a bot deleted
to the end, in the test's process (what the owner's delete and the worker's purge do together)."""

from apps.bots.models import Bot
from apps.bots.services import bot_delete, bot_purge
from apps.bots.tests.factories import BotFactory
from apps.conversations.models import Conversation, Message, QAPair
from apps.conversations.tests.utils import ingest
from apps.core.purge import PURGE_DONE
from apps.documents.models import Document
from apps.documents.tests import samples
from apps.sources.tests.factories import CrawlPageFactory, CrawlSourceFactory


def bot_delete_and_purge(bot) -> None:
    bot_delete(bot=bot)
    assert bot_purge(bot_id=bot.pk) == PURGE_DONE


def bot_with_rows(organization, conversations: int = 2) -> tuple[Bot, Document]:
    bot = BotFactory(organization=organization)
    document = ingest(bot, "guide.md", samples.md())
    for _ in range(conversations):
        conversation = Conversation.objects.create(organization=organization, bot=bot)
        Message.objects.create(organization=organization, conversation=conversation, role="user", content="Hi")
    QAPair.objects.create(organization=organization, bot=bot, question="Why?", answer="Because.")
    CrawlPageFactory(source=CrawlSourceFactory(bot=bot))
    return bot, document
