"""Calibrated refusal: each bot's cut-off measured on its own corpus (issue 14; docs/refusal.md).

A bot answers a question when the best passage's fused score (`chunk_search`, the answerability
score: semantic similarity fused with the IDF-weighted coverage of the question's terms) reaches
the bot's cut-off, and refuses below it. Instead of a guessed cut-off, a calibration run asks the
bot two sets of questions through the same search:

- in-domain: synthetic questions made from the bot's own searchable chunks (a deterministic,
  evenly spread sample of at most REFUSAL_CALIBRATION_SAMPLE chunks): a heading turned into a
  question ("What is <heading>?", "How do I <heading>?", the bare heading; in the chunk's language:
  "Qu'est-ce que <heading> ?", "Was ist <heading>?"...), a document title, or
  a chunk's first sentence of at most 16 words made into a question ("Refunds are processed within
  14 days" -> "Are refunds processed within 14 days?"), unless it leans on its context ("But these
  are not.", "See Section 13.4.", "... as follows:"). Headings and titles that several documents
  share ("Introduction", "Examples") name no topic and give none. Each is made only of the text of
  the chunk it came from, so the bot holds its answer;
- out-of-domain: the general questions shipped with Beacon (data/general_questions.txt), about
  everything but the bot's documents, and those of the languages of its documents that Beacon ships a
  set for (general_questions.<code>.txt: fr, de, es, it, nl, pt; a French bot's visitors ask in
  French). A general question nearly identical in meaning to one of the bot's in-domain questions
  (cosine of their embeddings above REFUSAL_OVERLAP_SIMILARITY) is left out, so a cooking bot is not
  calibrated against the cooking questions of the general set.

Two cut-offs come out of the scores: the smallest at which at most REFUSAL_TARGET_FALSE_ANSWER_RATE
of the out-of-domain questions would still be answered, and the largest at which at most
REFUSAL_TARGET_MISSED_ANSWER_RATE of the in-domain questions would be refused. The bot's cut-off is
the higher of the two (the false-answer target always holds; when the in-domain questions leave
room, the bot refuses more than the general set asks, since real neighbouring-product questions
score higher than the general ones), clipped to REFUSAL_MIN_CUTOFF..REFUSAL_MAX_CUTOFF; the run
stores it with its figures (rates, counts, score distributions, which target decided) on the bot.

Runs are scheduled after the knowledge base changes (a document becomes ready or a ready one is
deleted), debounced per bot: the change sets the bot's `calibration_requested_at` marker, the first
change of a quiet bot publishes one task with a countdown, and the task waits until the marker is
REFUSAL_CALIBRATION_DEBOUNCE_SECONDS old, so a batch of 600 documents makes one run (or a few when
the batch outlasts a run), not 600.
"""

from __future__ import annotations

import functools
import logging
import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from apps.bots import services as bot_services
from apps.bots.models import Bot
from apps.core import languages
from apps.core.embeddings import get_embedder
from apps.core.tasks import enqueue_now
from apps.documents.extraction import LIST_ITEM, VERSION_LABELS
from apps.documents.models import BotTextStats, Chunk
from apps.documents.selectors import chunk_search

logger = logging.getLogger(__name__)

GENERAL_QUESTIONS_PATH = Path(__file__).parent / "data" / "general_questions.txt"


def general_questions_path(language: str = "en") -> Path:
    """The shipped set of a language: English's `general_questions.txt`, another's `general_questions.<code>.txt`."""
    return GENERAL_QUESTIONS_PATH if language == "en" else GENERAL_QUESTIONS_PATH.with_suffix(f".{language}.txt")


@functools.cache
def general_questions(language: str = "en") -> tuple[str, ...]:
    """The shipped out-of-domain set of a language (empty for a language without one): one question a line;
    blank lines and # comments skipped."""
    path = general_questions_path(language)
    if not path.is_file():
        return ()
    lines = path.read_text(encoding="utf-8").splitlines()
    return tuple(line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#"))


def bot_languages(bot: Bot) -> list[str]:
    """The languages of the bot's documents: its own, or for `auto` those its searchable chunks are indexed in
    (sorted; '' for `simple`, a text whose language has no stemmer or could not be told)."""
    if bot.language != languages.AUTO:
        return [bot.language]
    configs = BotTextStats.objects.filter(bot=bot, chunk_count__gt=0).values_list("config", flat=True)
    return sorted({languages.config_language(config) for config in configs})


def out_of_domain_questions(bot: Bot) -> tuple[list[str], list[str]]:
    """(the general questions a calibration asks, the languages they come from): English's, and those of every
    language of the bot's documents that Beacon ships a set for (data/general_questions.<code>.txt: fr, de, es,
    it, nl, pt: the languages Beacon speaks).
    A French shop's visitors ask in French: against English questions alone, which its French passages barely
    match, the cut-off came out lower than French questions about other things need."""
    chosen = ["en", *(code for code in bot_languages(bot) if code and code != "en" and general_questions(code))]
    return [question for code in chosen for question in general_questions(code)], chosen


# --------------------------------------------------------------------------- in-domain questions


@dataclass(frozen=True)
class SyntheticQuestion:
    text: str
    kind: str  # heading | title | sentence
    chunk_id: int
    document_id: int


#: Headings that start with one of these read as a task: "Configure the broker" -> "How do I configure
#: the broker?".
TASK_VERBS = frozenset({
    "add", "build", "change", "check", "configure", "connect", "create", "delete", "deploy", "disable", "enable",
    "export", "get", "import", "install", "integrate", "invite", "manage", "migrate", "monitor", "move", "register",
    "remove", "rename", "reset", "restart", "run", "schedule", "set", "setup", "start", "stop", "test",
    "troubleshoot", "update", "upgrade", "upload", "use", "write",
})  # fmt: skip
#: Linking verbs a first sentence can be inverted on: "X is Y" -> "Is X Y?".
SENTENCE = re.compile(
    r"^(?P<subject>[A-Za-z][\w'\u2019 -]{1,60}?) (?P<verb>is|are|can|will|should|must|was|were) (?P<rest>[^?!]{3,})$"
)
ARTICLE = re.compile(r"^(The|A|An|This|These|Each|Every|Your|Our|All|Some) ", re.ASCII)
WORD = re.compile(r"[^\W\d_](?:[^\W\d_]|['\u2019-])*")  # letters of any script: "Réception", "Rückgabe"


#: Markup a question would not contain: reST roles (:ref:`text <target>` -> text), inline literals'
#: backquotes, heading underlines and rules, Markdown emphasis and links ([text](url) -> text).
MARKUP = (
    (re.compile(r":[\w:.-]+:`~?([^`<]*?)\s*(?:<[^>]*>)?`"), r"\1"),
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),
    (re.compile(r"`+|\*\*|__"), ""),
    (re.compile(r"(?:^|\s)[-=~^*#+]{3,}(?=\s|$)"), " "),
)


def _clean(text: str) -> str:
    # Composed accents ("é" one character, not "e" + U+0301), as the word lists and templates are written.
    text = unicodedata.normalize("NFC", text)
    for pattern, replacement in MARKUP:
        text = pattern.sub(replacement, text)
    return re.sub(r"\s+", " ", text).strip(" \t\n:;,-*#=`")


def _wordy(text: str, *, minimum: int) -> bool:
    """Prose, not code or markup: enough words, and most tokens are words."""
    tokens = text.split()
    words = [token for token in tokens if WORD.fullmatch(token.strip(".,;:()\"'"))]
    return len(words) >= minimum and len(words) >= 0.6 * len(tokens)


#: A heading made a question, in the language of the chunk it heads (English for a language not listed).
HEADING_TEMPLATES = {
    "en": ("What is {h}?", "{h}", "Tell me about {h}"),
    "fr": ("Qu'est-ce que {h} ?", "{h}", "Parlez-moi de {h}"),
    "de": ("Was ist {h}?", "{h}", "Erzähl mir etwas über {h}"),
    "es": ("¿Qué es {h}?", "{h}", "Háblame de {h}"),
    "it": ("Che cos'è {h}?", "{h}", "Parlami di {h}"),
    "nl": ("Wat is {h}?", "{h}", "Vertel me over {h}"),
    "pt": ("O que é {h}?", "{h}", "Fale-me sobre {h}"),
}


def _heading_question(heading: str, index: int, language: str = "en") -> str | None:
    heading = _clean(heading)
    words = heading.split()
    if not 1 <= len(words) <= 12 or not _wordy(heading, minimum=1) or len(heading) < 3:
        return None
    if heading.endswith("?"):
        return heading
    if language not in HEADING_TEMPLATES:
        language = "en"
    templates = HEADING_TEMPLATES[language]
    if language == "en" and words[0].lower() in TASK_VERBS:
        return f"How do I {words[0].lower()} {' '.join(words[1:])}?".replace(" ?", "?")
    return templates[index % len(templates)].format(h=heading)


#: A first sentence longer than this makes no question: cut short, it would end mid-phrase ("... most of
#: what you?"), a question nobody asks that only lowers the in-domain scores.
SENTENCE_MAX_WORDS = 16


#: A first sentence that leans on its context ("But these are not.", "See Section 13.4 for details.",
#: "Combines both of the above options.", "To build it, proceed as follows:", "This function had been documented
#: as safe.", "That's a tough one.") says nothing a visitor would ask about on its own: it starts mid-thought (not
#: with a capital, with a linking word, or with a pronoun or demonstrative that stands for what came before),
#: points elsewhere, or introduces what follows it (a colon). The words per language of the chunk ("Mais", "Cette",
#: "voir ci-dessous"; "Aber", "Dieser", "siehe unten"); a language not listed: English's. (Words that are also
#: articles, German "das" and Dutch "het", and the pronouns that also open sentences standing on their own, "It is
#: possible to...", "Es gibt...", "Il est...", are left out.)
CONTEXT_WORDS = {
    "en": (
        "and but or so then also however otherwise thus hence therefore likewise similarly alternatively instead "
        "again still yet now note if this that these those its they their such",
        "above below following follows preceding previous shown here see",
    ),
    "fr": (
        "et mais ou donc puis alors aussi cependant toutefois sinon ainsi ensuite néanmoins pourtant remarque note si "
        "ce cet cette ces cela ceci ils elle elles",
        "ci-dessus ci-dessous suivant suivante suivants suivantes précédent précédente précédents précédentes voir "
        "voici",
    ),
    "de": (
        "und aber oder also dann auch jedoch sonst daher deshalb trotzdem außerdem hinweis wenn falls "
        "dies diese dieser dieses diesen diesem solche solcher solches",
        "oben unten folgende folgenden folgender folgendes vorherige vorherigen siehe hier nachfolgend",
    ),
    "es": (
        "y pero entonces también además así nota si este esta estos estas esto eso ese esa esos esas ello",
        "arriba abajo siguiente siguientes anterior anteriores véase ver aquí",
    ),
    "it": (
        "e ma oppure quindi poi anche tuttavia altrimenti inoltre nota se questo questa questi queste ciò esso essa",
        "sopra sotto seguente seguenti precedente precedenti vedere vedi qui",
    ),
    "nl": (
        "en maar of dus dan ook echter anders daarom bovendien opmerking let als dit deze dat die zij",
        "hierboven hieronder volgende vorige zie hier",
    ),
    "pt": (
        "e mas ou então também porém contudo nota se este esta estes estas isto isso esse essa esses essas ele ela "
        "eles elas",
        "acima abaixo seguinte seguintes anterior anteriores veja ver aqui",
    ),
}


def _words_pattern(words: str, *, anchor: str = "") -> re.Pattern:
    """Any of `words` (space-separated) as a whole word, after `anchor` ("^": at the start only)."""
    alternatives = "|".join(re.escape(word) for word in sorted(words.split(), key=len, reverse=True))
    return re.compile(rf"{anchor}\b(?:{alternatives})\b", re.IGNORECASE)


#: (linking start, pointing word) patterns per language
CONTEXT = {
    language: (_words_pattern(start, anchor="^"), _words_pattern(pointing))
    for language, (start, pointing) in CONTEXT_WORDS.items()
}


#: The notes Beacon's reStructuredText reading writes for Sphinx's version directives ("New in version 3.6: %G, %u
#: and %V were added."): about a change of the software, not a topic a visitor asks about.
VERSION_NOTE = re.compile(rf"^(?:{'|'.join(re.escape(label) for label in VERSION_LABELS.values())}) \S+?(?:[:.]|$)")


def _leans_on_context(raw: str, clean: str, language: str = "en") -> bool:
    """`raw` is the sentence as written, `clean` without its markup."""
    linking, pointing = CONTEXT.get(language, CONTEXT["en"])
    return (
        raw.rstrip().endswith(":")
        or not clean[:1].isupper()
        or bool(linking.match(clean) or pointing.search(clean) or VERSION_NOTE.match(clean))
    )


def _sentence_question(text: str, language: str = "en") -> str | None:
    """The chunk's first sentence as a question; in English inverted on a linking verb ("X is Y" -> "Is X Y?"),
    in another language with a question mark (French, Spanish, Italian and Portuguese ask so as well)."""
    # A list item's marker is no sentence: "1. Download the installer." split at "1." and gave no question.
    raw = re.split(r"(?<=[.!?])\s+|\n\s*\n", LIST_ITEM.sub("", text.strip(), count=1), maxsplit=1)[0]
    first = _clean(raw).rstrip(".!")
    if not _wordy(first, minimum=4) or _leans_on_context(raw, first, language):
        return None
    words = first.split()
    if len(words) > SENTENCE_MAX_WORDS:
        return None
    match = SENTENCE.match(" ".join(words)) if language == "en" else None
    if match:
        subject = match["subject"]
        head, *tail = subject.split()
        # "Archived cards" -> "archived cards", but a name ("Lumen Boards", "API keys") keeps its case.
        if ARTICLE.match(subject) or (head[1:].islower() and (not tail or not tail[0][:1].isupper())):
            subject = subject[0].lower() + subject[1:]
        return f"{match['verb'].capitalize()} {subject} {match['rest']}?"
    return " ".join(words) + "?"


def _question(
    kind: str,
    *,
    index: int,
    heading_path: list[str],
    text: str,
    title: str,
    generic: frozenset[str],
    language: str = "en",
) -> str | None:
    if kind == "heading":
        usable = heading_path and heading_path[-1].strip().lower() not in generic
        return _heading_question(heading_path[-1], index, language) if usable else None
    if kind == "sentence":
        return _sentence_question(text, language)
    return _heading_question(title, index, language) if title and title.strip().lower() not in generic else None


#: A heading or title that this many of the bot's documents share names no topic of its own.
GENERIC_HEADING_DOCUMENTS = 3


def generic_headings(*, organization, bot) -> frozenset[str]:
    """Headings and titles (lower case) that GENERIC_HEADING_DOCUMENTS or more of the bot's documents
    share as a section heading or a title: "Introduction", "Examples", "Notes", "API Reference". Asked
    alone ("Tell me about Introduction"), they name no topic a visitor would ask about, and every
    document holds an answer of sorts: such questions only add noise to the in-domain scores. Found
    from the corpus itself, in any language; one grouped query (index on the bot's chunks)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT name FROM (
                SELECT lower(btrim(c.heading_path[cardinality(c.heading_path)])) AS name, c.document_id
                FROM documents_chunk c
                WHERE c.organization_id = %(org)s AND c.bot_id = %(bot)s AND c.searchable
                      AND cardinality(c.heading_path) > 0
                UNION
                SELECT lower(btrim(d.title)), d.id FROM documents_document d
                WHERE d.organization_id = %(org)s AND d.bot_id = %(bot)s AND d.title <> ''
            ) named
            GROUP BY name HAVING count(DISTINCT document_id) >= %(documents)s
            """,
            {"org": organization.pk, "bot": bot.pk, "documents": GENERIC_HEADING_DOCUMENTS},
        )
        return frozenset(name for (name,) in cursor.fetchall())


def synthetic_questions(*, organization, bot, limit: int) -> list[SyntheticQuestion]:
    """Up to `limit` distinct in-domain questions, each from one chunk of an evenly spread,
    deterministic sample of the bot's searchable chunks (same corpus, same questions). Kinds rotate
    over the chunks (heading, first sentence, title), falling back to whichever the chunk has."""
    ids = list(
        Chunk.objects.filter(organization=organization, bot=bot, searchable=True)
        .order_by("id")
        .values_list("id", flat=True)
    )
    if not ids:
        return []
    # More chunks than questions wanted (evenly spread): some give no question or a duplicate.
    wanted = min(len(ids), limit * 3)
    picked = [ids[int(i * len(ids) / wanted)] for i in range(wanted)]
    chunks = (
        Chunk.objects.filter(id__in=picked)
        .order_by("id")
        .values_list("id", "document_id", "heading_path", "text", "document__title", "search_config")
    )
    generic = generic_headings(organization=organization, bot=bot)
    questions: list[SyntheticQuestion] = []
    seen: set[str] = set()
    titled: set[int] = set()
    for index, (chunk_id, document_id, heading_path, text, title, config) in enumerate(chunks):
        language = languages.config_language(config) or "en"
        order = ("heading", "sentence", "title")
        start = index % len(order)
        for kind in order[start:] + order[:start]:
            if kind == "title" and document_id in titled:
                continue
            question = _question(
                kind, index=index, heading_path=heading_path, text=text, title=title, generic=generic, language=language
            )
            if question and question.lower() not in seen:
                seen.add(question.lower())
                if kind == "title":
                    titled.add(document_id)
                questions.append(SyntheticQuestion(question, kind, chunk_id, document_id))
                break
        if len(questions) >= limit:
            break
    return questions


# --------------------------------------------------------------------------- measuring


def answerability(*, organization, bot, question: str, vector=None) -> float:
    """The score a question gets: that of its best passage (0.0 when there is none)."""
    hits = chunk_search(organization=organization, bot=bot, query=question, k=1, min_score=0.0, vector=vector)
    return hits[0].score if hits else 0.0


def answered_rate(scores: list[float], cutoff: float) -> float:
    """Share of questions answered at `cutoff` (score at or above it, as chunk_search compares)."""
    return round(sum(1 for score in scores if score >= cutoff) / len(scores), 4) if scores else 0.0


def cutoff_for(scores: list[float], target: float) -> float:
    """The smallest cut-off (4 decimals, as scores are reported) at which at most `target` of
    `scores` are answered: just above the score of the (allowed + 1)-th highest."""
    allowed = math.floor(target * len(scores) + 1e-9)
    ranked = sorted(scores, reverse=True)
    if allowed >= len(ranked):
        return 0.0
    return round(ranked[allowed] + 0.0001, 4)


def cutoff_keeping(scores: list[float], missed: float) -> float:
    """The largest cut-off (4 decimals, as scores are reported) at which at most `missed` of `scores`
    are refused: the score of the (n - allowed)-th highest, allowed = floor(missed x n). 0.0 without
    scores."""
    if not scores:
        return 0.0
    allowed = math.floor(missed * len(scores) + 1e-9)
    ranked = sorted(scores, reverse=True)
    return round(ranked[max(len(ranked) - 1 - allowed, 0)], 4)


def _distribution(scores: list[float]) -> dict:
    if not scores:
        return {}
    values = np.array(scores)
    summary = {f"p{p}": round(float(np.percentile(values, p)), 4) for p in (10, 25, 50, 75, 90)}
    return {"min": round(float(values.min()), 4), **summary, "max": round(float(values.max()), 4)}


def _nearest(general_vectors, inside_vectors, keep, count: int) -> list[int]:
    """Indexes of the `count` kept general questions nearest to the bot's own questions, in the
    shipped order (all kept ones when there are no in-domain questions to compare with)."""
    kept = np.flatnonzero(keep)
    if not len(inside_vectors) or len(kept) <= count:
        return kept.tolist()
    similarities = general_vectors[kept] @ inside_vectors.T
    best = min(5, similarities.shape[1])
    nearness = np.sort(similarities, axis=1)[:, -best:].mean(axis=1)
    chosen = kept[np.argsort(-nearness, kind="stable")[:count]]
    return sorted(chosen.tolist())


def _scores(*, organization, bot, questions: list[str], vectors) -> list[float]:
    return [
        answerability(organization=organization, bot=bot, question=question, vector=vector)
        for question, vector in zip(questions, vectors, strict=True)
    ]


def bot_calibrate(*, bot: Bot) -> float | None:
    """Measure and store the bot's calibrated cut-off (module docstring). Returns it, or None for a
    bot with no searchable chunk (nothing to measure: the default applies). Idempotent: the same
    corpus gives the same questions and the same cut-off."""
    organization = bot.organization
    target = settings.REFUSAL_TARGET_FALSE_ANSWER_RATE
    chunks = Chunk.objects.filter(organization=organization, bot=bot, searchable=True)
    corpus = {"chunks": chunks.count(), "documents": chunks.values("document_id").distinct().count()}
    if not corpus["chunks"]:
        bot_services.bot_calibration_store(
            bot_id=bot.pk, organization_id=bot.organization_id, value=None, figures={"corpus": corpus}
        )
        return None
    embedder = get_embedder()
    inside = synthetic_questions(organization=organization, bot=bot, limit=settings.REFUSAL_CALIBRATION_SAMPLE)
    general, general_languages = out_of_domain_questions(bot)
    inside_vectors = embedder.encode([q.text for q in inside])
    general_vectors = embedder.encode(general)
    # Overlap guard: a general question nearly identical in meaning to an in-domain one is left out.
    overlap = (general_vectors @ inside_vectors.T).max(axis=1) if len(inside) else np.zeros(len(general))
    keep = overlap <= settings.REFUSAL_OVERLAP_SIMILARITY
    excluded = [question for question, kept in zip(general, keep, strict=True) if not kept]
    # The questions this bot's visitors would plausibly ask and it cannot answer: the general
    # questions nearest to its domain (mean of their 5 best cosines with its own questions). A
    # documentation bot meets product-support and technical questions, not recipes: meeting the
    # target on the whole set would leave the near ones mostly answered.
    near = _nearest(general_vectors, inside_vectors, keep, settings.REFUSAL_NEAR_QUESTIONS)
    outside = [general[i] for i in near]
    inside_scores = _scores(
        organization=organization, bot=bot, questions=[q.text for q in inside], vectors=inside_vectors
    )
    outside_scores = _scores(organization=organization, bot=bot, questions=outside, vectors=general_vectors[near])

    # The false-answer target on the general set, then as high as the in-domain questions allow: the
    # general questions, even the nearest, score below real questions about a neighbouring product.
    for_false_answers = cutoff_for(outside_scores, target)
    for_missed_answers = cutoff_keeping(inside_scores, settings.REFUSAL_TARGET_MISSED_ANSWER_RATE)
    unclipped = max(for_false_answers, for_missed_answers)
    decided_by = "missed_answer_rate" if for_missed_answers > for_false_answers else "false_answer_rate"
    cutoff = round(min(max(unclipped, settings.REFUSAL_MIN_CUTOFF), settings.REFUSAL_MAX_CUTOFF), 4)
    clipped = "min" if cutoff > unclipped else "max" if cutoff < unclipped else None
    highest = sorted(zip(outside_scores, outside, strict=True), reverse=True)[:5]
    kinds: dict[str, int] = {}
    for question in inside:
        kinds[question.kind] = kinds.get(question.kind, 0) + 1
    figures = {
        "target_false_answer_rate": target,
        "false_answer_rate": answered_rate(outside_scores, cutoff),
        "in_domain_answered_rate": answered_rate(inside_scores, cutoff),
        "target_missed_answer_rate": settings.REFUSAL_TARGET_MISSED_ANSWER_RATE,
        "cutoff_for_false_answer_rate": for_false_answers,
        "cutoff_for_missed_answer_rate": for_missed_answers,
        "decided_by": decided_by,
        "unclipped_cutoff": unclipped,
        "clipped": clipped,
        "in_domain_questions": len(inside),
        "in_domain_kinds": kinds,
        "out_of_domain_questions": len(outside),
        "out_of_domain_languages": general_languages,
        "out_of_domain_pool": int(keep.sum()),
        "out_of_domain_set": outside,
        "out_of_domain_excluded": excluded,
        "overlap_similarity": settings.REFUSAL_OVERLAP_SIMILARITY,
        "corpus": corpus,
        "scores": {"in_domain": _distribution(inside_scores), "out_of_domain": _distribution(outside_scores)},
        "highest_out_of_domain": [{"question": q, "score": s} for s, q in highest],
        "in_domain_examples": [{"question": q.text, "kind": q.kind} for q in inside[:5]],
        "embedding_model": embedder.name,
    }
    bot_services.bot_calibration_store(
        bot_id=bot.pk, organization_id=bot.organization_id, value=cutoff, figures=figures
    )
    logger.info(
        "bot %s: calibrated cut-off %s (out-of-domain answered %s, in-domain answered %s)",
        bot.pk, cutoff, figures["false_answer_rate"], figures["in_domain_answered_rate"],
    )  # fmt: skip
    return cutoff


# --------------------------------------------------------------------------- scheduling


def _debounce() -> timedelta:
    return timedelta(seconds=settings.REFUSAL_CALIBRATION_DEBOUNCE_SECONDS)


def _stale_after() -> timedelta:
    # A pending run wakes up within the debounce; a marker much older than that lost its task.
    return max(_debounce() * 10, timedelta(minutes=10))


def calibration_schedule(*, organization_id: int, bot_id: int) -> None:
    """The bot's knowledge base changed: after commit, mark it and publish a debounced run unless
    one is pending (module docstring). Called by the document services. Off with
    REFUSAL_CALIBRATION_AUTO=False (the test settings: no debounced run outlives the test that
    caused it; calibration tests turn it on)."""
    if not settings.REFUSAL_CALIBRATION_AUTO:
        return
    transaction.on_commit(functools.partial(_calibration_request, organization_id, bot_id), robust=True)


def _calibration_request(organization_id: int, bot_id: int) -> None:
    from workers.tasks.calibration import bot_calibrate_task

    if not bot_services.bot_calibration_request_mark(bot_id=bot_id, stale_after=_stale_after()):
        return
    countdown = settings.REFUSAL_CALIBRATION_DEBOUNCE_SECONDS
    if not enqueue_now(bot_calibrate_task, organization_id, bot_id, countdown=countdown):
        # The broker is down: forget the mark, so the next change publishes again.
        bot_services.bot_calibration_request_clear(bot_id=bot_id)


def calibration_request_now(*, bot: Bot) -> None:
    """Calibrate now (the owner asked): a run is published after commit, without debounce."""
    from apps.core.tasks import enqueue_on_commit
    from workers.tasks.calibration import bot_calibrate_task

    enqueue_on_commit(bot_calibrate_task, bot.organization_id, bot.pk, True)


def bot_calibrate_due(*, organization_id: int, bot_id: int, force: bool = False) -> float | None:
    """The task's body: calibrate when the bot's last change is a debounce old (or `force`), else
    publish itself again for the rest of the wait. A change that arrives during the run schedules
    another one. Returns the cut-off when a run happened."""
    from workers.tasks.calibration import bot_calibrate_task

    bot = Bot.objects.select_related("organization").filter(pk=bot_id, organization_id=organization_id).first()
    if bot is None:
        return None
    requested = bot.calibration_requested_at
    if not force:
        if requested is None:
            return None  # another run already took this change
        wait = (requested + _debounce() - timezone.now()).total_seconds()
        if wait > 0 and enqueue_now(bot_calibrate_task, organization_id, bot_id, countdown=math.ceil(wait)):
            return None
        # (A failed publish of the rest of the wait: the broker is unreachable, calibrate now rather
        # than lose the run.)
    cutoff = bot_calibrate(bot=bot)
    if requested is not None and not bot_services.bot_calibration_request_clear(bot_id=bot_id, requested_at=requested):
        enqueue_now(
            bot_calibrate_task, organization_id, bot_id, countdown=settings.REFUSAL_CALIBRATION_DEBOUNCE_SECONDS
        )
    return cutoff
