"""Retrieval quality, refusal and grounding: Beacon against BM25 and a naive dense pipeline, per corpus.

Everything goes through Beacon's public services (document_upload + document_ingest_now,
chunk_search, conversation_create + turn_prepare + turn_answer with the offline answerer), so the
same script measures today's build and any later change to parsing, scoring, calibration or the
answerer. Nothing of Beacon's logic is re-implemented here.

Corpora (`--corpus pg|celery|python|all`):
- pg: PostgreSQL 15's documentation as Debian ships it (`apt-get install postgresql-doc-15`, HTML
  under /usr/share/doc/postgresql-doc-15/html). Each page (a sect1) becomes a Markdown document;
  its sect2 titles are the questions and are removed from the uploaded text (sect3 titles too,
  their text counts for the parent sect2). `--pages N` pages with 2+ sect2 (default 120).
- celery: Celery 5.7.0's Sphinx sources (reStructuredText), uploaded to Beacon as `.rst` files
  (Beacon's parser decides what to do with them; a build that refuses `.rst` gets `.txt`, which
  is what a user of that build would do, and the run says so). Get them with
      pip download celery==5.7.0 --no-binary :all: --no-deps && tar xzf celery-5.7.0.tar.gz
  and pass `--celery-docs celery-5.7.0/docs` (default /work/data/celery-5.7.0/docs). Pages
  under history/ and the changelog are skipped, and so is any page with under 150 words of prose
  (API-reference autodoc pages, toctree-only indexes). Every section title after the page title
  with two or more words, unique in the corpus and over a section of 20+ words is a question;
  its title line (with under/overline) is removed from the uploaded text. `--docs N` keeps the
  first N prose pages (default: all).
- python: Python 3.11's documentation, the Sphinx sources Debian ships (`apt-get install python3-doc`:
  /usr/share/doc/python3-doc/html/_sources/**/*.rst.txt, `--python-docs`), read as celery's are, reference
  pages included (What's New skipped): some 475 pages and their FAQ (faq/*.rst: some 180 questions people ask about
  Python, with their answers), the size and shape of issue 14's held-out check (663 documents, 224 FAQ
  questions). Out-of-domain: Celery's and Sphinx's FAQs. Not part of `all` (it takes longest).

Labelling is the same for every pipeline and independent of Beacon's parser: a returned chunk
is located to the section (of the same document) whose raw source text holds the largest share
of the chunk's word bigrams, when that share is at least 0.3; reST/HTML markup in the source vs
cleaned text in a chunk changes only the few bigrams around a role or directive. A chunk is a
hit when the located section is the asked one or lies inside it. A section too small to hold most
of any 1000-character chunk can be reached by no naive chunk: the run prints the share of
questions a naive chunk can reach at all (about 91% for pg, 84% for celery).

Pipelines, all with the same embedding model (all-MiniLM-L6-v2 via apps.core.embeddings):
- beacon: Beacon's ingestion and hybrid search through the real services, `k=10, min_score=0`
  (RERANKER as configured in the environment; the header prints it);
- bm25: `bm25s` (k1=1.2, b=0.75) over fixed 1000/200-character chunks of the raw document text,
  tokenized like PostgreSQL's `english` text-search configuration: lower-cased alphanumeric words,
  PostgreSQL's own english.stop list (read from the pgserver installation), Snowball English
  stemmer (PyStemmer);
- naive: the same fixed chunks, dense cosine only (exact search).
Every figure is also printed as a ratio to naive of the same corpus in the same run.

Refusal: an out-of-domain set per corpus, from another product's documentation (pg: the question
titles of Celery's FAQ and the "How do I ..." entries of Sphinx's FAQ, from the Sphinx sdist
`--sphinx-sdist`, default /work/data/sphinx-9.0.0.tar.gz; celery: the Sphinx FAQ entries and
up to 100 PostgreSQL section-title questions, less any that is also a Celery section title asked
in-domain, such as "Time Zones"). These stay outside Beacon (not the general
question set Beacon ships for its own calibration). The bot keeps its defaults; when the build
has a calibration service (apps.documents.calibration.bot_calibrate) it is run after ingestion.
At the bot's effective cut-off the run reports the share of in-domain questions answered and of
out-of-domain questions refused, both by search (chunk_search at the bot's cut-off returns a
hit) and by a chat turn (status not `unanswered`, content not the fallback), plus, for
information, the best pair any cut-off on the top hit's score would give.

Held-out shape (issue 14's check: a bot's real FAQ questions against an unrelated product's FAQ): with
`--chat`, each bot is also asked questions of five FAQs Debian ships as text (OTHER_FAQS: packages
zlib1g-dev, xz-utils, sed, lsof, procps; those not installed are left out), apart from the set above;
the run prints their refused share next to the FAQ entries' answered share, the other products'
questions that were answered, and the refused share of each group of the set above. `--json` also lists every
out-of-domain question that was answered (`answered_out_of_domain`: the answer and what it cited), to read
whether the documents answer it after all. `--strict-grounding` asks the same chat turns again with the bot's
strict grounding on (docs/refusal.md#strict-grounding) and prints each set's share, off and on.

FAQ entries: a section titled as a question ("Can I cancel the execution of a task?", Celery's
faq.rst and a few pages of either corpus) is not a section-title question: its title stays in the
uploaded text, as in any real FAQ page a customer uploads, and it is asked as written, a real
question whose answer passage is known (the entry's text). Retrieval finds such entries easily (the
question is in the text); what they test is the answer. Their figures are printed apart and are not
in the section-title figures (which therefore hold 41 fewer Celery questions than before 5 December
2026).

Phrasings: the section-title questions are also asked as a chat visitor phrases them ("Tell me about
<title>", "Can you explain <title>?", "Hi, I'd like to know more about <title>, please"): Recall@5, MRR@10
and the share answered at the bot's cut-off, beside the bare titles', so a build whose search or cut-off
depends on the words around the subject shows it.

Grounding: of the in-domain questions the chat answered, the share whose citations include a
chunk located in the asked section (any citation, and the first one cited in the answer), for
the section titles and for the FAQ entries. A section title's answer may also be written
elsewhere (a page's introduction, another page): a citation of it there counts as ungrounded, so
this is a lower bound.
A chat turn costs seconds of embedding on a busy machine, so `--chat N` (default 100) sends at
most N in-domain (and N FAQ) and N out-of-domain questions, evenly spread, through the chat (0 = all, -1 =
none: refusal by search only, no grounding).

    python benchmarks/retrieval_quality.py --corpus all [--pages 120] [--docs N] [--json out.json]
    python benchmarks/retrieval_quality.py --corpus celery --docs 15   # a quick run
    python benchmarks/retrieval_quality.py --corpus pg --pages 40 --chat -1 --backend onnx-int8   # per backend

Runs in its own database (`beacon_bench`) on the embedded stack; the bots it creates are deleted
at the end unless `--keep`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import re
import statistics
import tarfile
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from _setup import django_setup, fresh_bot

PG_DOCS = Path("/usr/share/doc/postgresql-doc-15/html")
CELERY_DOCS = Path("/work/data/celery-5.7.0/docs")
PYTHON_DOCS = Path("/usr/share/doc/python3-doc/html/_sources")
SPHINX_SDIST = Path("/work/data/sphinx-9.0.0.tar.gz")
NUMBERING = re.compile(r"^[A-Z]?[\d.]+\s+")
WORD = re.compile(r"[a-z0-9]+")
MIN_SHARE = 0.3  # the locator's minimum share of a chunk's bigrams found in one section
PROSE_MIN_WORDS = 150
SECTION_MIN_WORDS = 20
CHUNK_SIZE, CHUNK_OVERLAP = 1000, 200


def norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@dataclass
class Segment:
    path: tuple[str, ...]  # the ids of the sections that hold this text, outermost first
    text: str  # raw source text (markup included), for the locator


@dataclass
class Doc:
    name: str  # the file name uploaded to Beacon
    text: str  # the uploaded text
    plain: str  # the raw text the baselines chunk
    segments: list[Segment]


@dataclass
class Question:
    question: str
    doc: str
    section: str
    kind: str = "title"  # "title": a heading removed from the text; "faq": a question heading kept in it


@dataclass
class Corpus:
    name: str
    description: str
    docs: list[Doc]
    questions: list[Question]
    ood: list[str] = field(default_factory=list)
    ood_description: str = ""
    #: the out-of-domain questions by origin ({"Sphinx FAQ entries": [...], ...}), for the breakdown of refusals
    ood_groups: dict[str, list[str]] = field(default_factory=dict)
    #: other products' FAQs ({product: questions}), asked apart from `ood` (other_faq_questions)
    other_faqs: dict[str, list[str]] = field(default_factory=dict)


# --------------------------------------------------------------------------- PostgreSQL (HTML)


def load_pg_pages(limit: int) -> list[dict]:
    """[{name, title, intro, sections: [{id, title, paragraphs}]}] for pages with 2+ sect2."""
    from bs4 import BeautifulSoup, XMLParsedAsHTMLWarning

    warnings.filterwarnings("ignore", category=XMLParsedAsHTMLWarning)  # a few pages start with <?xml
    pages = []
    for path in sorted(PG_DOCS.glob("*.html")):
        soup = BeautifulSoup(path.read_bytes(), "lxml")
        sect1 = soup.find("div", class_="sect1")
        if sect1 is None:
            continue
        sect2s = sect1.find_all("div", class_="sect2", recursive=False)
        if len(sect2s) < 2:
            continue
        for toc in sect1.find_all("div", class_="toc"):
            toc.decompose()
        page_title = NUMBERING.sub("", norm(sect1.find(["h2", "h1"]).get_text(" ")))
        sections = []
        for sect2 in sect2s:
            heading = sect2.find(["h3", "h2"])
            title = NUMBERING.sub("", norm(heading.get_text(" "))) if heading else ""
            for h in sect2.find_all(["h3", "h4", "h5"]):
                h.decompose()
            paragraphs = _paragraphs(sect2)
            sect2.decompose()
            if paragraphs:
                sections.append({"id": f"{path.name}#{len(sections)}", "title": title, "paragraphs": paragraphs})
        intro = [p for p in _paragraphs(sect1) if p != page_title]
        pages.append({"name": path.name, "title": page_title, "intro": intro[1:], "sections": sections})
        if len(pages) >= limit:
            break
    return pages


def _paragraphs(node) -> list[str]:
    out = []
    for element in node.find_all(["p", "pre", "li", "td", "dt", "dd"]):
        if element.find_parent(["p", "pre", "li", "td", "dd"]):
            continue
        text = norm(element.get_text(" "))
        if text:
            out.append(text)
    return out


def is_question(title: str) -> bool:
    """A section titled as a question ("Can I cancel the execution of a task?"): a FAQ entry."""
    return title.rstrip().endswith("?")


def pg_questions(pages: list[dict]) -> list[Question]:
    counts = Counter(section["title"].lower() for page in pages for section in page["sections"])
    return [
        Question(
            section["title"],
            page["name"].replace(".html", ".md"),
            section["id"],
            "faq" if is_question(section["title"]) else "title",
        )
        for page in pages
        for section in page["sections"]
        if len(section["title"].split()) >= 2 and counts[section["title"].lower()] == 1
    ]


def pg_corpus(limit: int) -> Corpus:
    pages = load_pg_pages(limit)
    docs = []
    for page in pages:
        # A section titled as a question keeps its title (a "##" heading): it is asked as a FAQ entry.
        body = list(page["intro"])
        for section in page["sections"]:
            body += [f"## {section['title']}"] if is_question(section["title"]) else []
            body += section["paragraphs"]
        headings = {f"## {section['title']}" for section in page["sections"] if is_question(section["title"])}
        # A code line starting with '#' must not become a Markdown heading.
        markdown = f"# {page['title']}\n\n" + "\n\n".join(
            (" " + p) if p.startswith("#") and p not in headings else p for p in body
        )
        segments = [Segment((), "\n\n".join([page["title"], *page["intro"]]))]
        segments += [Segment((s["id"],), "\n\n".join(s["paragraphs"])) for s in page["sections"]]
        docs.append(
            Doc(page["name"].replace(".html", ".md"), markdown + "\n", "\n\n".join([page["title"], *body]), segments)
        )
    return Corpus(
        "pg",
        f"{len(docs)} pages of the PostgreSQL 15 documentation (HTML -> Markdown)",
        docs,
        pg_questions(pages),
    )


# --------------------------------------------------------------------------- reStructuredText

ADORNMENT = re.compile(r"^([!-/:-@\[-`{-~])\1{2,}\s*$")
HEADING_MARKUP = [
    (re.compile(r"``(.*?)``"), r"\1"),
    (re.compile(r":[\w:.+-]+:`~?([^`<]*?)\s*(?:<[^>]*>)?`"), r"\1"),  # :role:`text <target>` -> text
    (re.compile(r"`([^`<]*?)\s*(?:<[^>]*>)?`_{0,2}"), r"\1"),  # `text <url>`_ -> text
    (re.compile(r"[*\\]"), ""),
]


def clean_title(title: str) -> str:
    for pattern, replacement in HEADING_MARKUP:
        title = pattern.sub(replacement, title)
    return norm(title)


def rst_headings(lines: list[str]) -> list[tuple[int, int, str, tuple[str, bool]]]:
    """[(first line, line after, title, style)] of the section titles of a reST source."""
    headings, i = [], 0
    while i < len(lines) - 1:
        line, below = lines[i], lines[i + 1]
        over = ADORNMENT.match(line)
        if over and i + 2 < len(lines) and lines[i + 1].strip() and lines[i + 2].rstrip() == line.rstrip():
            headings.append((i, i + 3, lines[i + 1].strip(), (line[0], True)))
            i += 3
            continue
        under = ADORNMENT.match(below)
        if (
            line.strip()
            and not line[0].isspace()
            and not ADORNMENT.match(line)
            and not line.startswith("..")
            and under
            and (i == 0 or not lines[i - 1].strip())
        ):
            headings.append((i, i + 2, line.strip(), (below[0], False)))
            i += 2
            continue
        i += 1
    return headings


def prose_words(lines: list[str], headings) -> int:
    """Words in unindented lines that are neither headings nor directives/comments."""
    skip = {n for start, end, _, _ in headings for n in range(start, end)}
    return sum(
        len(line.split())
        for n, line in enumerate(lines)
        if n not in skip and line.strip() and not line[0].isspace() and not line.startswith("..")
    )


def celery_corpus(root: Path, limit: int | None) -> tuple[Corpus, int]:
    """The Celery docs corpus, and how many .rst pages were skipped (history, changelog, no prose)."""
    corpus, skipped = rst_corpus(root, "*.rst", skip=("history/", "changelog"), limit=limit)
    corpus.name, corpus.description = (
        "celery",
        f"{len(corpus.docs)} prose pages of Celery 5.7.0's Sphinx sources (reStructuredText)",
    )
    return corpus, skipped


def python_corpus(root: Path, limit: int | None) -> tuple[Corpus, int]:
    """Python's documentation as Debian ships its Sphinx sources (`_sources/**/*.rst.txt` of python3-doc), and
    how many pages were skipped (the What's New changelogs, no prose)."""
    # Every page with headings: Python's reference pages are written by hand inside directives (`.. function::`),
    # not pulled from code by autodoc as Celery's are, so they are not left out as prose-less.
    corpus, skipped = rst_corpus(root, "*.rst.txt", skip=("whatsnew/",), limit=limit, min_prose=0)
    corpus.name = "python"
    corpus.description = f"{len(corpus.docs)} pages of Python 3.11's documentation sources (reStructuredText)"
    return corpus, skipped


def rst_corpus(
    root: Path, pattern: str, *, skip: tuple[str, ...], limit: int | None, min_prose: int = PROSE_MIN_WORDS
) -> tuple[Corpus, int]:
    """A corpus of a folder of Sphinx sources: every `pattern` file under `root` whose path contains none of
    `skip`, with headings and at least `min_prose` words of prose; each uploaded as `.rst`."""
    parsed, skipped = [], 0
    for path in sorted(root.rglob(pattern)):
        relative = path.relative_to(root).as_posix()
        if any(part in relative for part in skip):
            skipped += 1
            continue
        lines = path.read_text(encoding="utf-8").splitlines()
        headings = rst_headings(lines)
        if not headings or prose_words(lines, headings) < min_prose:
            skipped += 1
            continue
        parsed.append((relative, lines, headings))
    if limit:
        parsed = parsed[:limit]
    titles = Counter(clean_title(h[2]).lower() for _, _, headings in parsed for h in headings)
    docs, questions = [], []
    for relative, lines, headings in parsed:
        name = relative.removesuffix(".txt").removesuffix(".rst").replace("/", "__") + ".rst"
        levels: list[tuple[str, bool]] = []
        stack: list[tuple[int, str]] = []
        spans = []  # (section id, path, title, heading start, heading end, body end)
        for index, (start, end, title, style) in enumerate(headings):
            if style not in levels:
                levels.append(style)
            level = levels.index(style)
            while stack and stack[-1][0] >= level:
                stack.pop()
            section_id = f"{name}#{index}"
            stack.append((level, section_id))
            body_end = headings[index + 1][0] if index + 1 < len(headings) else len(lines)
            spans.append((section_id, tuple(s for _, s in stack), clean_title(title), start, end, body_end))
        words = Counter()
        for _, path, _, _, end, body_end in spans:
            count = len(" ".join(lines[end:body_end]).split())
            for ancestor in path:
                words[ancestor] += count
        asked = {
            section_id: title
            for index, (section_id, _, title, *_rest) in enumerate(spans)
            if index > 0
            and len(title.split()) >= 2
            and titles[title.lower()] == 1
            and words[section_id] >= SECTION_MIN_WORDS
        }
        # A question title ("Can I cancel a task?") stays in the text and is asked as a FAQ entry.
        faq = {section_id for section_id, title in asked.items() if is_question(title)}
        removed = {
            n
            for section_id, _, _, start, end, _ in spans
            if section_id in asked.keys() - faq
            for n in range(start, end)
        }
        segments = [Segment((), _kept(lines, removed, 0, headings[0][0]))]
        segments += [Segment(path, _kept(lines, removed, start, body_end)) for _, path, _, start, _, body_end in spans]
        text = _kept(lines, removed, 0, len(lines)) + "\n"
        docs.append(Doc(name, text, text, segments))
        questions += [
            Question(title, name, section_id, "faq" if section_id in faq else "title")
            for section_id, title in asked.items()
        ]
    return Corpus("rst", f"{len(docs)} prose pages", docs, questions), skipped


def _kept(lines: list[str], removed: set[int], start: int, end: int) -> str:
    return "\n".join(line for n, line in enumerate(lines[start:end], start=start) if n not in removed)


# --------------------------------------------------------------------------- out-of-domain sets


def celery_faq_questions(root: Path) -> list[str]:
    lines = (root / "faq.rst").read_text(encoding="utf-8").splitlines()
    return [clean_title(title) for _, _, title, _ in rst_headings(lines) if title.rstrip().endswith("?")]


def sphinx_faq_questions(sdist: Path) -> list[str]:
    """Sphinx's FAQ: the '... do X?' entries under 'How do I...' as full questions, and titles."""
    with tarfile.open(sdist) as archive:
        member = next(m for m in archive.getmembers() if m.name.endswith("/doc/faq.rst"))
        lines = archive.extractfile(member).read().decode("utf-8").splitlines()
    questions = [f"How do I {clean_title(line[4:])}" for line in lines if re.match(r"^\.\.\. \S.*\?$", line)]
    titles = [clean_title(title) for _, _, title, _ in rst_headings(lines)[1:]]
    return questions + [t for t in titles if len(t.split()) >= 2 and not t.endswith("...")]


#: FAQs of other products that Debian ships as plain text (packages zlib1g-dev, xz-utils, sed, lsof, procps):
#: real questions people asked about software that neither corpus is about, the shape of the out-of-domain half
#: of issue 14's held-out check ("questions from an unrelated product's FAQ")
OTHER_FAQS = {
    "zlib": Path("/usr/share/doc/zlib1g-dev/FAQ.gz"),
    "xz": Path("/usr/share/doc/xz-utils/faq.txt.gz"),
    "sed": Path("/usr/share/doc/sed/sedfaq.txt.gz"),
    "lsof": Path("/usr/share/doc/lsof/00FAQ.gz"),
    "procps": Path("/usr/share/doc/procps/FAQ.gz"),
}
FAQ_LINE = re.compile(r"^\s*(?:\d+(?:\.\d+)*\.?\s+|Q:\s+)?([A-Z][^?]{8,160}\?)\s*$")


def other_faq_questions() -> dict[str, list[str]]:
    """{product: its FAQ's questions} for the OTHER_FAQS installed here: lines that are a whole question (numbered,
    'Q:' or bare), 3 to 30 words, each once."""
    import gzip

    found = {}
    for product, path in OTHER_FAQS.items():
        if not path.is_file():
            continue
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="latin-1") as source:
            lines = source.read().splitlines()
        questions = []
        for line in lines:
            match = FAQ_LINE.match(line.replace("\t", " "))
            if match and 3 <= len(match.group(1).split()) <= 30:
                questions.append(" ".join(match.group(1).split()))
        found[product] = list(dict.fromkeys(questions))
    return found


def products_named(bot, products) -> dict[str, int]:
    """{product: the most chunks of the bot holding a lexeme of its name} for the products its documents name at
    all: those are not unrelated to the corpus (the Python documentation documents zlib and xz in its zlib and lzma
    modules), so their FAQs are reported apart from the unrelated products' ones."""
    from django.db import connection

    named = {}
    with connection.cursor() as cursor:
        for product in products:
            cursor.execute(
                "SELECT coalesce(max(s.df), 0) FROM documents_lexemestat s WHERE s.bot_id = %s AND s.lexeme IN "
                "(SELECT unnest(tsvector_to_array(to_tsvector(s.config::regconfig, %s))))",
                [bot.pk, product],
            )
            if df := cursor.fetchone()[0]:
                named[product] = df
    return named


# --------------------------------------------------------------------------- labelling


def bigrams(text: str) -> frozenset:
    tokens = WORD.findall(text.lower())
    return frozenset(itertools.pairwise(tokens)) if len(tokens) > 1 else frozenset(tokens)


class Locator:
    """(document name, chunk text) -> the path of the section holding most of the chunk's bigrams."""

    def __init__(self, docs: list[Doc]):
        self.segments = {doc.name: [(seg.path, bigrams(seg.text)) for seg in doc.segments] for doc in docs}
        self.locate = lru_cache(maxsize=None)(self._locate)

    def _locate(self, doc_name: str, text: str) -> tuple[str, ...] | None:
        grams = bigrams(text)
        if not grams:
            return None
        best, best_path = 0.0, None
        for path, seg in self.segments.get(doc_name, []):
            share = len(grams & seg) / len(grams)
            if share > best:
                best, best_path = share, path
        return best_path if best >= MIN_SHARE else None

    def hit(self, doc_name: str, text: str, section: str) -> bool:
        path = self.locate(doc_name, text)
        return path is not None and section in path


# --------------------------------------------------------------------------- baselines


def fixed_chunks(docs: list[Doc]) -> list[tuple[str, str]]:
    chunks = []
    for doc in docs:
        text, start = doc.plain, 0
        while start < len(text):
            chunks.append((doc.name, text[start : start + CHUNK_SIZE]))
            if start + CHUNK_SIZE >= len(text):
                break
            start += CHUNK_SIZE - CHUNK_OVERLAP
    return chunks


def postgres_english_stop_words() -> list[str]:
    """PostgreSQL's english.stop, from the pgserver installation Beacon runs (else the system's)."""
    import pgserver

    candidates = list(Path(pgserver.__file__).parent.rglob("tsearch_data/english.stop"))
    candidates += sorted(Path("/usr/share/postgresql").glob("*/tsearch_data/english.stop"))
    if not candidates:
        raise SystemExit("PostgreSQL's english.stop was not found (pgserver or /usr/share/postgresql)")
    return [w.strip() for w in candidates[0].read_text().splitlines() if w.strip()]


class BM25Baseline:
    """bm25s over the fixed chunks, tokenized like PostgreSQL's `english` configuration."""

    def __init__(self, texts: list[str]):
        import bm25s
        import Stemmer

        logging.getLogger("bm25s").setLevel(logging.WARNING)  # bm25s sets DEBUG on import
        self.bm25s = bm25s
        self.stop = postgres_english_stop_words()
        self.stemmer = Stemmer.Stemmer("english")
        self.retriever = bm25s.BM25(k1=1.2, b=0.75)
        self.retriever.index(self._tokens(texts, ids=True), show_progress=False)
        self.size = len(texts)

    def _tokens(self, texts: list[str], ids: bool):
        return self.bm25s.tokenize(
            texts,
            lower=True,
            token_pattern=r"(?u)[^\W_]+",
            stopwords=self.stop,
            stemmer=self.stemmer,
            return_ids=ids,
            show_progress=False,
        )

    def top(self, queries: list[str], k: int) -> list[list[int]]:
        documents, scores = self.retriever.retrieve(
            self._tokens(queries, ids=False), k=min(k, self.size), show_progress=False
        )
        return [
            [int(d) for d, s in zip(row, row_scores, strict=True) if s > 0]
            for row, row_scores in zip(documents, scores, strict=True)
        ]


# --------------------------------------------------------------------------- figures


def metrics(ranked_hits: list[list[bool]]) -> dict:
    n = max(len(ranked_hits), 1)
    return {
        "recall@1": sum(any(hits[:1]) for hits in ranked_hits) / n,
        "recall@5": sum(any(hits[:5]) for hits in ranked_hits) / n,
        "mrr@10": sum(next((1 / (i + 1) for i, hit in enumerate(hits[:10]) if hit), 0.0) for hits in ranked_hits) / n,
    }


def best_cutoffs(in_scores: list[float], out_scores: list[float]) -> dict:
    """Over every cut-off on the top hit's score: the most balanced pair, and the most OOD refused
    while at least 90% of in-domain questions are answered (for information)."""
    candidates = sorted({0.0, *in_scores, *out_scores})
    rows = []
    for cut in candidates:
        answered = sum(s >= cut for s in in_scores) / max(len(in_scores), 1)
        refused = sum(s < cut for s in out_scores) / max(len(out_scores), 1)
        rows.append((cut, answered, refused))
    balanced = max(rows, key=lambda r: (min(r[1], r[2]), r[1] + r[2]))
    at_90 = max((r for r in rows if r[1] >= 0.9), key=lambda r: r[2], default=None)
    as_dict = lambda r: {"cutoff": round(r[0], 4), "answered": r[1], "refused": r[2]} if r else None  # noqa: E731
    return {"balanced": as_dict(balanced), "answered_90": as_dict(at_90)}


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


# --------------------------------------------------------------------------- one corpus


def effective_cutoff(bot) -> float:
    """The cut-off the bot applies: `effective_min_score` where the build has it, else `min_score`."""
    bot.refresh_from_db()
    return float(getattr(bot, "effective_min_score", bot.min_score))


def calibrate(bot) -> str:
    """Run the build's calibration service when it has one (no worker runs in a benchmark)."""
    try:
        from apps.documents import calibration
    except ImportError:
        return "no calibration in this build: the bot's default cut-off"
    run = getattr(calibration, "bot_calibrate", None)
    if run is None:
        return "apps.documents.calibration has no bot_calibrate(): the cut-off as stored"
    started = time.perf_counter()
    run(bot=bot)
    return f"calibrated by apps.documents.calibration.bot_calibrate in {time.perf_counter() - started:.0f} s"


def ingest(corpus: Corpus, organization, bot) -> tuple[dict[int, str], str]:
    """Upload every document through document_upload + document_ingest_now; {document id: name}."""

    from apps.core.exceptions import ApplicationError
    from apps.documents.services.pipeline import document_ingest_now
    from apps.documents.services.upload import IncomingFile, document_upload

    documents, note = {}, ""
    for doc in corpus.docs:
        name = doc.name
        try:
            outcome = document_upload(
                organization=organization,
                bot=bot,
                files=[IncomingFile(name=name, data=doc.text.encode())],
                enqueue=False,
            )[0]
        except ApplicationError as exc:
            if exc.get_codes() != "unsupported_type" or not name.endswith(".rst"):
                raise
            note = "this build refuses .rst uploads (415): the reST sources were uploaded as .txt"
            outcome = document_upload(
                organization=organization,
                bot=bot,
                files=[IncomingFile(name=name.removesuffix(".rst") + ".txt", data=doc.text.encode())],
                enqueue=False,
            )[0]
        documents[document_ingest_now(document=outcome.document).pk] = name
    return documents, note


def chat_turns(organization, bot, questions: list[str]) -> list:
    from apps.conversations.services import conversation_create, turn_answer, turn_prepare

    messages = []
    for question in questions:
        conversation = conversation_create(organization=organization, bot=bot, channel="api")
        messages.append(turn_answer(turn_prepare(conversation=conversation, content=question)))
    return messages


def strict_grounding_arm(organization, bot, arms: dict) -> dict:
    """The same chat turns again with the bot's strict grounding on (docs/refusal.md#strict-grounding), against
    the turns just asked with it off: the share handled right (answered for answerable sets, refused for the
    others) per set."""
    bot.strict_grounding = True
    bot.save(update_fields=["strict_grounding"])
    figures = {}

    def right(messages, answerable: bool) -> float:
        share = sum(answered(m, bot) for m in messages) / len(messages)
        return share if answerable else 1 - share

    try:
        for name, (questions, lenient, answerable) in arms.items():
            if not questions:
                continue
            strict = chat_turns(organization, bot, questions)

            figures[name] = {
                "asked": len(questions),
                "answerable": answerable,
                "off": right(lenient, answerable),
                "on": right(strict, answerable),
            }
    finally:
        bot.strict_grounding = False
        bot.save(update_fields=["strict_grounding"])
    print("\nstrict grounding (the same chat turns; share answered, or refused for the out-of-domain sets):")
    for name, f in figures.items():
        kind = "answered" if f["answerable"] else "refused"
        print(f"  {name:28} {f['asked']:4} asked   off {pct(f['off'])} {kind:8} on {pct(f['on'])} {kind}")
    return figures


def answered(message, bot) -> bool:
    from apps.conversations.models import Message

    return message.status == Message.Status.OK and message.content.strip() != bot.fallback_message.strip()


def first_cited(message) -> dict | None:
    by_ref = {c.get("ref"): c for c in message.citations}
    for ref in re.findall(r"\[(\d+)\]", message.content):
        if int(ref) in by_ref:
            return by_ref[int(ref)]
    return message.citations[0] if message.citations else None


def spread(items: list, n: int) -> list:
    """At most n items, evenly spread over the list (all of them when n is 0)."""
    if not n or len(items) <= n:
        return list(items)
    return [items[i * len(items) // n] for i in range(n)]


def grounding_figures(messages, questions: list[Question], bot, documents: dict, locator: Locator) -> dict:
    """Of the answered questions, the share whose citations include a chunk located in the asked
    section (any citation, and the first one cited in the answer)."""
    from apps.documents.models import Chunk

    cited_ids = {c["chunk_id"] for m in messages for c in m.citations if c.get("chunk_id")}
    chunk_rows = {
        pk: (documents.get(document_id), text)
        for pk, document_id, text in Chunk.objects.filter(pk__in=cited_ids).values_list("pk", "document_id", "text")
    }

    def grounded(citation, q: Question) -> bool:
        row = chunk_rows.get(citation.get("chunk_id"))
        return bool(row and row[0] and locator.hit(row[0], row[1], q.section))

    pairs = [(m, q) for m, q in zip(messages, questions, strict=True) if answered(m, bot)]
    return {
        "asked": len(messages),
        "answered": len(pairs),
        "answered_share": len(pairs) / max(len(messages), 1),
        "any_citation": sum(any(grounded(c, q) for c in m.citations) for m, q in pairs) / max(len(pairs), 1),
        "first_citation": sum(bool((c := first_cited(m)) and grounded(c, q)) for m, q in pairs) / max(len(pairs), 1),
        "without_citation": sum(not m.citations for m, _ in pairs),
    }


#: The section-title questions asked as visitors of a chat phrase them: how much retrieval and the bot's
#: cut-off depend on the words around the subject.
PHRASINGS = {
    "Tell me about <title>": "Tell me about {q}",
    "Can you explain <title>?": "Can you explain {q}?",
    "Hi, I'd like to know more about <title>, please": "Hi, I'd like to know more about {q}, please",
}


def phrasing_figures(organization, bot, *, embedder, questions: list[Question], documents, locator, cutoff) -> dict:
    """{phrasing: Recall@k, MRR@10 and the share answered at `cutoff`} of the section-title questions so asked."""
    from apps.documents.selectors import chunk_search

    figures = {}
    for label, template in PHRASINGS.items():
        asked = [template.format(q=q.question) for q in questions]
        ranked, answered_ = [], 0
        for q, text, vector in zip(questions, asked, embedder.encode(asked), strict=True):
            hits = chunk_search(organization=organization, bot=bot, query=text, k=10, min_score=0.0, vector=vector)
            ranked.append([locator.hit(documents[h.document_id], h.text, q.section) for h in hits])
            answered_ += bool(hits) and hits[0].score >= cutoff
        figures[label] = {**metrics(ranked), "answered": answered_ / max(len(questions), 1)}
    return figures


def run_corpus(corpus: Corpus, *, embedder, keep: bool, chat: int | None, strict: bool = False) -> dict:
    import numpy as np
    from django.conf import settings

    from apps.documents.models import Chunk
    from apps.documents.selectors import chunk_search

    questions = [q for q in corpus.questions if q.kind == "title"]
    faq = [q for q in corpus.questions if q.kind == "faq"]
    locator = Locator(corpus.docs)
    print(f"\n== {corpus.name}: {corpus.description}")
    print(
        f"questions: {len(questions)} in-domain (section titles removed from the text), {len(faq)} FAQ entries "
        f"(sections titled as a question, title kept), {len(corpus.ood)} out-of-domain ({corpus.ood_description})"
    )

    # Beacon: the real upload + pipeline + hybrid search, the bot with its defaults.
    organization, bot = fresh_bot(f"retrieval benchmark {corpus.name}")
    started = time.perf_counter()
    documents, note = ingest(corpus, organization, bot)
    chunk_count = Chunk.objects.filter(bot=bot, searchable=True).count()
    print(f"beacon: {len(documents)} documents, {chunk_count} chunks indexed in {time.perf_counter() - started:.0f} s")
    if note:
        print(f"note: {note}")
    naive = fixed_chunks(corpus.docs)
    print(f"baselines: {len(naive)} fixed {CHUNK_SIZE}/{CHUNK_OVERLAP}-character chunks of the raw text")
    bm25 = BM25Baseline([text for _, text in naive])
    naive_vectors = embedder.encode([text for _, text in naive])
    latencies = []

    def retrieval(asked: list[Question]) -> tuple[dict, list[float], np.ndarray]:
        """{pipeline: hits per question}, Beacon's top scores and the questions' vectors."""
        vectors = embedder.encode([q.question for q in asked]) if asked else np.zeros((0, 1), np.float32)
        beacon_hits, top_scores = [], []
        for q, vector in zip(asked, vectors, strict=True):
            t0 = time.perf_counter()
            hits = chunk_search(
                organization=organization, bot=bot, query=q.question, k=10, min_score=0.0, vector=vector
            )
            latencies.append((time.perf_counter() - t0) * 1000)
            top_scores.append(hits[0].score if hits else 0.0)
            beacon_hits.append([locator.hit(documents[h.document_id], h.text, q.section) for h in hits])
        bm25_hits = [
            [locator.hit(naive[i][0], naive[i][1], q.section) for i in ranked]
            for q, ranked in zip(asked, bm25.top([q.question for q in asked], 10) if asked else [], strict=True)
        ]
        naive_hits = []
        for q, vector in zip(asked, vectors, strict=True):
            order = np.argsort(-(naive_vectors @ vector))[:10]
            naive_hits.append([locator.hit(naive[i][0], naive[i][1], q.section) for i in order])
        return {"beacon": beacon_hits, "bm25": bm25_hits, "naive": naive_hits}, top_scores, vectors

    def with_ratios(hits: dict) -> tuple[dict, dict]:
        results = {name: metrics(ranked) for name, ranked in hits.items()}
        base = results["naive"]
        ratios = {
            name: {metric: value / base[metric] if base[metric] else None for metric, value in m.items()}
            for name, m in results.items()
        }
        return results, ratios

    def table(results: dict, ratios: dict) -> None:
        print(f"\n{'pipeline':9} {'Recall@1':>16} {'Recall@5':>16} {'MRR@10':>16}")
        for name, m in results.items():
            cells = [f"{m[k]:.3f} (x{ratios[name][k] or 0:.2f})" for k in ("recall@1", "recall@5", "mrr@10")]
            print(f"{name:9} " + " ".join(f"{c:>16}" for c in cells))

    title_hits, top_scores, query_vectors = retrieval(questions)
    faq_hits, _, _ = retrieval(faq)
    naive_paths = [(name, locator.locate(name, text)) for name, text in naive]
    located = sum(path is not None for _, path in naive_paths) / max(len(naive_paths), 1)
    reachable = {section for _, path in naive_paths for section in path or ()}
    coverage = sum(q.section in reachable for q in questions) / max(len(questions), 1)
    results, ratios = with_ratios(title_hits)
    faq_results, faq_ratios = with_ratios(faq_hits) if faq else ({}, {})
    print(
        f"labels: {pct(located)} of the naive chunks are located to a section (share >= {MIN_SHARE}); "
        f"{pct(coverage)} of the questions have a naive chunk located in their section (the rest are too small "
        "to hold most of a 1000-character chunk)"
    )
    print(
        f"beacon search: median {statistics.median(latencies):.1f} ms, RERANKER={getattr(settings, 'RERANKER', 'none')}"
    )
    print("section titles:", end="")
    table(results, ratios)
    if faq:
        print(
            f"\nFAQ entries ({len(faq)}; their question is in the text: retrieval is easy, the answer is the test):",
            end="",
        )
        table(faq_results, faq_ratios)

    # Refusal at the bot's effective cut-off, by search and by a chat turn.
    calibration_note = calibrate(bot)
    cutoff = effective_cutoff(bot)
    ood_vectors = embedder.encode(corpus.ood) if corpus.ood else []
    ood_top, ood_search = [], []
    for question, vector in zip(corpus.ood, ood_vectors, strict=True):
        hits = chunk_search(organization=organization, bot=bot, query=question, k=1, min_score=0.0, vector=vector)
        ood_top.append(hits[0].score if hits else 0.0)
        ood_search.append(
            bool(chunk_search(organization=organization, bot=bot, query=question, k=1, min_score=cutoff, vector=vector))
        )
    in_search = [
        bool(chunk_search(organization=organization, bot=bot, query=q.question, k=1, min_score=cutoff, vector=vector))
        for q, vector in zip(questions, query_vectors, strict=True)
    ]
    refusal = {
        "cutoff": cutoff,
        "cutoff_source": calibration_note,
        "search_answered": sum(in_search) / max(len(in_search), 1),
        "search_refused": 1 - sum(ood_search) / max(len(ood_search), 1),
        "best_over_cutoffs": best_cutoffs(top_scores, ood_top),
    }
    phrasings = phrasing_figures(
        organization, bot, embedder=embedder, questions=questions, documents=documents, locator=locator, cutoff=cutoff
    )
    grounding = faq_grounding = None
    if chat is not None:
        started = time.perf_counter()
        chat_questions, faq_questions = spread(questions, chat), spread(faq, chat)
        in_messages = chat_turns(organization, bot, [q.question for q in chat_questions])
        faq_messages = chat_turns(organization, bot, [q.question for q in faq_questions])
        ood_asked = spread(corpus.ood, chat)
        ood_messages = chat_turns(organization, bot, ood_asked)
        # The turns by set, for the strict-grounding arm: (questions, messages, answerable).
        arms = {
            "section titles": ([q.question for q in chat_questions], in_messages, True),
            "FAQ entries": ([q.question for q in faq_questions], faq_messages, True),
            "out-of-domain set": (ood_asked, ood_messages, False),
        }
        seconds = time.perf_counter() - started
        refusal["chat_answered"] = sum(answered(m, bot) for m in in_messages) / max(len(in_messages), 1)
        refusal["chat_refused"] = 1 - sum(answered(m, bot) for m in ood_messages) / max(len(ood_messages), 1)
        refusal["chat_statuses"] = dict(Counter(str(m.status) for m in [*in_messages, *ood_messages]))
        grounding = grounding_figures(in_messages, chat_questions, bot, documents, locator)
        faq_grounding = grounding_figures(faq_messages, faq_questions, bot, documents, locator) if faq else None
        refusal["chat_questions"] = {
            "in_domain": len(in_messages),
            "faq": len(faq_messages),
            "out_of_domain": len(ood_messages),
        }
        # By kind of question: real questions with a known answer (FAQ entries) against questions of another
        # product's FAQ is the shape of issue 14's held-out check; section titles and other products' bare
        # section titles are the harder, ambiguous half.
        if faq_messages:
            refusal["chat_answered_faq"] = sum(answered(m, bot) for m in faq_messages) / len(faq_messages)
        refusal["chat_refused_by_group"] = {}
        for group, group_questions in corpus.ood_groups.items():
            members = set(group_questions)
            group_messages = [m for m, q in zip(ood_messages, ood_asked, strict=True) if q in members]
            if group_messages:
                refusal["chat_refused_by_group"][group] = {
                    "refused": 1 - sum(answered(m, bot) for m in group_messages) / len(group_messages),
                    "asked": len(group_messages),
                }
        print(
            f"\nchat: {len(in_messages)} in-domain + {len(faq_messages)} FAQ + {len(ood_messages)} out-of-domain turns "
            f"(offline answerer) in {seconds:.0f} s"
        )
        if corpus.other_faqs:
            # Issue 14's held-out shape: the bot's real FAQ questions (above) against other products' FAQs.
            pairs = spread([(p, q) for p, questions_ in corpus.other_faqs.items() for q in questions_], chat)
            asked = [q for _, q in pairs]
            other_messages = chat_turns(organization, bot, asked)
            refusal["chat_refused_other_faqs"] = 1 - sum(answered(m, bot) for m in other_messages) / len(other_messages)
            refusal["other_faqs_asked"] = len(other_messages)
            wrongly = [q for q, m in zip(asked, other_messages, strict=True) if answered(m, bot)]
            refusal["other_faqs_answered_examples"] = wrongly[:10]
            # By product, and the products the corpus never names apart: "an unrelated product's FAQ".
            named = products_named(bot, corpus.other_faqs)
            refusal["other_faqs_named_in_corpus"] = named
            by_product = {}
            for (product, _), m in zip(pairs, other_messages, strict=True):
                by_product.setdefault(product, []).append(not answered(m, bot))
            refusal["other_faqs_by_product"] = {p: {"asked": len(r), "refused": sum(r) / len(r)}
                                                for p, r in by_product.items()}  # fmt: skip
            unrelated = [r for p, rs in by_product.items() if p not in named for r in rs]
            if unrelated:
                refusal["chat_refused_unrelated_faqs"] = sum(unrelated) / len(unrelated)
                refusal["unrelated_faqs_asked"] = len(unrelated)
            arms["other products' FAQs"] = (asked, other_messages, False)
            ood_asked, ood_messages = [*ood_asked, *asked], [*ood_messages, *other_messages]
        if strict:
            refusal["strict_grounding"] = strict_grounding_arm(organization, bot, arms)
        # Every out-of-domain question the bot answered, with what it said and cited, for reading by a person
        # (is the answer in the documents after all?): in --json only.
        refusal["answered_out_of_domain"] = [
            {"question": q, "answer": m.content[:400], "cited": [
                {"title": c.get("title"), "heading_path": c.get("heading_path"), "score": c.get("score")}
                for c in m.citations[:3]]}
            for q, m in zip(ood_asked, ood_messages, strict=True) if answered(m, bot)
        ]  # fmt: skip

    print(f"\nrefusal at the bot's cut-off {cutoff:.3f} ({calibration_note}):")
    in_share, out_share = pct(refusal["search_answered"]), pct(refusal["search_refused"])
    print(f"  search: {in_share} of in-domain answered, {out_share} of out-of-domain refused")
    if chat is not None:
        in_share, out_share = pct(refusal["chat_answered"]), pct(refusal["chat_refused"])
        print(f"  chat:   {in_share} of in-domain answered, {out_share} of out-of-domain refused")
        print(f"          statuses {refusal['chat_statuses']}")
        if "chat_answered_faq" in refusal:
            print(f"          FAQ entries (real questions, answer known): {pct(refusal['chat_answered_faq'])} answered")
        for group, figures in refusal["chat_refused_by_group"].items():
            print(f"          {group}: {pct(figures['refused'])} of {figures['asked']} refused")
        if "chat_refused_other_faqs" in refusal:
            print(
                f"  held-out shape (the bot's FAQ entries against {refusal['other_faqs_asked']} questions of other "
                f"products' FAQs: {', '.join(corpus.other_faqs)}): "
                + (f"{pct(refusal['chat_answered_faq'])} answered, " if "chat_answered_faq" in refusal else "")
                + f"{pct(refusal['chat_refused_other_faqs'])} refused"
            )
            print(
                "          by product: "
                + ", ".join(
                    f"{p} {pct(f['refused'])} of {f['asked']}"
                    + (f" (named in {refusal['other_faqs_named_in_corpus'][p]} chunks)"
                       if p in refusal["other_faqs_named_in_corpus"] else "")
                    for p, f in refusal["other_faqs_by_product"].items()
                )
            )  # fmt: skip
            if "chat_refused_unrelated_faqs" in refusal:
                print(
                    f"          products the corpus never names ({refusal['unrelated_faqs_asked']} questions): "
                    f"{pct(refusal['chat_refused_unrelated_faqs'])} refused"
                )
            for question in refusal["other_faqs_answered_examples"]:
                print(f"          answered: {question}")
    balanced, at_90 = refusal["best_over_cutoffs"]["balanced"], refusal["best_over_cutoffs"]["answered_90"]
    print(
        f"  for information, cut-offs on the top hit's score: most balanced {balanced['cutoff']:.3f} -> "
        f"{pct(balanced['answered'])} answered / {pct(balanced['refused'])} refused"
    )
    if at_90:
        print(f"  with >= 90% answered at most {pct(at_90['refused'])} refused (cut-off {at_90['cutoff']:.3f})")
    print("section titles as a chat visitor phrases them (search; answered at the bot's cut-off):")
    plain = {**results["beacon"], "answered": refusal["search_answered"]}
    for label, figures in {"<title>": plain, **phrasings}.items():
        print(
            f"  {label:50} Recall@5 {figures['recall@5']:.3f}  MRR@10 {figures['mrr@10']:.3f}  "
            f"answered {pct(figures['answered'])}"
        )
    for label, figures in (("section titles", grounding), ("FAQ entries", faq_grounding)):
        if figures:
            print(
                f"grounding, {label}: {figures['answered']} of {figures['asked']} answered; of those "
                f"{pct(figures['any_citation'])} cite the asked section (any citation), "
                f"{pct(figures['first_citation'])} with the first citation; "
                f"{figures['without_citation']} carry no citation"
            )

    targets = [
        (
            "Recall@5 >= 1.10x naive",
            f"x{ratios['beacon']['recall@5'] or 0:.2f}",
            (ratios["beacon"]["recall@5"] or 0) >= 1.10,
        ),
        ("MRR@10 >= 1.15x naive", f"x{ratios['beacon']['mrr@10'] or 0:.2f}", (ratios["beacon"]["mrr@10"] or 0) >= 1.15),
    ]
    if chat is not None:
        targets.append(
            (
                ">= 90% out-of-domain refused with >= 90% in-domain answered (chat, bot's cut-off)",
                f"{pct(refusal['chat_refused'])} refused, {pct(refusal['chat_answered'])} answered",
                refusal["chat_refused"] >= 0.9 and refusal["chat_answered"] >= 0.9,
            )
        )
        targets.append(
            (
                ">= 90% of answered questions cite the asked section",
                pct(grounding["any_citation"]),
                grounding["any_citation"] >= 0.9,
            )
        )
        if faq_grounding:
            targets.append(
                (
                    ">= 90% of answered FAQ questions cite their entry",
                    pct(faq_grounding["any_citation"]),
                    faq_grounding["any_citation"] >= 0.9,
                )
            )
    print("targets:")
    for label, value, met in targets:
        print(f"  {label}: {value} -> {'met' if met else 'NOT met'}")

    if not keep:
        from apps.documents.services.upload import bot_documents_delete

        bot_documents_delete(organization_id=organization.pk, bot_id=bot.pk)
    return {
        "corpus": corpus.description,
        "documents": len(corpus.docs),
        "beacon_chunks": chunk_count,
        "naive_chunks": len(naive),
        "naive_label_coverage": coverage,
        "questions": len(questions),
        "faq_questions": len(faq),
        "ood_questions": len(corpus.ood),
        "upload_note": note,
        "search_median_ms": statistics.median(latencies),
        "reranker": getattr(settings, "RERANKER", "none"),
        "results": results,
        "ratios_to_naive": ratios,
        "faq_results": faq_results,
        "faq_ratios_to_naive": faq_ratios,
        "refusal": refusal,
        "phrasings": phrasings,
        "grounding": grounding,
        "faq_grounding": faq_grounding,
        "targets": {label: met for label, _, met in targets},
    }


def with_celery_and_sphinx_faqs(corpus: Corpus, celery_docs: Path, sphinx_faq: list[str], other_faqs: dict) -> Corpus:
    """The corpus with Celery's and Sphinx's FAQs as its out-of-domain set, and the other products' FAQs."""
    celery_faq = celery_faq_questions(celery_docs)
    corpus.ood = celery_faq + sphinx_faq
    corpus.ood_description = "Celery FAQ questions + Sphinx FAQ entries"
    corpus.ood_groups = {"Celery FAQ questions": celery_faq, "Sphinx FAQ entries": sphinx_faq}
    corpus.other_faqs = other_faqs
    return corpus


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", choices=["pg", "celery", "python", "all"], default="all", help="all: pg and celery")
    parser.add_argument("--pages", type=int, default=120, help="PostgreSQL pages (default 120)")
    parser.add_argument("--docs", type=int, default=None, help="Celery prose pages (default: all)")
    parser.add_argument("--celery-docs", type=Path, default=CELERY_DOCS)
    parser.add_argument("--python-docs", type=Path, default=PYTHON_DOCS)
    parser.add_argument("--sphinx-sdist", type=Path, default=SPHINX_SDIST)
    parser.add_argument(
        "--chat",
        type=int,
        default=100,
        help="chat turns: at most N in-domain and N out-of-domain questions, evenly spread (0 = all; -1 = none)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the benchmark bots' documents")
    parser.add_argument(
        "--strict-grounding",
        action="store_true",
        help="ask the chat turns again with the bot's strict grounding on, and compare (docs/refusal.md)",
    )
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    parser.add_argument(
        "--backend", choices=["torch", "onnx", "onnx-int8"], help="EMBEDDING_BACKEND of the local model (default: env)"
    )
    args = parser.parse_args()
    if args.strict_grounding and args.chat < 0:
        parser.error("--strict-grounding asks the chat turns again: it needs --chat 0 or more")
    if args.backend:
        os.environ["EMBEDDING_BACKEND"] = args.backend
    want_pg, want_celery = args.corpus in ("pg", "all"), args.corpus in ("celery", "all")
    if want_pg and not PG_DOCS.is_dir():
        raise SystemExit("Install the data first: apt-get install postgresql-doc-15")
    if not (args.celery_docs / "faq.rst").is_file():
        raise SystemExit(f"Celery's docs are missing at {args.celery_docs}: see this script's docstring")
    if not args.sphinx_sdist.is_file():
        raise SystemExit(
            f"Sphinx's sdist is missing at {args.sphinx_sdist}: pip download sphinx==9.0.0 --no-binary :all: --no-deps"
        )
    django_setup()
    from django.conf import settings

    from apps.core.embeddings import get_embedder

    embedder = get_embedder()
    print(f"embedding model: {embedder.name}, EMBEDDING_BACKEND={settings.EMBEDDING_BACKEND}")
    sphinx_faq = sphinx_faq_questions(args.sphinx_sdist)
    other_faqs = other_faq_questions()
    print("other products' FAQs: " + ", ".join(f"{name} {len(qs)}" for name, qs in other_faqs.items()))
    corpora = []
    pg = None
    if want_pg or (want_celery and PG_DOCS.is_dir()):
        pg = pg_corpus(args.pages)
    if want_pg:
        corpora.append(with_celery_and_sphinx_faqs(pg, args.celery_docs, sphinx_faq, other_faqs))
    if want_celery:
        celery, skipped = celery_corpus(args.celery_docs, args.docs)
        celery.description += f"; {skipped} pages skipped (history, changelog, under {PROSE_MIN_WORDS} words of prose)"
        # A PostgreSQL title that is also one of Celery's asked section titles ("Time Zones") is not out of domain.
        asked = {q.question.lower() for q in celery.questions}
        pg_titles = [q.question for q in pg.questions if q.question.lower() not in asked] if pg else []
        stride = max(1, len(pg_titles) // 100)
        celery.ood = sphinx_faq + pg_titles[::stride][:100]
        celery.ood_description = "Sphinx FAQ entries" + (" + PostgreSQL section titles" if pg_titles else "")
        celery.ood_groups = {"Sphinx FAQ entries": sphinx_faq, "PostgreSQL section titles": pg_titles[::stride][:100]}
        celery.other_faqs = other_faqs
        corpora.append(celery)
    if args.corpus == "python":
        if not (args.python_docs / "faq").is_dir():
            raise SystemExit(
                f"Python's documentation sources are missing at {args.python_docs}: apt-get install python3-doc"
            )
        python, skipped = python_corpus(args.python_docs, args.docs)
        python.description += f"; {skipped} pages skipped (What's New, no heading)"
        corpora.append(with_celery_and_sphinx_faqs(python, args.celery_docs, sphinx_faq, other_faqs))
    figures = {
        corpus.name: run_corpus(
            corpus,
            embedder=embedder,
            keep=args.keep,
            chat=None if args.chat < 0 else args.chat,
            strict=args.strict_grounding,
        )
        for corpus in corpora
    }
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
        print(f"\nfigures written to {args.json}")


if __name__ == "__main__":
    main()
