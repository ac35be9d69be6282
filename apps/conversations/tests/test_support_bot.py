"""A small customer-support bot as a shop builds one (eight short files: FAQs in plain text with questions and
answers on consecutive lines, `Q:`/`A:` lines, Markdown, an HTML accordion, a handbook, a reST guide, a returns
page; an outside drill's files, kept in data/support/), calibrated as after any upload, asked its customers'
plain questions through chat with the offline answerer. Each question gets the passage that answers it; a
question about something else gets the fallback."""

from __future__ import annotations

from pathlib import Path

import pytest

from apps.bots.tests.factories import BotFactory
from apps.conversations import services
from apps.conversations.tests.utils import ingest
from apps.documents.calibration import bot_calibrate

pytestmark = pytest.mark.django_db

DATA = Path(__file__).parent / "data" / "support"

ANSWERS = {
    # questions and answers on consecutive lines of a text file (the whole file was one paragraph: the question
    # was quoted back as the answer)
    "Do you offer student discounts?": "Students get 20 percent off with a valid university email address",
    "How do I contact support?": "Call 555-0100 between 8 am and 5 pm or write to help@acme.test",
    # "How long", "how much": the adjective only asks (it was a search term no document held, which cut the score
    # below the calibrated cut-off)
    "How long is the warranty?": "Every Acme widget has a two-year warranty",
    "How much is express shipping?": "Express shipping costs 15 euros and arrives in 2 days",
    "How long do refunds take?": "Refunds are issued to the original payment method within 10 business days",
    "Is there a loyalty program?": "Yes, every purchase earns one point per euro",
    "How do I reset my router?": "Hold the reset button for ten seconds until the light blinks",
}


@pytest.fixture
def support_bot(db):
    bot = BotFactory(min_score=None)  # the calibrated cut-off decides
    for path in sorted(DATA.iterdir()):
        ingest(bot, path.name, path.read_bytes())
    bot_calibrate(bot=bot)
    bot.refresh_from_db()
    assert bot.calibrated_min_score is not None
    return bot


def ask(bot, question: str):
    conversation = services.conversation_create(organization=bot.organization, bot=bot)
    return services.turn_answer(services.turn_prepare(conversation=conversation, content=question))


def test_a_small_support_bot_answers_its_customers_plain_questions(support_bot, offline):
    for question, expected in ANSWERS.items():
        answer = ask(support_bot, question)
        assert answer.status == "ok", (question, support_bot.calibrated_min_score, answer.error)
        assert answer.content.startswith(expected), (question, answer.content)
        assert question not in answer.content  # never its own question quoted back


def test_the_same_answer_in_two_files_is_quoted_once(support_bot, offline):
    """faq2.txt and faq3.txt both answer "Do you accept bitcoin?" in the same words: one statement, not two."""
    answer = ask(support_bot, "Do you accept bitcoin?")

    assert answer.status == "ok", answer.error
    assert answer.content.count("No, we only accept cards and bank transfers") == 1, answer.content


@pytest.mark.parametrize("question", ["How do I bake sourdough bread?", "Who won the 2018 football world cup?"])
def test_a_question_about_something_else_gets_the_fallback(support_bot, offline, question):
    answer = ask(support_bot, question)

    assert (answer.status, answer.content) == ("unanswered", support_bot.fallback_message)
