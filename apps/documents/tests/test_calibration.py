"""Calibrated refusal (issue 14): apps/documents/calibration.py and the bot's cut-off fields, called
directly with the real embedding model and PostgreSQL (no worker: the flow through Celery is in
test_calibration_worker.py).

Coverage:
- the shipped general set: 300+ distinct questions, none about the held-out benchmark corpora;
- synthetic in-domain questions: deterministic, several kinds, made only of words of the chunk (or
  its heading / document title) they came from, at most the sample size;
- cutoff_for: the smallest 4-decimal cut-off answering at most the target share, ties included;
  cutoff_keeping: the largest one refusing at most the missed-answer share;
- bot_calibrate on a help-centre corpus: the stored cut-off is inside the clip range and consistent
  with the stored figures (the higher of the false-answer and missed-answer cut-offs), and
  recomputing the false-answer rate at that cut-off through chunk_search over the shipped set (minus
  the excluded questions) gives at most the target, and the in-domain rate through chunk_search over
  the synthetic questions matches the figures; a larger missed-answer budget raises the cut-off while
  the false-answer target still holds;
  effective_min_score is the calibrated value; an owner's min_score wins; None restores it;
- an empty bot is not calibrated (the default stays in force);
- the overlap guard: a cooking bot's own questions drop the general set's cooking questions;
- scheduling: a ready document or a deleted ready one marks the bot after commit; only the first
  of many changes asks for a run, a stale marker asks again; the due run waits for the debounce,
  then calibrates and clears the marker, and a change during a run keeps it for the next run.
"""

import re
import unicodedata
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.bots.models import Bot
from apps.bots.services import bot_calibration_request_mark, bot_update
from apps.bots.tests.factories import BotFactory
from apps.documents import calibration
from apps.documents.models import Document
from apps.documents.selectors import chunk_search
from apps.documents.services.upload import IncomingFile, document_delete, document_upload
from apps.documents.tests.calibration_corpus import COOKING, HELP_CENTRE
from apps.documents.tests.utils import ingest

pytestmark = [pytest.mark.django_db, pytest.mark.beside]


@pytest.fixture(autouse=True)
def _automatic_calibration(settings):
    """The test settings turn automatic runs off (no run outlives its test); these tests are about them."""
    settings.REFUSAL_CALIBRATION_AUTO = True


def load(organization, bot, corpus: dict[str, str]) -> list[Document]:
    outcomes = document_upload(
        organization=organization, bot=bot, files=[IncomingFile(name, text.encode()) for name, text in corpus.items()]
    )
    return [ingest(outcome.document) for outcome in outcomes]


@pytest.fixture
def help_bot(organization):
    bot = BotFactory(organization=organization, min_score=None)
    load(organization, bot, HELP_CENTRE)
    return Bot.objects.get(pk=bot.pk)


def words(text: str) -> set[str]:
    return {word.lower() for word in re.findall(r"[A-Za-z0-9]+", text)}


def test_general_questions_are_many_distinct_and_off_the_benchmarks():
    """300+ distinct questions, no comments left in, none about PostgreSQL, Celery or Sphinx."""
    questions = calibration.general_questions()
    assert len(questions) >= 300
    assert len({q.lower() for q in questions}) == len(questions)
    assert not [q for q in questions if q.startswith("#")]
    assert not [q for q in questions if re.search(r"postgres|celery|sphinx", q, re.IGNORECASE)]


@pytest.mark.parametrize("language", ["fr", "de", "es", "it", "nl", "pt"])
def test_general_questions_of_other_languages(language):
    """A set for each other language Beacon speaks: 100+ distinct questions in the language (as Beacon detects it),
    none about the benchmark corpora; a language without a set has none."""
    from apps.core.languages import MESSAGE_LANGUAGES, text_language

    questions = calibration.general_questions(language)
    assert len(questions) >= 100
    assert len({q.lower() for q in questions}) == len(questions)
    assert not [q for q in questions if q.startswith("#")]
    assert not [q for q in questions if re.search(r"postgres|celery|sphinx", q, re.IGNORECASE)]
    detected = [text_language(q, among=MESSAGE_LANGUAGES) for q in questions]
    assert sum(code == language for code in detected) >= 0.9 * len(questions)
    assert calibration.general_questions("xx") == ()


def test_synthetic_questions_are_deterministic_and_honest(organization, help_bot):
    """Same corpus, same questions; each is made of words of its chunk, heading or document title."""
    first = calibration.synthetic_questions(organization=organization, bot=help_bot, limit=200)
    again = calibration.synthetic_questions(organization=organization, bot=help_bot, limit=200)
    assert first == again
    assert len(first) >= 10
    assert {q.kind for q in first} == {"heading", "sentence", "title"}
    from apps.documents.models import Chunk

    template = {"what", "is", "how", "do", "i", "tell", "me", "about"}
    for question in first:
        chunk = Chunk.objects.select_related("document").get(pk=question.chunk_id)
        source = words(chunk.text) | words(" ".join(chunk.heading_path)) | words(chunk.document.title)
        assert words(question.text) - template <= source, question
    assert len(calibration.synthetic_questions(organization=organization, bot=help_bot, limit=5)) == 5


def test_heading_and_sentence_templates():
    """Task headings become "How do I ...?"; a linking-verb sentence is inverted; code and sentences that lean
    on their context are no question."""
    assert calibration._heading_question("Configure the webhook secret", 0) == "How do I configure the webhook secret?"
    assert calibration._heading_question("Due dates and reminders", 0) == "What is Due dates and reminders?"
    assert calibration._heading_question("Due dates and reminders", 1) == "Due dates and reminders"
    assert calibration._sentence_question("Archived cards are kept for a year. More.") == (
        "Are archived cards kept for a year?"
    )
    assert calibration._sentence_question("x = {'a': 1}; y = f(x) + 2") is None
    # A first sentence too long to be a question is not cut short into one ending mid-phrase.
    long_sentence = (
        "If you have understood the preceding sections on tasks and queues you already know most of what you "
        "need. More."
    )
    assert calibration._sentence_question(long_sentence) is None
    assert calibration._sentence_question("Refunds are processed within 14 days by the billing team.") == (
        "Are refunds processed within 14 days by the billing team?"
    )
    # A chunk that starts with a list item (stored "- item" / "1. item"): its marker is no sentence of its own.
    for item in ("1. Download the installer from the site.", "- Download the installer from the site."):
        assert calibration._sentence_question(item) == "Download the installer from the site?"
    # A first sentence that leans on its context makes no question: it starts mid-thought, points elsewhere
    # or introduces what follows (real first sentences of PostgreSQL's and Python's documentation).
    for leaning in (
        "But these are not.",
        "and then insert the NOT key word where desired.",
        "(note that this will pop up a GUI dialog window for confirmation)",
        "See Section 34.1.1.3 for details.",
        "Combines both of the above options.",
        "Here is a list of the significant variables that can be set in this manner.",
        "The arg parameter depends on the previous event.",
        "If you are using csh or tcsh, then use this command:",
        "To build the application, proceed as follows:",
        # a demonstrative or pronoun standing for what came before, a version note (Python's documentation)
        "That's a tough one, in general.",
        "This function had been documented as safe in the past.",
        "These are stored in the table.",
        "Their values are copied.",
        "New in version 3.6: %G, %u and %V were added.",
        "Deprecated since version 3.12.",
        "Changed in version 2: the default changed from 1 to 2 seconds.",
    ):
        assert calibration._sentence_question(leaning) is None, leaning
    # a sentence that opens with "It" may stand alone ("It is possible to ...") and is asked
    assert calibration._sentence_question("It is possible to rename a column.") == "Is it possible to rename a column?"


@pytest.mark.parametrize(
    ("language", "leaning", "standing"),
    [
        ("fr", "Mais ces fichiers ne sont pas copiés.", "Les fichiers temporaires sont supprimés au démarrage."),
        ("fr", "Voir la section 3 pour les détails.", "La commande rmdir supprime un répertoire vide."),
        ("fr", "Les options suivantes sont reconnues par la commande.", "Le remboursement est versé sous cinq jours."),
        ("de", "Aber diese Dateien werden nicht kopiert.", "Temporäre Dateien werden beim Start gelöscht."),
        ("de", "Die Optionen sind unten beschrieben.", "Der Befehl rmdir entfernt ein leeres Verzeichnis."),
        ("es", "Pero estos archivos no se copian.", "Los archivos temporales se borran al iniciar."),
        ("it", "Vedi la sezione 3 per i dettagli.", "Il comando rmdir rimuove una directory vuota."),
        ("nl", "Maar deze bestanden worden niet gekopieerd.", "Tijdelijke bestanden worden bij het starten gewist."),
        ("pt", "Veja a seção 3 para os detalhes.", "O comando rmdir remove um diretório vazio."),
        ("fr", "Cette fonction renvoie une copie.", "Il est possible de renommer une colonne."),
        ("de", "Dieser Befehl entfernt die Datei.", "Es gibt drei Arten von Indizes."),
        ("es", "Esta función devuelve una copia.", "La función devuelve una copia."),
        ("it", "Questa funzione restituisce una copia.", "Il comando restituisce una copia."),
        ("nl", "Deze functie geeft een kopie terug.", "Het commando geeft een kopie terug."),
        ("pt", "Esta função devolve uma cópia.", "A função devolve uma cópia."),
    ],
)
def test_first_sentences_of_other_languages(language, leaning, standing):
    """In the chunk's language, a first sentence that leans on its context ("Mais ...", "voir ...", "unten") makes
    no question, and one that stands on its own is asked as written."""
    assert calibration._sentence_question(leaning, language) is None
    assert calibration._sentence_question(standing, language) == standing.rstrip(".") + "?"


def test_the_linking_verb_inversion_is_for_english():
    """ "Der Kunde will ..." is no "X will Y" to turn into "Will der Kunde ...?"; in English the sentence is
    inverted; a sentence whose accents are decomposed (e + U+0301) leans on its context all the same."""
    assert calibration._sentence_question("Der Kunde will eine neue Rechnung haben.", "de") == (
        "Der Kunde will eine neue Rechnung haben?"
    )
    assert calibration._sentence_question("The customer will get a new invoice.", "en") == (
        "Will the customer get a new invoice?"
    )
    decomposed = unicodedata.normalize("NFD", "Néanmoins le serveur garde les fichiers.")
    assert calibration._sentence_question(decomposed, "fr") is None


def test_headings_many_documents_share_make_no_question(organization):
    """A heading three documents share ("Examples") names no topic: it is generic and makes no
    synthetic question; a heading of one document does."""
    bot = BotFactory(organization=organization, min_score=None)
    topics = {"webhooks": "Webhook deliveries are signed", "exports": "Exports are CSV files",
              "invoices": "Invoices are issued monthly"}  # fmt: skip
    load(organization, bot, {
        f"{topic}.md": f"# {topic.title()}\n\n{sentence} for every workspace owner.\n\n"
                       f"## Examples\n\nAn example of {topic} in a small workspace with two owners.\n\n"
                       f"## Limits of {topic}\n\nAt most ten {topic} a minute reach one workspace.\n"
        for topic, sentence in topics.items()
    })  # fmt: skip
    assert "examples" in calibration.generic_headings(organization=organization, bot=bot)
    assert "limits of webhooks" not in calibration.generic_headings(organization=organization, bot=bot)
    questions = calibration.synthetic_questions(organization=organization, bot=bot, limit=200)
    assert questions
    assert not [q for q in questions if "examples" in q.text.lower()]
    assert [q for q in questions if q.kind == "heading"], questions  # the documents' own headings still ask


@pytest.mark.parametrize(
    ("scores", "target", "expected"),
    [
        ([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0], 0.1, 0.8001),  # one of ten may pass
        ([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0], 0.0, 0.9001),
        ([0.5, 0.5, 0.5, 0.1], 0.25, 0.5001),  # a tie at the boundary is refused together
        ([0.4, 0.3], 1.0, 0.0),
    ],
)
def test_cutoff_for(scores, target, expected):
    """The smallest cut-off with at most `target` of the scores at or above it."""
    cutoff = calibration.cutoff_for(scores, target)
    assert cutoff == expected
    assert calibration.answered_rate(scores, cutoff) <= target


@pytest.mark.parametrize(
    ("scores", "missed", "expected"),
    [
        ([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0], 0.1, 0.1),  # one of ten may be refused
        ([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0], 0.0, 0.0),
        ([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0], 0.35, 0.3),
        ([0.5, 0.3, 0.3, 0.1], 0.25, 0.3),  # a tie at the boundary is answered together
        ([0.4, 0.3], 1.0, 0.4),  # everything may be refused: the highest score
        ([], 0.1, 0.0),
    ],
)
def test_cutoff_keeping(scores, missed, expected):
    """The largest cut-off with at most `missed` of the scores below it."""
    cutoff = calibration.cutoff_keeping(scores, missed)
    assert cutoff == expected
    if scores:
        assert 1 - calibration.answered_rate(scores, cutoff) <= missed
        assert 1 - calibration.answered_rate(scores, cutoff + 0.0001) > missed or cutoff == max(scores)


def _synthetic_answered(organization, bot, cutoff: float) -> float:
    """The share of the bot's synthetic in-domain questions chunk_search answers at `cutoff`."""
    questions = calibration.synthetic_questions(organization=organization, bot=bot, limit=200)
    answered = [q for q in questions if chunk_search(organization=organization, bot=bot, query=q.text, k=1,
                                                     min_score=cutoff)]  # fmt: skip
    return len(answered) / len(questions)


def test_calibration_meets_the_target_and_its_figures_hold(organization, help_bot, settings):
    """Stored cut-off in range; recomputing the false-answer rate at it over the bot's out-of-domain set (the
    shipped questions nearest to its domain) gives <= target."""
    cutoff = calibration.bot_calibrate(bot=help_bot)
    help_bot.refresh_from_db()
    figures = help_bot.calibration
    assert help_bot.calibrated_min_score == cutoff
    assert help_bot.calibrated_at is not None
    assert settings.REFUSAL_MIN_CUTOFF <= cutoff <= settings.REFUSAL_MAX_CUTOFF
    assert help_bot.effective_min_score == cutoff
    assert figures["target_false_answer_rate"] == settings.REFUSAL_TARGET_FALSE_ANSWER_RATE == 0.1
    assert figures["corpus"] == {"documents": 5, "chunks": figures["corpus"]["chunks"]}
    assert figures["corpus"]["chunks"] >= 5
    general = calibration.general_questions()
    pool = [q for q in general if q not in figures["out_of_domain_excluded"]]
    assert figures["out_of_domain_pool"] == len(pool)
    kept = figures["out_of_domain_set"]
    assert figures["out_of_domain_questions"] == len(kept) == min(settings.REFUSAL_NEAR_QUESTIONS, len(pool))
    assert set(kept) <= set(pool)
    # The nearest general questions to a help centre include support questions and leave recipes out.
    assert "How do I cancel my subscription before the trial ends?" in kept
    assert "How do I make fluffy pancakes?" not in kept
    assert figures["in_domain_questions"] == sum(figures["in_domain_kinds"].values()) > 0
    assert figures["out_of_domain_languages"] == ["en"]

    # Recompute independently: every kept general question through the search, at the stored cut-off.
    answered = [
        q for q in kept if chunk_search(organization=organization, bot=help_bot, query=q, k=1, min_score=cutoff)
    ]
    assert len(answered) / len(kept) == pytest.approx(figures["false_answer_rate"], abs=1e-4)
    assert figures["false_answer_rate"] <= 0.1
    # With the bot's own cut-off in force (no min_score given), the same questions are refused.
    assert not chunk_search(organization=organization, bot=help_bot, query="How do I renew my passport?")
    assert 0 < figures["in_domain_answered_rate"] <= 1
    # The cut-off is the higher of the two targets' cut-offs (inside the clip range here).
    assert figures["target_missed_answer_rate"] == settings.REFUSAL_TARGET_MISSED_ANSWER_RATE == 0.01
    for_false, for_missed = figures["cutoff_for_false_answer_rate"], figures["cutoff_for_missed_answer_rate"]
    assert cutoff == figures["unclipped_cutoff"] == max(for_false, for_missed)
    assert figures["decided_by"] == ("missed_answer_rate" if for_missed > for_false else "false_answer_rate")
    assert _synthetic_answered(organization, help_bot, cutoff) == pytest.approx(
        figures["in_domain_answered_rate"], abs=1e-4
    )
    if figures["decided_by"] == "missed_answer_rate":
        assert figures["in_domain_answered_rate"] >= 0.99
    scores = figures["scores"]
    assert scores["in_domain"]["p50"] > scores["out_of_domain"]["p50"]
    assert [row["score"] for row in figures["highest_out_of_domain"]] == sorted(
        (row["score"] for row in figures["highest_out_of_domain"]), reverse=True
    )


FRENCH_SHOP = {
    "livraison.md": "# Livraison\n\n## Délais d'expédition\n\nLes commandes passées avant midi sont expédiées le jour "
    "même depuis notre entrepôt de Lyon. Le samedi, les commandes partent le lundi suivant.\n\n## Suivi du colis\n\n"
    "Chaque colis est suivi : vous recevez un numéro de suivi par courriel dès son départ de l'entrepôt.\n",
    "retours.md": "# Retours\n\n## Réception des retours\n\nVous pouvez retourner un article pendant trente jours, "
    "dans son emballage d'origine.\n\n## Remboursement\n\nLe remboursement est versé sur votre carte bancaire dans "
    "les cinq jours ouvrés qui suivent la réception du retour.\n",
    "compte.md": "# Compte client\n\n## Mot de passe oublié\n\nCliquez sur « Mot de passe oublié » sur la page de "
    "connexion : un lien de réinitialisation vous est envoyé par courriel.\n\n## Adresses de livraison\n\n"
    "Votre compte garde plusieurs adresses de livraison ; choisissez-en une à chaque commande.\n",
}
GERMAN_PAGE = {
    "versand.md": "# Versand\n\n## Versandkosten\n\nDie Versandkosten trägt der Kunde, ab fünfzig Euro liefern wir "
    "kostenlos. Die Rechnung wird am Monatsende per E-Mail verschickt.\n"
}


def test_a_french_bot_is_calibrated_with_french_questions(organization):
    """A French bot's in-domain questions are French ("Qu'est-ce que <heading> ?", "Parlez-moi de <heading>"), and
    its out-of-domain set holds the French general questions besides the English ones: its visitors ask in
    French, and English questions, which French passages barely match, set too low a cut-off for them."""
    bot = BotFactory(organization=organization, min_score=None, language="fr")
    load(organization, bot, FRENCH_SHOP)

    inside = calibration.synthetic_questions(organization=organization, bot=bot, limit=50)
    from_headings = [q.text for q in inside if q.kind in ("heading", "title")]
    assert any(text.startswith(("Qu'est-ce que", "Parlez-moi de")) for text in from_headings), from_headings
    assert not [q.text for q in inside if q.text.startswith(("What is", "Tell me about", "How do I"))]
    # An accented heading is words (read as no words before: "Délais d'expédition" gave no question).
    assert "Qu'est-ce que Délais d'expédition ?" in [q.text for q in inside]

    cutoff = calibration.bot_calibrate(bot=bot)
    bot.refresh_from_db()
    figures = bot.calibration
    assert figures["out_of_domain_languages"] == ["en", "fr"]
    assert figures["out_of_domain_pool"] == len(calibration.general_questions()) + len(
        calibration.general_questions("fr")
    ) - len(figures["out_of_domain_excluded"])
    assert set(figures["out_of_domain_set"]) & set(calibration.general_questions("fr"))
    assert not chunk_search(organization=organization, bot=bot, query="Quelle est la capitale de l'Australie ?")
    assert chunk_search(organization=organization, bot=bot, query="Quand le remboursement est-il versé ?", k=1)
    assert cutoff == bot.calibrated_min_score


def test_an_automatic_bot_takes_the_sets_of_its_documents_languages(organization, help_bot):
    """`auto`: the languages its chunks are indexed in (fr, de) add their sets to English's; an English bot
    (and a language without a set) keeps English's alone."""
    bot = BotFactory(organization=organization, min_score=None, language="auto")
    load(organization, bot, {**FRENCH_SHOP, **GERMAN_PAGE})

    assert calibration.bot_languages(bot) == ["de", "fr"]
    questions, chosen = calibration.out_of_domain_questions(bot)
    assert chosen == ["en", "de", "fr"]
    assert len(questions) == sum(len(calibration.general_questions(code)) for code in chosen)
    assert calibration.out_of_domain_questions(help_bot) == (list(calibration.general_questions()), ["en"])
    assert calibration.out_of_domain_questions(BotFactory(organization=organization, language="pl"))[1] == ["en"]


def test_missed_answer_budget_raises_the_cutoff_within_the_false_answer_target(organization, help_bot, settings):
    """Allowed to refuse half its own questions, the bot's cut-off rises to the median of their scores, above
    the false-answer one: fewer general questions answered, at least half of the in-domain ones still are."""
    settings.REFUSAL_TARGET_MISSED_ANSWER_RATE = 0.0
    strict = calibration.bot_calibrate(bot=help_bot)
    settings.REFUSAL_TARGET_MISSED_ANSWER_RATE = 0.5
    cutoff = calibration.bot_calibrate(bot=help_bot)
    help_bot.refresh_from_db()
    figures = help_bot.calibration
    assert figures["decided_by"] == "missed_answer_rate"
    assert cutoff == figures["cutoff_for_missed_answer_rate"] > figures["cutoff_for_false_answer_rate"]
    assert cutoff > strict
    assert figures["false_answer_rate"] <= 0.1
    assert 0.5 <= figures["in_domain_answered_rate"] < 1
    assert _synthetic_answered(organization, help_bot, cutoff) >= 0.5
    # The cut-off in force is the raised one: an in-domain question below it is refused by the search.
    assert help_bot.effective_min_score == cutoff
    questions = calibration.synthetic_questions(organization=organization, bot=help_bot, limit=200)
    lowest = min(questions, key=lambda q: calibration.answerability(organization=organization, bot=help_bot,
                                                                    question=q.text))  # fmt: skip
    assert not chunk_search(organization=organization, bot=help_bot, query=lowest.text)


def test_owner_override_wins_and_null_restores_the_calibrated_value(organization, help_bot):
    """min_score set: it is the cut-off of the search; set back to None: the calibrated value again."""
    Bot.objects.filter(pk=help_bot.pk).update(calibrated_min_score=0.99)
    help_bot.refresh_from_db()
    assert not chunk_search(organization=organization, bot=help_bot, query="How do I invite teammates?")
    bot, changed = bot_update(bot=help_bot, data={"min_score": 0.05})
    assert changed and bot.effective_min_score == 0.05
    assert chunk_search(organization=organization, bot=bot, query="How do I invite teammates?")
    bot, changed = bot_update(bot=bot, data={"min_score": None})
    assert changed and Bot.objects.get(pk=bot.pk).effective_min_score == 0.99


def test_empty_bot_is_not_calibrated(organization, settings):
    """No searchable chunk: nothing measured, the default cut-off stays in force."""
    settings.REFUSAL_DEFAULT_MIN_SCORE = 0.42
    bot = BotFactory(organization=organization, min_score=None)
    assert calibration.bot_calibrate(bot=bot) is None
    bot.refresh_from_db()
    assert bot.calibrated_min_score is None
    assert bot.calibration == {"corpus": {"chunks": 0, "documents": 0}}
    assert bot.effective_min_score == 0.42


def test_overlap_guard_drops_general_questions_in_the_bots_domain(organization):
    """A cooking bot: the general set's questions that are its own questions are not counted as out-of-domain."""
    bot = BotFactory(organization=organization, min_score=None)
    load(organization, bot, COOKING)
    calibration.bot_calibrate(bot=bot)
    bot.refresh_from_db()
    excluded = bot.calibration["out_of_domain_excluded"]
    assert "How do I caramelize onions?" in excluded
    assert "How do I renew my passport?" not in excluded
    assert len(excluded) < 20
    assert bot.calibration["out_of_domain_pool"] == len(calibration.general_questions()) - len(excluded)


def test_ingestion_changes_mark_the_bot_once(organization, django_capture_on_commit_callbacks, settings):
    """A ready document and a deleted ready one mark the bot after commit; pending ones don't."""
    bot = BotFactory(organization=organization, min_score=None)
    with django_capture_on_commit_callbacks() as callbacks:
        [document] = load(organization, bot, {"billing.md": HELP_CENTRE["billing.md"]})
    marks = [c for c in callbacks if getattr(c, "func", None) is calibration._calibration_request]
    assert len(marks) == 1 and marks[0].args == (organization.pk, bot.pk)
    with django_capture_on_commit_callbacks() as callbacks:
        document_delete(document=document)
    assert [c.args for c in callbacks if getattr(c, "func", None) is calibration._calibration_request] == [
        (organization.pk, bot.pk)
    ]
    pending = document_upload(organization=organization, bot=bot, files=[IncomingFile("new.md", b"# New\n\nText.")])
    with django_capture_on_commit_callbacks() as callbacks:
        document_delete(document=pending[0].document)
    assert not [c for c in callbacks if getattr(c, "func", None) is calibration._calibration_request]


def test_only_the_first_of_many_changes_asks_for_a_run(organization):
    """600 changes in a row: one run requested; a marker older than the stale limit asks again."""
    bot = BotFactory(organization=organization)
    stale = timedelta(minutes=10)
    asks = [bot_calibration_request_mark(bot_id=bot.pk, stale_after=stale) for _ in range(600)]
    assert asks == [True] + [False] * 599
    Bot.objects.filter(pk=bot.pk).update(calibration_requested_at=timezone.now() - timedelta(hours=1))
    assert bot_calibration_request_mark(bot_id=bot.pk, stale_after=stale) is True
    assert bot_calibration_request_mark(bot_id=10**9, stale_after=stale) is False


def test_due_run_waits_for_the_debounce_then_calibrates(organization, settings):
    """A fresh marker: no run yet; a marker a debounce old: a run (here on an empty bot) and the marker cleared."""
    settings.REFUSAL_CALIBRATION_DEBOUNCE_SECONDS = 3600
    bot = BotFactory(organization=organization, min_score=None)
    Bot.objects.filter(pk=bot.pk).update(calibration_requested_at=timezone.now())
    assert calibration.bot_calibrate_due(organization_id=organization.pk, bot_id=bot.pk) is None
    bot.refresh_from_db()
    assert bot.calibrated_at is None and bot.calibration_requested_at is not None

    Bot.objects.filter(pk=bot.pk).update(calibration_requested_at=timezone.now() - timedelta(hours=2))
    assert calibration.bot_calibrate_due(organization_id=organization.pk, bot_id=bot.pk) is None
    bot.refresh_from_db()
    assert bot.calibrated_at is not None and bot.calibration == {"corpus": {"chunks": 0, "documents": 0}}
    assert bot.calibration_requested_at is None
    # Nothing pending: a duplicate task does nothing; another organization's id finds no bot.
    before = bot.calibrated_at
    assert calibration.bot_calibrate_due(organization_id=organization.pk, bot_id=bot.pk) is None
    assert calibration.bot_calibrate_due(organization_id=organization.pk + 1, bot_id=bot.pk, force=True) is None
    assert Bot.objects.get(pk=bot.pk).calibrated_at == before


def test_a_change_during_a_run_keeps_the_marker(organization, help_bot):
    """The marker is cleared only if unchanged since the run started, so a newer change gets its run."""
    from apps.bots.services import bot_calibration_request_clear

    started = timezone.now() - timedelta(minutes=5)
    Bot.objects.filter(pk=help_bot.pk).update(calibration_requested_at=timezone.now())
    assert bot_calibration_request_clear(bot_id=help_bot.pk, requested_at=started) is False
    assert Bot.objects.get(pk=help_bot.pk).calibration_requested_at is not None


def test_calibrate_bot_command(organization):
    """`manage.py calibrate_bot <id>` on an empty bot says so; an unknown bot is an error; --all runs every bot."""
    from io import StringIO

    from django.core.management import CommandError, call_command

    bot = BotFactory(organization=organization, min_score=None)
    out = StringIO()
    call_command("calibrate_bot", str(bot.pk), stdout=out)
    assert f"Bot {bot.pk} has no ready documents" in out.getvalue()
    with pytest.raises(CommandError, match="No bot"):
        call_command("calibrate_bot", "999999999")
    out = StringIO()
    call_command("calibrate_bot", "--all", stdout=out)
    assert f"bot {bot.pk}: calibrated None, in force 0.3" in out.getvalue()
