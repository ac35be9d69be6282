"""The bot speaks its language (issue 17 item 3): the fallback, the offline answerer, the model's instruction
and the model-error note, for French, German and Spanish bots and for `auto` bots (the question's language).

Coverage:
- a French bot with the default fallback refuses in French, in one piece and streamed; an owner's own
  fallback is kept word for word;
- an `auto` bot refuses in the language of each question (de, es, fr, en);
- the offline answerer answers a French question from a French document (real pipeline) by quoting it, cited;
- with a language model: the system prompt tells it to answer in French; a model failure gives the French
  note (the default LLM_ERROR_MESSAGE), an operator's own LLM_ERROR_MESSAGE is kept.
"""

from __future__ import annotations

import pytest

from apps.bots.tests.factories import BotFactory
from apps.conversations import services
from apps.conversations.tests.utils import completion, ingest, status
from apps.core.languages import message
from apps.organizations.tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db

AIDE = """# Retours

Vous pouvez retourner un article pendant trente jours après la livraison. Le remboursement est versé sur votre
carte bancaire dans les cinq jours ouvrés qui suivent la réception du colis.

# Livraison

Les commandes passées avant midi sont expédiées le jour même depuis notre entrepôt de Lyon.
""".encode()


def ask(bot, question: str):
    conversation = services.conversation_create(organization=bot.organization, bot=bot)
    return services.turn_answer(services.turn_prepare(conversation=conversation, content=question))


@pytest.fixture
def french_bot(db):
    """A French bot created through the service path's defaults (French fallback), with a French document."""
    bot = BotFactory(organization=OrganizationFactory(), language="fr", min_score=0.0)
    bot.fallback_message = message("en", "fallback")  # an older bot: Beacon's English default, not the owner's
    bot.save()
    ingest(bot, "aide.md", AIDE)
    return bot


def test_french_bot_refuses_in_french(french_bot, offline):
    """Nothing relevant (cut-off 1): the French default fallback, status unanswered, also streamed."""
    french_bot.min_score = 1.0
    french_bot.save()

    answer = ask(french_bot, "Quelle est la vitesse d'une hirondelle ?")

    assert (answer.content, answer.status) == (message("fr", "fallback"), "unanswered")
    assert answer.content.startswith("Désolé, je n'ai pas trouvé cela dans mes documents.")
    conversation = services.conversation_create(organization=french_bot.organization, bot=french_bot)
    events = list(services.turn_stream(services.turn_prepare(conversation=conversation, content="Et les licornes ?")))
    assert events[0] == ("token", {"text": message("fr", "fallback")})
    assert events[-1][1]["content"] == message("fr", "fallback")


def test_owner_fallback_is_kept(french_bot, offline):
    """An owner's own fallback is theirs: sent as written."""
    french_bot.min_score, french_bot.fallback_message = 1.0, "Écrivez-nous : aide@example.com"
    french_bot.save()

    assert ask(french_bot, "Quelle est la vitesse d'une hirondelle ?").content == "Écrivez-nous : aide@example.com"


@pytest.mark.parametrize(
    ("question", "language"),
    [
        ("Wie schnell fliegt eine Schwalbe ohne Gepäck über das Meer?", "de"),
        ("¿A qué velocidad vuela una golondrina sin carga sobre el mar?", "es"),
        ("Quelle est la vitesse d'une hirondelle qui traverse la mer ?", "fr"),
        ("What is the airspeed velocity of an unladen swallow?", "en"),
    ],
)
def test_auto_bot_refuses_in_the_question_language(offline, question, language):
    """auto: the fallback in the language of the question."""
    bot = BotFactory(organization=OrganizationFactory(), language="auto", min_score=1.0)

    answer = ask(bot, question)

    assert (answer.content, answer.status) == (message(language, "fallback"), "unanswered")


def test_offline_answer_quotes_the_french_document(french_bot, offline):
    """A French question answered offline from the French document: its sentence quoted and cited."""
    answer = ask(french_bot, "Combien de jours ai-je pour retourner un article ?")

    assert answer.status == "ok", answer.content
    assert "Vous pouvez retourner un article pendant trente jours après la livraison [1]." in answer.content
    assert [citation["ref"] for citation in answer.citations] == [1]


def test_model_is_told_the_language_and_fails_in_french(french_bot, llm):
    """The system prompt asks for French; a model failure gives the French note."""
    fake = llm(status(500))

    answer = ask(french_bot, "Combien de jours ai-je pour retourner un article ?")

    assert "Answer in French." in fake.bodies[0]["messages"][0]["content"]
    assert (answer.content, answer.status) == (message("fr", "llm_error"), "error")


def test_operator_llm_error_message_is_kept(french_bot, llm, settings):
    """LLM_ERROR_MESSAGE set by the operator: sent as set, whatever the language."""
    settings.LLM_ERROR_MESSAGE = "Service indisponible (maintenance)."
    llm(status(500))

    assert ask(french_bot, "Combien de jours ai-je pour retourner un article ?").content == settings.LLM_ERROR_MESSAGE


def test_model_answer_in_french_is_checked_and_kept(french_bot, llm):
    """A French answer from the model, grounded in the French source, is kept with its citation."""
    llm(completion("Vous pouvez retourner un article pendant trente jours après la livraison [1]."))

    answer = ask(french_bot, "Combien de jours ai-je pour retourner un article ?")

    assert answer.status == "ok" and "trente jours" in answer.content and answer.citations
