"""Languages in the knowledge base (issue 17 item 3): French and German documents through the real pipeline.

Coverage:
- a French bot indexes its documents with the `french` configuration (document and chunks say so), and a
  question with a plural or another form of a word ("chevaux", "rembourser") finds the passage holding the
  singular or a derived form ("cheval", "remboursement"); the same document in an English bot does not
  (the old global configuration): the French stemmer is what finds it;
- a German bot: inflected forms ("Häuser", "Rechnungen") find "Haus", "Rechnung";
- an `auto` bot detects each document's language (fr, de, en) and indexes it with its configuration; the
  BM25 statistics are kept per configuration and stay exact (recount); a French and a German question
  each find their document through the words half, with the question parsed in each configuration;
- `question_subject` drops the words that only ask for an answer ("can you tell me about", "explain",
  "please", and the same in fr, de, es, it, nl, pt), and nothing else: a "tell" inside the question, a word
  that starts like one, a bare request, a request word in capitals (a command: "EXPLAIN ANALYZE"); a French
  or German request scores as its subject alone in the search;
- a text too short to tell gets SEARCH_TEXT_CONFIG's language; a language without a stemmer gets `simple`;
- the bot stats API counts ready documents per language;
- `EMBEDDING_MODEL` as a local model directory (standing in for a multilingual sentence-transformers
  model, none being on disk) embeds new documents, and `manage.py reembed --prune` moves a bot to it.
"""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from apps.bots.tests.factories import BotFactory
from apps.core.embeddings import get_embedder
from apps.core.languages import (
    document_language,
    lexemes,
    question_subject,
    text_language,
    without_question_words,
)
from apps.documents.lexeme_stats import lexeme_stats_recount, lexeme_stats_stored
from apps.documents.models import Chunk, ChunkEmbedding, Document
from apps.documents.selectors import chunk_search
from apps.documents.services.upload import document_create_from_text
from apps.documents.tests.utils import ingest
from apps.organizations.models import Role
from apps.organizations.tests.factories import MembershipFactory
from conftest import client_for

pytestmark = pytest.mark.django_db

FRENCH = """Livraison

Les commandes passées avant midi sont expédiées le jour même depuis notre entrepôt de Lyon. Chaque colis est
suivi : vous recevez un numéro de suivi par courriel dès son départ.

Retours

Vous pouvez retourner un article pendant trente jours. Le remboursement est versé sur votre carte bancaire dans
les cinq jours ouvrés qui suivent la réception du retour.

La ferme

Notre ferme accueille un cheval de trait, soigné chaque semaine par une vétérinaire du village.
"""

GERMAN = """Rechnung und Versand

Die Rechnung wird am Monatsende per E-Mail verschickt. Die Versandkosten trägt der Kunde, ab fünfzig Euro
liefern wir kostenlos.

Unser Haus

Das Haus am Marktplatz ist von Montag bis Freitag geöffnet. Parkplätze gibt es im Hof hinter dem Gebäude.
"""

ENGLISH = """Opening hours

The shop is open from Monday to Saturday. On public holidays the support team answers emails the next day.
"""


def document(bot, title: str, text: str) -> Document:
    created, _ = document_create_from_text(organization=bot.organization, bot=bot, title=title, text=text)
    ready = ingest(created)
    assert ready.status == Document.Status.READY, ready.error
    return ready


def words_only(bot, question: str):
    """The bot's best hit for `question` by the words half alone (dense weight 0, no cut-off)."""
    bot.dense_weight, bot.min_score = 0.0, 0.0
    return chunk_search(organization=bot.organization, bot=bot, query=question, k=1)[0]


def test_french_bot_stems_plurals_and_derived_forms(organization):
    """fr: `french` configuration on the document and its chunks; "chevaux" finds "cheval", "rembourser" finds
    "remboursement"; in an English bot the plural finds nothing by its words."""
    bot = BotFactory(organization=organization, language="fr")
    doc = document(bot, "Aide", FRENCH)

    assert (doc.language, doc.search_config) == ("fr", "french")
    assert set(Chunk.objects.filter(document=doc).values_list("search_config", flat=True)) == {"french"}
    horse = words_only(bot, "Combien de chevaux avez-vous ?")
    assert "cheval de trait" in horse.text and horse.lexical > 0 and "<mark>cheval</mark>" in horse.snippet
    refund = words_only(bot, "Comment rembourser un article ?")
    assert "remboursement" in refund.text and refund.lexical > 0

    english_bot = BotFactory(organization=organization, language="en")
    english_doc = document(english_bot, "Aide", FRENCH)
    assert english_doc.search_config == "english"
    hits = chunk_search(organization=organization, bot=english_bot, query="chevaux", k=5, min_score=0.0)
    assert all(not hit.lexical for hit in hits)


def test_german_bot_stems_inflections(organization):
    """de: "Häuser" finds "Haus", "Rechnungen" finds "Rechnung" (umlaut and plural endings)."""
    bot = BotFactory(organization=organization, language="de")
    doc = document(bot, "Hilfe", GERMAN)

    assert (doc.language, doc.search_config) == ("de", "german")
    houses = words_only(bot, "Welche Häuser haben geöffnet?")
    assert "Das Haus am Marktplatz" in houses.text and houses.lexical > 0
    invoices = words_only(bot, "Wann kommen die Rechnungen?")
    assert "Die Rechnung wird am Monatsende" in invoices.text and invoices.lexical > 0


def test_auto_bot_detects_each_language_and_keeps_statistics_per_configuration(organization):
    """auto: fr, de and en detected and indexed each in its configuration; exact per-configuration BM25
    statistics; French and German questions find their documents by their words."""
    bot = BotFactory(organization=organization, language="auto")
    french, german = document(bot, "Aide", FRENCH), document(bot, "Hilfe", GERMAN)
    english = document(bot, "Help", ENGLISH)

    assert [(d.language, d.search_config) for d in (french, german, english)] == [
        ("fr", "french"),
        ("de", "german"),
        ("en", "english"),
    ]
    stored = lexeme_stats_stored(bot_id=bot.pk)
    assert stored == lexeme_stats_recount(bot_id=bot.pk)
    assert set(stored) == {"french", "german", "english"}
    assert stored["french"][0] == french.chunk_count and stored["german"][0] == german.chunk_count
    assert "cheval" in stored["french"][2] and "rechnung" in stored["german"][2] and "cheval" not in stored["german"][2]

    horse = words_only(bot, "Avez-vous des chevaux ?")
    assert horse.document_id == french.pk and horse.lexical > 0
    houses = words_only(bot, "Sind die Häuser am Samstag geöffnet?")
    assert houses.document_id == german.pk and houses.lexical > 0


@pytest.mark.parametrize(
    ("question", "subject"),
    [
        ("Tell me about Properties", "Properties"),
        ("Could you please tell me more about the Event Loop?", "the Event Loop?"),
        ("Hi, can you explain generators to me?", "generators to me?"),
        ("Explain how decorators work", "how decorators work"),
        ("I'd like to learn about asyncio, please", "asyncio"),
        ("I would like to know more about logging", "logging"),
        ("What do you know about pickling?", "pickling?"),
        ("Do you know anything about zlib?", "zlib?"),
        ("Give me an overview of the GIL", "the GIL"),
        ("Show me an example of a dataclass", "an example of a dataclass"),
        ("What is a tuple? Thanks!", "What is a tuple?"),
        ("Hi, how do I reset my password?", "how do I reset my password?"),
        ("Please reset my password", "reset my password"),
        ("Would you recommend asyncio over threads?", "recommend asyncio over threads?"),
        # Nothing to drop: a "tell" that is the subject, a word that only starts like a request, a bare request.
        ("How do I tell if a file exists?", "How do I tell if a file exists?"),
        ("Tellurium compounds", "Tellurium compounds"),
        ("Hello world program in C", "Hello world program in C"),
        ("explanation of the planner", "explanation of the planner"),
        ("Explain.", "Explain."),
        ("EXPLAIN ANALYZE output", "EXPLAIN ANALYZE output"),
        ("SHOW search_path, please", "SHOW search_path"),
        # The other languages Beacon speaks; German and Dutch leave the verb at the end.
        ("Bonjour, pouvez-vous m'expliquer le fonctionnement des retours ?", "le fonctionnement des retours ?"),
        ("Parlez-moi d'Ansible, s'il vous plaît", "Ansible"),
        ("J'aimerais en savoir plus sur les retours", "les retours"),
        ("Kannst du mir bitte Generatoren erklären?", "Generatoren?"),
        ("Hallo, ich möchte mehr über den Versand erfahren.", "den Versand"),
        ("Kannst du mir bitte erklären, wie man Dateien kopiert?", "wie man Dateien kopiert?"),
        ("Ich würde gerne wissen, wann die Rechnung kommt", "wann die Rechnung kommt"),
        ("¿Puedes explicarme cómo funcionan las devoluciones?", "cómo funcionan las devoluciones?"),
        ("Hola, háblame del envío, por favor", "envío"),
        ("Ciao, puoi spiegarmi il reso?", "il reso?"),
        ("Cosa sai dell'azienda?", "azienda?"),
        ("Kun je de retourregeling uitleggen?", "de retourregeling?"),
        ("Vertel me iets over Amsterdam, alsjeblieft", "Amsterdam"),
        ("Olá, pode me explicar a garantia?", "a garantia?"),
        ("Gostaria de saber mais sobre devoluções", "devoluções"),
        # typographic apostrophes (U+2019), as phones and word processors type them
        ("J\u2019aimerais en savoir plus sur l\u2019entrepôt, s\u2019il vous plaît", "l\u2019entrepôt"),
        # ...and what only looks like a request there: a subject word, an infinitive without "can you".
        ("Über uns", "Über uns"),
        ("Conta de usuário bloqueada", "Conta de usuário bloqueada"),
        ("Contar caracteres en Python", "Contar caracteres en Python"),
        ("Expliquer une requête SQL", "Expliquer une requête SQL"),
        # A request word that goes on with a hyphen or a dot is a name: a command, a method.
        ("describe-instances returns nothing", "describe-instances returns nothing"),
        ("explain.analyze option", "explain.analyze option"),
        ("Hello.world example", "Hello.world example"),
        # No word at the start, or no word at all: the question as asked.
        ("(a) or (b)?", "(a) or (b)?"),
        ("[ -f file ] in a shell", "[ -f file ] in a shell"),
        ("«Bonjour» en anglais ?", "«Bonjour» en anglais ?"),
        ("Hi, [.1 manual", "[.1 manual"),
        ("?", "?"),
        ("", ""),
    ],
)
def test_question_subject(question, subject):
    assert question_subject(question) == subject


def test_question_subject_of_a_long_run_of_separators():
    """A long run of commas and spaces before the tail is read like any question (the tail is looked for in the
    question's last characters: tried at every position of the run, it cost seconds per 5,000 characters)."""
    run = ", " * 20_000
    assert question_subject(run + "what is a tuple? thanks") == run + "what is a tuple?"
    short = ", " * 3
    for lead, tail in (("Kannst du mir bitte ", "Generatoren erklären?"), ("Hi, tell me about ", "zlib, please")):
        assert question_subject(lead + run + tail) == question_subject(lead + short + tail).replace(short, run)


def test_a_french_or_german_request_scores_as_its_subject(organization):
    """The words half reads a French or German request's subject: "Pouvez-vous m'expliquer le remboursement,
    s'il vous plaît ?" scores exactly as "le remboursement ?", where "expliquer" would be a term the documents
    lack; the same for "Kannst du mir bitte die Versandkosten erklären?"."""
    bot = BotFactory(organization=organization, language="auto")
    document(bot, "Aide", FRENCH), document(bot, "Hilfe", GERMAN)

    for asked, plain, verb in (
        ("Pouvez-vous m'expliquer le remboursement, s'il vous plaît ?", "le remboursement ?", "expliquer"),
        ("Kannst du mir bitte die Versandkosten erklären?", "die Versandkosten?", "erklären"),
    ):
        request, subject = words_only(bot, asked), words_only(bot, plain)
        assert request.chunk_id == subject.chunk_id and subject.lexical > 0
        assert request.lexical == pytest.approx(subject.lexical)
        assert words_only(bot, f"{verb} {plain}").lexical < 0.8 * subject.lexical


@pytest.mark.parametrize(
    ("text", "config", "expected"),
    [
        ("Comment configurer la réplication ?", "french", "configurer la réplication ?"),
        ("Pourquoi et QUAND le colis part-il ?", "french", "et le colis part-il ?"),
        ("Où sont les commentaires ?", "french", "sont les commentaires ?"),  # "commentaires" is a word
        ("Warum und wann kommt die Rechnung?", "german", "und kommt die Rechnung?"),
        ("¿Cómo separar por comas?", "spanish", "¿ separar por comas?"),
        ("Perché e quando?", "italian", "Perché e ?"),  # "perché" is in italian.stop already
        ("Waarom en wanneer?", "dutch", "en ?"),
        ("Onde fica a loja?", "portuguese", "fica a loja?"),
        # English's stop list holds its question words; "comment" is an English word.
        ("How do I comment code?", "english", "How do I comment code?"),
        # "how long", "how much", "how many" ask; the adjective is no search term ("a two-year warranty")
        ("How long is the warranty?", "english", "How is the warranty?"),
        ("how MUCH is express shipping and how many stores?", "english", "how is express shipping and how stores?"),
        ("Is the cable long enough?", "english", "Is the cable long enough?"),
        ("Comment ça marche ?", "simple", "Comment ça marche ?"),
    ],
)
def test_without_question_words(text, config, expected):
    """The words are left out (the spacing does not matter: the text is parsed into search terms)."""
    assert without_question_words(text, config).split() == expected.split()


def test_lexemes_are_the_configurations_reading():
    """Each text's lexemes as the search parses it with the configuration (stemmed, stop words out), in order;
    a configuration Beacon does not know is refused before it reaches SQL."""
    assert lexemes(["Les fichiers sont triés", "", "Dateien"], "french") == [{"le", "fichi", "tri"}, set(), {"dateien"}]
    assert lexemes(["Die Dateien werden gelöscht"], "german") == [{"datei", "geloscht"}]
    assert lexemes([], "french") == []
    with pytest.raises(ValueError, match="klingon"):
        lexemes(["Qapla'"], "klingon")


def test_a_french_question_word_is_not_a_search_term(organization):
    """French: "Comment ... ?" scores in the words half as the question without "comment" (how), which
    french.stop does not hold while english.stop holds "how"; before, "comment" was a term no passage held and
    took a third of the score. In an English bot "comment" stays a term: there it is a word."""
    bot = BotFactory(organization=organization, language="fr")
    document(bot, "Aide", FRENCH)

    asked, plain = words_only(bot, "Comment obtenir le remboursement ?"), words_only(bot, "obtenir le remboursement ?")
    assert asked.chunk_id == plain.chunk_id and plain.lexical > 0
    assert asked.lexical == pytest.approx(plain.lexical)
    english = BotFactory(organization=organization, language="en")
    document(english, "Help", "Comments\n\nYou can comment on any order from its page.")
    assert words_only(english, "comment order").lexical > words_only(english, "how order").lexical


def test_detection_fallbacks(settings):
    """Too short to tell: SEARCH_TEXT_CONFIG's language; a language without a stemmer: `simple`; a bot language
    other than auto is used as is."""
    assert text_language("Ok") == ""
    assert document_language("Ok", language="auto") == ("en", "english")
    settings.SEARCH_TEXT_CONFIG = "german"
    assert document_language("Ok", language="auto") == ("de", "german")
    polish = "Zamówienia złożone przed południem wysyłamy tego samego dnia z naszego magazynu w Krakowie."
    assert document_language(polish, language="auto") == ("pl", "simple")
    assert document_language(polish, language="fr") == ("fr", "french")


def test_bot_stats_count_documents_per_language(organization):
    """GET .../bots/{bot}/stats/: ready documents per language."""
    bot = BotFactory(organization=organization, language="auto")
    document(bot, "Aide", FRENCH)
    document(bot, "Hilfe", GERMAN)
    document(bot, "Hilfe 2", GERMAN.replace("Marktplatz", "Bahnhof"))
    member = MembershipFactory(organization=organization, role=Role.MEMBER).user

    response = client_for(member).get(f"/api/v1/orgs/{organization.slug}/bots/{bot.pk}/stats/")

    assert response.status_code == 200, response.content
    assert response.json()["languages"] == {"de": 2, "fr": 1}


def test_embedding_model_by_path_and_reembed(organization, settings):
    """EMBEDDING_MODEL as a model directory (any sentence-transformers model; here the offline model's folder
    stands in for a multilingual one): reembed --prune moves the bot's vectors to it, and search uses them."""
    bot = BotFactory(organization=organization, language="fr")
    doc = document(bot, "Aide", FRENCH)
    before = get_embedder().name
    settings.EMBEDDING_MODEL = get_embedder().model_path  # the same weights, addressed by path: a new model name

    out = io.StringIO()
    call_command("reembed", "--bot", str(bot.pk), "--prune", stdout=out, stderr=io.StringIO())

    after = get_embedder().name
    assert after == f"local:{settings.EMBEDDING_MODEL}" and after != before
    assert f"Done: {doc.chunk_count} vector(s) written, {doc.chunk_count} old vector(s) pruned." in out.getvalue()
    assert set(ChunkEmbedding.objects.filter(chunk__document=doc).values_list("model", flat=True)) == {after}
    hit = chunk_search(organization=organization, bot=bot, query="Combien de chevaux ?", k=1, min_score=0.0)[0]
    assert "cheval" in hit.text and hit.semantic > 0
