"""Grounded answers (issue 14, point 5): the offline answerer and the support check of model answers.
Real database and offline embedder; the remote language model is faked at its HTTP transport only.

Coverage:
- chunk text as units: sentences, list items, whole fenced code blocks with their indentation; reST
  noise (heading underlines, directives, roles, bold labels) left out;
- offline answerer: a "how do I" question gets the introducing sentence and the whole code block
  (indentation kept), a sentence ending with ":" brings its whole list, every prose sentence and item
  carries a marker and is quoted verbatim, no fragments (no dangling ":", balanced fences, no
  markup); a question the hits do not answer gives None; a sentence whose code fell outside the
  chunk is never quoted; the request words of a question ("can you tell me") are not content terms;
- turn, offline: retrieval finds passages but none answers -> the fallback, status unanswered (JSON
  and streamed); streamed tokens add up to exactly the stored content;
- turn, model: an answer with no supported claim becomes the fallback, status unanswered, the
  model's text kept for owners in `error` and the tokens counted (JSON and streamed: tokens first,
  then `done` with the fallback); a partly supported answer keeps only supported markers;
- check_citations: a fenced code block in a model's answer is kept verbatim and checked whole; a
  lead-in like "Here is how:" is not a claim.
"""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pytest

from apps.bots.tests.factories import BotFactory
from apps.conversations import chat, grounding, services
from apps.conversations.models import Message
from apps.conversations.tests.utils import LLM_MODEL, completion, ingest, stream
from apps.core.embeddings import get_embedder
from apps.documents.chunking import split_sentences
from apps.documents.selectors import SearchHit

pytestmark = pytest.mark.django_db

INSTALL_PAGE = """Beacon CLI is distributed as a Python package. It works on Linux, macOS and Windows.

Installing the command line tool requires Python 3.10 or later. Install it with pip using the following command:

```console
$ python -m pip install beacon-cli
```

If you need the optional extras, install them too:

```console
$ python -m pip install "beacon-cli[pdf,ocr]"
    # the ocr extra needs tesseract
```

The installer supports several options:

- `--user` installs into your home directory.
- `--upgrade` replaces an installed older version.
- `--no-deps` skips the dependencies, which you must then install yourself."""

CONFIG_PAGE = """After installation, run `beacon init` once. It creates a configuration file in your home directory.

The configuration file is written in TOML. Each profile has a name, an API key and an endpoint URL.
You can keep several profiles and switch between them with `beacon use <profile>`."""

# Today's reST ingestion keeps markup, and a chunk can end on a sentence whose code is in the next chunk.
REST_CHUNK = """Is the broker required?
=======================

.. _faq-broker:

**Answer:** Yes, the worker needs a message broker such as :class:`~kombu.Connection` targets to receive tasks.

Start the broker service using the following command:"""


def page_hit(ref: int, text: str, title: str) -> SearchHit:
    return SearchHit(
        chunk_id=1000 + ref,
        document_id=ref,
        document_title=title,
        document_url="",
        heading_path=[title],
        page=None,
        position=0,
        text=text,
        snippet=text[:80],
        score=0.8,
        semantic=0.8,
        lexical=0.5,
    )


@pytest.fixture
def pages() -> list[SearchHit]:
    return [page_hit(1, INSTALL_PAGE, "Installation"), page_hit(2, CONFIG_PAGE, "Configuration")]


def chunk_vectors(hits: list[SearchHit]) -> dict:
    return dict(zip([h.chunk_id for h in hits], get_embedder().encode([h.text for h in hits]), strict=True))


def assert_grounded(content: str, hits: list[SearchHit]) -> None:
    """Every prose sentence and list item is cited and quoted verbatim from the source it cites; fences
    are balanced; no sentence is a fragment; a ":" line is followed by its code block or list."""
    assert content.count("```") % 2 == 0
    lines = content.split("\n")
    in_code = False
    for number, line in enumerate(lines):
        if line.startswith("```"):
            in_code = not in_code
            continue
        if in_code or not line.strip():
            continue
        assert "[" not in line or grounding.CITATION.search(line), line
        for sentence in split_sentences(line):
            refs = [int(n) for n in grounding.CITATION.findall(sentence)]
            assert refs, f"uncited sentence: {sentence!r}"
            plain = grounding.CITATION.sub("", sentence).strip()
            assert len(re.findall(r"[^\W\d_]{2,}", plain)) >= 3, f"fragment: {sentence!r}"
            for ref in refs:
                assert plain.lstrip("- ") in " ".join(hits[ref - 1].text.split()), plain
        if line.rstrip().endswith(":"):
            following = next(other for other in lines[number + 1 :] if other.strip())
            assert following.startswith(("```", "- ")), f"dangling colon: {line!r}"
        assert not re.search(r":\s*\.|\.\s+\.|::|\.\. ", line), f"leftover markup: {line!r}"


# --------------------------------------------------------------------------- units


def test_units_keep_code_whole_and_drop_rest_noise():
    """Sentences, list items and whole fenced blocks (indentation kept); underlines, directives and roles go."""
    units = grounding.text_units(INSTALL_PAGE, 1)

    assert [u.kind for u in units] == ["sentence"] * 4 + ["code", "sentence", "code", "sentence"] + ["item"] * 3
    assert units[6].text == (
        '```console\n$ python -m pip install "beacon-cli[pdf,ocr]"\n    # the ocr extra needs tesseract\n```'
    )
    assert units[8].text == "- `--user` installs into your home directory."
    rest = grounding.text_units(REST_CHUNK, 1)
    assert [(u.kind, u.text) for u in rest] == [
        ("sentence", "Yes, the worker needs a message broker such as `Connection` targets to receive tasks."),
        ("sentence", "Start the broker service using the following command:"),
    ]
    assert {u.heading for u in rest} == {"Is the broker required?"}


def test_units_read_a_tilde_underline_as_a_heading_not_a_fence():
    """reST "kombu\\n~~~~~" is a heading; the text after it stays prose."""
    units = grounding.text_units("kombu\n~~~~~\n\nKombu depends on the following packages.\n\nIt is small.", 1)

    assert [(u.kind, u.text, u.heading) for u in units] == [
        ("sentence", "Kombu depends on the following packages.", "kombu"),
        ("sentence", "It is small.", "kombu"),
    ]


def test_units_of_a_chunk_that_ends_inside_a_code_block_get_the_fence_closed():
    """A chunk cut inside a code block still yields a balanced block."""
    units = grounding.text_units("Run this:\n\n```python\nimport beacon\nbeacon.run()", 1)

    assert units[-1].text == "```python\nimport beacon\nbeacon.run()\n```"


# --------------------------------------------------------------------------- offline answerer


def test_offline_answer_quotes_the_introducing_sentence_and_the_whole_code_block(pages):
    """ "How do I install" -> the sentence that introduces the command, cited, then the command block whole."""
    answer = grounding.offline_answer(question="How do I install the Beacon CLI?", hits=pages)

    assert answer is not None and answer.model == chat.OFFLINE_MODEL
    assert (
        "Install it with pip using the following command [1]:\n\n```console\n$ python -m pip install beacon-cli\n```"
        in answer.content
    )
    assert_grounded(answer.content, pages)
    assert [c["ref"] for c in answer.citations] == [1]
    assert answer.citations[0]["chunk_id"] == pages[0].chunk_id


def test_offline_answer_keeps_code_indentation(pages):
    """A code block comes with its indented lines as they are in the source."""
    answer = grounding.offline_answer(question="How do I install the optional extras?", hits=pages)

    assert answer is not None
    assert "If you need the optional extras, install them too [1]:" in answer.content
    assert '$ python -m pip install "beacon-cli[pdf,ocr]"\n    # the ocr extra needs tesseract\n```' in answer.content
    assert_grounded(answer.content, pages)


def test_offline_answer_brings_the_whole_list_a_sentence_introduces(pages):
    """A sentence ending with ":" comes with every item of its list, each cited."""
    answer = grounding.offline_answer(question="Which options does the installer support?", hits=pages)

    assert answer is not None
    assert (
        "The installer supports several options [1]:\n\n"
        "- `--user` installs into your home directory [1].\n"
        "- `--upgrade` replaces an installed older version [1].\n"
        "- `--no-deps` skips the dependencies, which you must then install yourself [1]."
    ) in answer.content
    assert_grounded(answer.content, pages)


def test_offline_answer_quotes_a_table_row_labelled_by_its_header():
    """A table as the parsers store it (a "cell | cell" row a paragraph, the header first): each data row is a unit
    labelled by the header's cells, quotable on its own; before, a row was no statement and the question about it
    got the fallback."""
    table = "Install the widget with pip.\n\nModel | Weight | Colour\n\nW100 | 2 kg | red\n\nW200 | 5 kg | blue"
    hits = [page_hit(1, table, "Widgets")]

    answer = grounding.offline_answer(question="How heavy is the W200 model?", hits=hits)

    assert answer is not None
    assert "- Model: W200, Weight: 5 kg, Colour: blue [1]" in answer.content, answer.content
    units = grounding.text_units("Total | 3\n\nSee the table.", 1)
    assert [unit.kind for unit in units] == ["sentence", "sentence"]  # a lone "a | b" line stays prose


def test_a_bulleted_list_and_the_numbered_list_after_it_are_two_lists():
    """Items one blank line apart are one list only while their markers are of one kind: the install steps after a
    list of databases are not brought along by the sentence that introduces the databases."""
    text = "Supported databases:\n\n- PostgreSQL\n\n- MySQL\n\n1. Download the installer\n\n2. Run it"
    units = grounding.text_units(text, 1)

    assert [(unit.kind, unit.block) for unit in units] == [
        ("sentence", 0), ("item", 1), ("item", 1), ("item", 2), ("item", 2),
    ]  # fmt: skip
    assert grounding._follower(units, 0) == [1, 2]


def test_the_same_introducing_sentence_with_different_lists_is_quoted_with_each():
    """Two documents say "To install Beacon:" over different steps: not the same statement, so the second passage's
    list is not left out as a repeat (only the same words with the same list or code are quoted once)."""
    linux = (
        "To install Beacon on a server:\n\n- Download the Linux package from the site.\n\n- Run the installer script."
    )
    windows = (
        "To install Beacon on a server:\n\n- Download the Windows installer from the site.\n\n"
        "- Run the setup wizard as an administrator."
    )
    units = grounding.text_units(linux, 1) + grounding.text_units(windows, 2)
    scores = np.array([0.9 if unit.text.endswith(":") else 0.5 for unit in units], dtype=np.float32)
    first = grounding._choose(units, np.where([u.ref == 1 for u in units], scores, -np.inf), bar=0.3, max_sentences=2)
    second = grounding._choose(
        units, np.where([u.ref == 2 for u in units], scores, -np.inf), bar=0.3, max_sentences=1, quoted=first
    )

    assert {units[i].ref for i in second} == {2} and len(second) == 3  # the sentence and its two items


def test_offline_answer_cites_the_passage_that_answers(pages):
    """The answer comes from the second hit when that is where it is, cited [2]."""
    answer = grounding.offline_answer(question="How do I switch between profiles?", hits=pages)

    assert answer is not None
    assert "switch between them with `beacon use <profile>` [2]." in answer.content
    assert 2 in [c["ref"] for c in answer.citations]
    assert_grounded(answer.content, pages)


def test_offline_answerer_reads_the_question_subject(pages):
    """Asked "Can you tell me how I switch between profiles?", the answerer weighs the units as for "how I
    switch between profiles?": the request words are not content terms ("tell" would be one the pages lack)."""
    vector = get_embedder().encode(["how I switch between profiles?"])[0]

    asked = grounding.score_units("Can you tell me how I switch between profiles?", pages, vector)
    plain = grounding.score_units("how I switch between profiles?", pages, vector)

    assert asked.scores.tolist() == plain.scores.tolist()
    assert grounding.content_terms("Can you tell me how I switch between profiles?") == {"tell", "switch", "profile"}


FRENCH_PAGE = """Les commandes passées avant midi sont expédiées le jour même depuis notre entrepôt de Lyon.

À la réception du retour, le remboursement est versé sur votre carte bancaire dans les cinq jours ouvrés.

Écrivez au service client pour changer l'adresse de livraison d'une commande déjà expédiée."""


@pytest.mark.parametrize(
    ("question", "quoted"),
    [
        ("Quand le remboursement est-il versé ?", "À la réception du retour, le remboursement est versé"),
        ("Comment changer l'adresse de livraison ?", "Écrivez au service client pour changer l'adresse"),
    ],
)
def test_offline_answer_quotes_a_sentence_that_starts_with_an_accented_capital(question, quoted):
    """A French sentence starting with "À" or "É" is a sentence (only A-Z counted before: the answerer quoted
    the page's first sentence for the refund question and refused the address one), and its accented words
    are terms ("réplication", not "r" and "plication")."""
    hits = [page_hit(1, FRENCH_PAGE, "Aide")]

    answer = grounding.offline_answer(question=question, hits=hits, language="fr")

    assert answer is not None
    assert answer.content.startswith(quoted)
    assert_grounded(answer.content, hits)
    assert grounding.content_terms("Über die Réplication, ¿cómo?") == {"über", "die", "réplication", "cómo"}


def test_offline_answerer_leaves_out_the_question_words_of_the_language():
    """ "Comment changer l'adresse de livraison ?" is weighed as "changer l'adresse de livraison ?" in French
    ("comment", how, is no content term: French's stop list keeps it while English's drops "how"); in English
    "comment" stays a term."""
    hits = [page_hit(1, FRENCH_PAGE, "Aide")]
    vector = get_embedder().encode(["changer l'adresse de livraison ?"])[0]

    asked = grounding.score_units("Comment changer l'adresse de livraison ?", hits, vector, language="fr")
    plain = grounding.score_units("changer l'adresse de livraison ?", hits, vector, language="fr")
    english = grounding.score_units("Comment changer l'adresse de livraison ?", hits, vector, language="en")

    assert asked.scores.tolist() == plain.scores.tolist()
    assert max(english.scores) < max(asked.scores)


TEMPORARY_PAGE = """Des répertoires temporaires sont créés par la commande à chaque exécution.

Les fichiers listés par ls sont triés par nom."""

RMDIR_PAGE = """La commande rmdir supprime un répertoire vide.

Ses options sont décrites dans la page de manuel."""


def test_term_sets_read_a_language_with_its_stemmer_and_stop_words():
    """English's reading keeps its own; another language's terms are its text-search configuration's lexemes:
    French's stop words ("sont", "du") are no terms and "répertoires", "répertoire" are one."""
    listed, singular = grounding.term_sets(["Les répertoires sont listés", "Liste du répertoire"], "french")
    assert listed & singular == {"répertoir", "list"}
    assert not {"sont", "du"} & (listed | singular)
    assert grounding.term_sets(["Die Dateien werden gelöscht"], "german") == [{"datei", "geloscht"}]
    assert grounding.term_sets(["How do I use snake_case names?"], "english") == [{"snake_case", "name"}]


@pytest.mark.parametrize("question", ["Supprimer des répertoires", "Comment supprimer des répertoires ?"])
def test_offline_answerer_reads_a_french_question_in_french(question):
    """Read with English's stop words and suffixes, "des" was a term and "supprimer" did not match "supprime":
    the answerer quoted the sentence about temporary directories. In French it quotes the one that answers."""
    hits = [page_hit(1, TEMPORARY_PAGE, "Exécution"), page_hit(2, RMDIR_PAGE, "Suppression")]

    answer = grounding.offline_answer(question=question, hits=hits, language="fr")

    assert answer is not None
    assert answer.content.startswith("La commande rmdir supprime un répertoire vide [2].")
    assert_grounded(answer.content, hits)


WORKER_PAGE = """The worker runs the tasks it receives from the broker. Start a worker with `beacon worker`.

Workers send a heartbeat every two seconds. The dashboard shows each worker's heartbeat and its queue."""

QUEUE_PAGE = """A queue holds the messages that wait for a worker.

To purge all waiting tasks, run `beacon purge`. Purging removes every message of the configured queues."""


def test_a_passage_is_read_in_its_own_configuration():
    """An automatic bot answering in French from English passages: they are read the English way, as the search
    indexed them, whatever the reply language; a passage that does not say is read in the reply language's."""
    hits = [replace(page_hit(1, WORKER_PAGE, "Workers"), search_config="english"),
            replace(page_hit(2, QUEUE_PAGE, "Queues"), search_config="english")]  # fmt: skip
    question = "How do I purge all waiting tasks?"
    vector = get_embedder().encode([question])[0]

    in_french = grounding.score_units(question, hits, vector, language="fr")
    in_english = grounding.score_units(question, hits, vector, language="en")
    assert in_french.scores.tolist() == in_english.scores.tolist()
    unsaid = [replace(hit, search_config="") for hit in hits]
    assert grounding.score_units(question, unsaid, vector, language="fr").scores.tolist() != in_english.scores.tolist()


def test_offline_answer_quotes_the_best_passage_first_and_cites_only_what_it_quotes():
    """A sentence of another hit shares the question's words ("worker", "queue") but the passage that
    answers is hit 2: the answer starts with it, and a passage is cited only where it is quoted."""
    hits = [page_hit(1, WORKER_PAGE, "Workers"), page_hit(2, QUEUE_PAGE, "Queues")]

    answer = grounding.offline_answer(question="How do I purge all waiting tasks from the queue?", hits=hits)

    assert answer is not None
    assert answer.content.startswith("To purge all waiting tasks, run `beacon purge` [2].")
    quoted = {int(ref) for ref in re.findall(r"\[(\d+)\]", answer.content)}
    assert {c["ref"] for c in answer.citations} == quoted
    assert_grounded(answer.content, hits)


def test_offline_answer_quotes_one_statement_of_a_second_passage_at_most():
    """Two hits answer about as well: the best passage gives the answer, the other one statement."""
    hits = [page_hit(1, QUEUE_PAGE, "Queues"), page_hit(2, QUEUE_PAGE.replace("`beacon purge`", "`beacon flush`"), "Q")]

    answer = grounding.offline_answer(question="How do I purge all waiting tasks?", hits=hits)

    assert answer is not None
    assert answer.content.startswith("To purge all waiting tasks, run `beacon purge` [1].")
    assert answer.content.count("[2]") == 1
    assert_grounded(answer.content, hits)


def test_offline_answer_continues_into_the_next_chunk_of_the_same_section():
    """The chunk after the best one (same document and heading path, next position) is the same passage
    continued: its sentences may be quoted too; a chunk of another section is not."""
    first = page_hit(1, "A queue holds the messages that wait for a worker. Queues are declared by the app.", "Queues")
    following = replace(
        page_hit(2, "Purging a queue removes all waiting tasks from it. Purged messages cannot be restored.", "Queues"),
        document_id=first.document_id,
        position=first.position + 1,
    )
    elsewhere = replace(
        page_hit(3, "The dashboard lists every worker with its last heartbeat.", "Monitoring"), score=0.4
    )

    question = "What happens to the waiting messages of a purged queue?"
    hits = [first, following, elsewhere]
    scored = grounding.score_units(question, hits, get_embedder().encode([question])[0])

    assert grounding.passages(scored, hits)[0] == {1, 2}


@pytest.mark.parametrize(
    "question",
    ["What is the capital of France?", "How do I bake sourdough bread?", "Who won the football world cup in 1998?"],
)
def test_offline_answer_refuses_what_the_hits_do_not_answer(pages, question):
    """An out-of-domain question over the same hits: nothing reaches ANSWER_MIN_SUPPORT -> None."""
    assert grounding.offline_answer(question=question, hits=pages) is None


def test_offline_answer_never_quotes_a_sentence_whose_code_is_missing():
    """The chunk ends on "using the following command:" (its code is elsewhere): that line is never quoted."""
    hits = [page_hit(1, REST_CHUNK, "FAQ")]

    answer = grounding.offline_answer(question="How do I start the broker service?", hits=hits)

    assert answer is None or "following command" not in answer.content
    answer = grounding.offline_answer(question="Is a broker required by the worker?", hits=hits)
    assert answer is not None
    assert answer.content == (
        "Yes, the worker needs a message broker such as `Connection` targets to receive tasks [1]."
    )


def test_offline_answer_uses_the_given_question_vector(pages):
    """With the question's embedding passed in, the answer is the same (the question is embedded once)."""
    question = "How do I install the Beacon CLI?"
    vector = get_embedder().encode([question])[0]

    assert grounding.offline_answer(question=question, hits=pages, question_vector=vector) == grounding.offline_answer(
        question=question, hits=pages
    )


# --------------------------------------------------------------------------- a turn, offline


OPTIONS = [
    ("replicas", "the number of replicas to run, from 1 to 64."),
    ("timeout", "the request timeout in seconds."),
    ("region", "the region to deploy to, such as eu-west-1."),
    ("retries", "how many times a failed deployment is retried."),
]
OPTIONS_INTRO = "The deployment configuration file supports these options:"


def _options_docx() -> bytes:
    import io

    import docx

    document = docx.Document()
    document.add_heading("Deployment guide", level=1)
    document.add_heading("Configuration options", level=2)
    document.add_paragraph(OPTIONS_INTRO)
    for name, what in OPTIONS:
        document.add_paragraph(f"{name}: {what}", style="List Bullet")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


LIST_DOCUMENTS = {
    "guide.md": lambda: (
        "# Deployment guide\n\n## Configuration options\n\n"
        + OPTIONS_INTRO
        + "\n\n"
        + "\n".join(f"- `{name}`: {what}" for name, what in OPTIONS)
        + "\n"
    ).encode(),
    "guide.rst": lambda: (
        "Deployment guide\n================\n\nConfiguration options\n---------------------\n\n"
        + OPTIONS_INTRO
        + "\n\n"
        + "\n".join(f"* ``{name}``: {what}" for name, what in OPTIONS)
        + "\n"
    ).encode(),
    "guide.html": lambda: (
        "<html><body><h1>Deployment guide</h1><h2>Configuration options</h2><p>"
        + OPTIONS_INTRO
        + "</p><ul>"
        + "".join(f"<li><code>{name}</code>: {what}</li>" for name, what in OPTIONS)
        + "</ul></body></html>"
    ).encode(),
    "guide.docx": _options_docx,
}


@pytest.mark.parametrize("name", LIST_DOCUMENTS)
def test_a_question_answered_by_a_list_gets_the_list_whatever_the_format(chat_org, offline, name):
    """A list in a Markdown, reST, HTML or Word document is stored as list items ("- item"), so the offline answerer
    quotes the sentence that introduces it with every item, each cited. Before, the parsers stored the items as bare
    paragraphs: the introducing sentence had nothing to bring, the items were no statements, and the question got
    the fallback although the passage was the top hit."""
    bot = BotFactory(organization=chat_org, min_score=0.2)
    ingest(bot, name, LIST_DOCUMENTS[name]())
    conversation = services.conversation_create(organization=bot.organization, bot=bot)

    answer = services.turn_answer(
        services.turn_prepare(conversation=conversation, content="What are the deployment configuration options?")
    )

    assert answer.status == "ok", (answer.content, answer.error)
    lines = answer.content.split("\n")
    assert lines[0] == OPTIONS_INTRO.removesuffix(":") + " [1]:" and lines[1] == ""
    items = lines[2:]
    assert len(items) == len(OPTIONS)
    for line, (option, what) in zip(items, OPTIONS, strict=True):
        assert line.startswith("- ") and line.endswith(f"{what.removesuffix('.')} [1].") and option in line, line


def test_turn_with_passages_that_do_not_answer_is_unanswered(guide_bot, offline):
    """Retrieval returns passages (cut-off 0) but no sentence answers: fallback, status unanswered."""
    guide_bot.min_score = 0
    guide_bot.save()
    conversation = services.conversation_create(organization=guide_bot.organization, bot=guide_bot)

    turn = services.turn_prepare(conversation=conversation, content="What is the capital of France?")
    answer = services.turn_answer(turn)

    assert turn.hits and turn.messages is not None
    answer.refresh_from_db()
    assert (answer.content, answer.status, answer.citations, answer.model) == (
        guide_bot.fallback_message,
        "unanswered",
        [],
        chat.OFFLINE_MODEL,
    )
    assert answer.error == services.NO_QUOTE_NOTE


def test_streamed_turn_with_passages_that_do_not_answer_is_unanswered(guide_bot, offline):
    """Streamed: one token with the fallback, then done with status unanswered."""
    guide_bot.min_score = 0
    guide_bot.save()
    conversation = services.conversation_create(organization=guide_bot.organization, bot=guide_bot)
    turn = services.turn_prepare(conversation=conversation, content="What is the capital of France?")

    events = list(services.turn_stream(turn))

    assert events[:-1] == [("token", {"text": guide_bot.fallback_message})]
    assert events[-1][0] == "done"
    assert (events[-1][1]["status"], events[-1][1]["content"]) == ("unanswered", guide_bot.fallback_message)


def test_streamed_offline_tokens_add_up_to_the_stored_answer(guide_bot, offline):
    """The token events of an offline answer concatenate to exactly the stored content."""
    conversation = services.conversation_create(organization=guide_bot.organization, bot=guide_bot)
    turn = services.turn_prepare(conversation=conversation, content="How long do refunds take?")

    events = list(services.turn_stream(turn))

    done = events[-1][1]
    assert done["status"] == "ok"
    assert "".join(data["text"] for name, data in events[:-1]) == done["content"]
    assert Message.objects.get(pk=done["message_id"]).content == done["content"]
    assert turn.vector is not None and turn.vector.shape == (get_embedder().dimensions,)


# --------------------------------------------------------------------------- a turn, language model

UNSUPPORTED = "The moon is made of green cheese [1]. Penguins live at the north pole [2]."


def test_model_answer_with_no_supported_sentence_becomes_the_fallback(guide_bot, llm):
    """Nothing the model wrote is supported: fallback, unanswered, its text kept in `error`, tokens counted."""
    llm(completion(UNSUPPORTED, prompt_tokens=200, completion_tokens=20))
    conversation = services.conversation_create(organization=guide_bot.organization, bot=guide_bot)
    turn = services.turn_prepare(conversation=conversation, content="How long do refunds take?")

    answer = services.turn_answer(turn)

    answer.refresh_from_db()
    assert (answer.content, answer.status, answer.citations) == (guide_bot.fallback_message, "unanswered", [])
    assert answer.error == services.UNSUPPORTED_NOTE + UNSUPPORTED
    assert (answer.model, answer.prompt_tokens, answer.completion_tokens) == (LLM_MODEL, 200, 20)


def test_streamed_model_answer_with_no_supported_sentence_ends_with_the_fallback(guide_bot, llm):
    """Streamed: the tokens went out as written; done replaces them with the fallback, status unanswered."""
    deltas = ["The moon is made of ", "green cheese [1].", " Penguins live at the north pole [2]."]
    llm(stream(deltas))
    conversation = services.conversation_create(organization=guide_bot.organization, bot=guide_bot)
    turn = services.turn_prepare(conversation=conversation, content="How long do refunds take?")

    events = list(services.turn_stream(turn))

    assert events[:-1] == [("token", {"text": delta}) for delta in deltas]
    name, done = events[-1]
    assert name == "done"
    assert (done["status"], done["content"], done["citations"]) == ("unanswered", guide_bot.fallback_message, [])
    assert Message.objects.get(pk=done["message_id"]).error == services.UNSUPPORTED_NOTE + "".join(deltas)


def test_partly_supported_model_answer_keeps_only_supported_markers(guide_bot, llm):
    """One supported sentence among unsupported ones: status ok, only its marker stays."""
    llm(completion("Refunds are processed within 14 days [1]. " + UNSUPPORTED))
    conversation = services.conversation_create(organization=guide_bot.organization, bot=guide_bot)
    turn = services.turn_prepare(conversation=conversation, content="How long do refunds take?")

    answer = services.turn_answer(turn)

    assert answer.status == "ok"
    assert answer.content == (
        "Refunds are processed within 14 days [1]. The moon is made of green cheese. Penguins live at the north pole."
    )
    assert [c["ref"] for c in answer.citations] == [1]


# --------------------------------------------------------------------------- check_citations


def test_code_block_in_a_model_answer_is_kept_whole_and_counts_as_support(pages):
    """ "Here is how:" is no claim; the fenced block copied from a source is kept verbatim and supports the answer."""
    content = "Here is how:\n\n```console\n$ python -m pip install beacon-cli\n```"

    checked = grounding.check_citations(content=content, hits=pages, chunk_vectors=chunk_vectors(pages))

    assert checked == grounding.Checked(content, [], True)


def test_code_block_is_not_split_into_sentences(pages):
    """Markers inside a code block are code: untouched; prose around it is checked as usual."""
    content = (
        "Install it with pip [1]. The moon is cheese [2].\n\n```python\nx = values[1]. y = 2 [2]\n  z = 3\n```\n"
        "Installing the Beacon CLI with pip requires Python 3.10 or later [1]."
    )

    checked = grounding.check_citations(content=content, hits=pages, chunk_vectors=chunk_vectors(pages))

    assert checked.content == (
        "Install it with pip [1]. The moon is cheese.\n\n```python\nx = values[1]. y = 2 [2]\n  z = 3\n```\n"
        "Installing the Beacon CLI with pip requires Python 3.10 or later [1]."
    )
    assert checked.supported and [c["ref"] for c in checked.citations] == [1]


def test_answer_of_lead_ins_only_is_not_supported(pages):
    """An answer made only of non-claims ("Sure!", "Here is how:") supports nothing."""
    checked = grounding.check_citations(content="Sure! Here is how:", hits=pages, chunk_vectors=chunk_vectors(pages))

    assert checked.supported is False
