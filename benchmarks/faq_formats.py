"""FAQs in the formats people write them: does each answer come back with its question? (issue 14)

Real FAQ documents installed on this machine by Debian, and the same question-and-answer pairs written in the
web formats FAQs take, are uploaded to two bots through the real upload and ingestion pipeline:

- **Beacon**: the pipeline as it is: questions set apart by their markup head their answers
  (apps/documents/extraction_faq.py);
- **baseline**: the same pipeline with that recognition off (`extraction_faq.is_question` answers False, so
  every question stays a paragraph among the others, the chunker packs them as they come; an HTML
  `<summary>` still heads its `<details>`, which is kinder to the baseline than the code before this was:
  it dropped the summary).

One pair of bots per format (the generated formats repeat the same pairs). Each bot is calibrated on its own
documents (the refusal cut-off in force), then asked every question of its documents; a retrieved chunk *holds
the answer* when it is of the entry's own document and contains eight consecutive words of the entry's answer
(the benchmark's own parsing of each file: text FAQs by their question lines, DocBook by its question rows,
the generated formats by construction). Figures per format: Recall@1, Recall@5, MRR@10 of `chunk_search`,
and through chat (`turn_prepare` + `turn_answer`, the offline answerer) the share answered and the share of
answered questions whose first citation holds the answer, each as a ratio to the baseline of the same run.

Sources (skipped when missing): zlib, xz, sed, lsof, procps and Valgrind FAQs as text (`zlib1g-dev`,
`xz-utils`, `sed`, `lsof`, `procps`, `valgrind`), Valgrind's DocBook HTML FAQ and libxslt's HTML FAQ
(`valgrind`, `libxslt1-dev`); generated from the zlib, xz and procps pairs: Markdown with bold questions,
an HTML accordion (`<details>`/`<summary>`), an HTML definition list, a Word document with bold questions.

    python benchmarks/faq_formats.py [--chat N] [--json FILE]

Runs in its own database (`beacon_bench`); the bots it creates are deleted at the end.
"""

from __future__ import annotations

import argparse
import gzip
import html
import io
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

from _setup import django_setup, fresh_bot
from retrieval_quality import answered, chat_turns, first_cited, metrics

WORD = re.compile(r"[a-z0-9]+")
ANSWER_WORDS = 8
#: a question line of a text FAQ: numbered, `Q:` or bare (the question is group 1)
QUESTION_LINE = re.compile(r"^\s*(?:\d+(?:\.\d+)*\.?\s+|Q:\s+)?([A-Z][^?]{8,200}\?)\s*$")
TEXT_FAQS = {
    "zlib": Path("/usr/share/doc/zlib1g-dev/FAQ.gz"),
    "xz": Path("/usr/share/doc/xz-utils/faq.txt.gz"),
    "sed": Path("/usr/share/doc/sed/sedfaq.txt.gz"),
    "lsof": Path("/usr/share/doc/lsof/00FAQ.gz"),
    "procps": Path("/usr/share/doc/procps/FAQ.gz"),
    "valgrind": Path("/usr/share/doc/valgrind/FAQ.txt.gz"),
}
VALGRIND_HTML = Path("/usr/share/doc/valgrind/html/faq.html")
LIBXSLT_HTML = Path("/usr/share/doc/libxslt1-dev/html/FAQ.html")
GENERATED_FROM = ("zlib", "xz", "procps")


@dataclass
class Entry:
    question: str
    answer: str  # the answer's text, enough to find its first words


@dataclass
class Document:
    name: str  # uploaded file name
    kind: str  # the format group of the figures
    data: bytes
    entries: list[Entry]


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def read(path: Path) -> str:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="latin-1") as source:
        return source.read()


def text_entries(text: str) -> list[Entry]:
    """Question lines and the text up to the next question line; the table of contents (a question line whose
    next non-empty line is another question or numbered line) gives nothing."""
    lines = text.replace("\t", "    ").splitlines()
    marks = [(i, m.group(1)) for i, line in enumerate(lines) if (m := QUESTION_LINE.match(line))]
    entries = []
    for (index, question), following in zip(marks, [*marks[1:], (len(lines), "")], strict=True):
        body = " ".join(line.strip() for line in lines[index + 1 : following[0]] if line.strip())
        body = re.sub(r"^A:\s*", "", body)
        if len(words(body)) >= ANSWER_WORDS + 2 and not re.match(r"^\d+(\.\d+)*\.?\s", body):
            entries.append(Entry(" ".join(question.split()), body))
    seen, unique = set(), []
    for entry in entries:  # each question once (a question asked twice has no one right answer)
        if entry.question.lower() not in seen:
            seen.add(entry.question.lower())
            unique.append(entry)
    return unique


def valgrind_html_entries(data: bytes) -> list[Entry]:
    import warnings

    from bs4 import BeautifulSoup, XMLParsedAsHTMLWarning

    warnings.filterwarnings("ignore", category=XMLParsedAsHTMLWarning)

    soup = BeautifulSoup(data, "lxml")
    entries = []
    for row in soup.select("tr.question"):
        cells = row.find_all("td")
        answer = row.find_next_sibling("tr", class_="answer")
        if len(cells) >= 2 and answer is not None:
            question = " ".join(cells[-1].get_text(" ").split())
            body = " ".join(answer.get_text(" ").split())
            if question.endswith("?") and len(words(body)) >= ANSWER_WORDS + 2:
                entries.append(Entry(question, body))
    return entries


def libxslt_entries(data: bytes) -> list[Entry]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(data, "lxml")
    entries = []
    for item in soup.find_all("li"):
        emphasis = item.find("em", recursive=False)
        if emphasis is None:
            continue
        question = " ".join(emphasis.get_text(" ").split())
        body = " ".join(p.get_text(" ") for p in item.find_all("p", recursive=False))
        if question.endswith("?") and len(words(body)) >= ANSWER_WORDS + 2:
            entries.append(Entry(question, " ".join(body.split())))
    return entries


def generated(entries: list[Entry]) -> list[Document]:
    """The pairs written as people write FAQs on the web and in Word."""
    import docx

    markdown = "# Frequently asked questions\n\n" + "".join(f"**{e.question}**\n\n{e.answer}\n\n" for e in entries)
    accordion = "".join(
        f"<details><summary>{html.escape(e.question)}</summary><p>{html.escape(e.answer)}</p></details>\n"
        for e in entries
    )
    definitions = "".join(f"<dt>{html.escape(e.question)}</dt><dd>{html.escape(e.answer)}</dd>\n" for e in entries)
    page = "<html><head><title>FAQ</title></head><body><main><h1>Frequently asked questions</h1>{}</main></body></html>"
    document = docx.Document()
    document.add_heading("Frequently asked questions", level=1)
    for entry in entries:
        document.add_paragraph().add_run(entry.question).bold = True
        document.add_paragraph(entry.answer)
    buffer = io.BytesIO()
    document.save(buffer)
    return [
        Document("faq.md", "Markdown, bold questions", markdown.encode(), entries),
        Document("faq-accordion.html", "HTML accordion", page.format(accordion).encode(), entries),
        Document(
            "faq-definitions.html", "HTML definition list", page.format(f"<dl>{definitions}</dl>").encode(), entries
        ),
        Document("faq.docx", "Word, bold questions", buffer.getvalue(), entries),
    ]


def documents() -> list[Document]:
    found: list[Document] = []
    pairs: dict[str, list[Entry]] = {}
    for product, path in TEXT_FAQS.items():
        if path.is_file():
            text = read(path)
            pairs[product] = text_entries(text)
            found.append(Document(f"{product}-faq.txt", "plain text", text.encode(), pairs[product]))
    if VALGRIND_HTML.is_file():
        data = VALGRIND_HTML.read_bytes()
        found.append(Document("valgrind-faq.html", "HTML, DocBook and list", data, valgrind_html_entries(data)))
    if LIBXSLT_HTML.is_file():
        data = LIBXSLT_HTML.read_bytes()
        found.append(Document("libxslt-faq.html", "HTML, DocBook and list", data, libxslt_entries(data)))
    generated_pairs = [entry for product in GENERATED_FROM for entry in pairs.get(product, [])]
    if generated_pairs:
        found += generated(generated_pairs)
    return [document for document in found if document.entries]


def holds(text: str, entry: Entry) -> bool:
    """Whether a chunk's text holds part of the entry's answer: eight consecutive words of it (the start, or a
    later part of a long answer split over several chunks)."""
    answer = words(entry.answer)
    grams = {tuple(answer[i : i + ANSWER_WORDS]) for i in range(max(1, len(answer) - ANSWER_WORDS + 1))}
    found = words(text)
    return any(tuple(found[i : i + ANSWER_WORDS]) in grams for i in range(max(1, len(found) - ANSWER_WORDS + 1)))


def ingest(bot, organization, docs: list[Document]) -> dict[str, int]:
    """{file name: document id}, every file through document_upload + document_ingest_now."""
    from apps.documents.services.pipeline import document_ingest_now
    from apps.documents.services.upload import IncomingFile, document_upload

    ids = {}
    for doc in docs:
        outcome = document_upload(
            organization=organization, bot=bot, files=[IncomingFile(name=doc.name, data=doc.data)], enqueue=False
        )[0]
        ids[doc.name] = document_ingest_now(document=outcome.document).pk
    return ids


def in_process_without_questions(name: str, data: bytes):
    """The baseline's extraction: Beacon's own, in this process, question recognition off."""
    from contextlib import ExitStack
    from unittest import mock

    from apps.documents import extraction, extraction_faq, extraction_md, extraction_rst

    with ExitStack() as stack:
        for module in (extraction_faq, extraction, extraction_md, extraction_rst):
            stack.enter_context(mock.patch.object(module, "is_question", lambda text, **options: False))
        return extraction.extract(name, data)


def measure(bot, organization, docs: list[Document], ids: dict[str, int], chat: int) -> dict:
    """Search and chat figures of one bot: a hit is a chunk of the entry's own document holding its answer."""
    from apps.documents.calibration import bot_calibrate
    from apps.documents.models import Chunk
    from apps.documents.selectors import chunk_search

    bot_calibrate(bot=bot)
    bot.refresh_from_db()
    hits, asked_all = [], []
    for doc in docs:
        for entry in doc.entries:
            found = chunk_search(organization=organization, bot=bot, query=entry.question, k=10, min_score=0.0)
            hits.append([hit.document_id == ids[doc.name] and holds(hit.text, entry) for hit in found])
            asked_all.append((entry, ids[doc.name]))
    result = metrics(hits)
    asked = asked_all[:: max(1, len(asked_all) // chat)] if chat else asked_all
    messages = chat_turns(organization, bot, [entry.question for entry, _ in asked])
    cited = {c["chunk_id"] for m in messages for c in m.citations if c.get("chunk_id")}
    rows = {
        pk: (document, text)
        for pk, document, text in Chunk.objects.filter(pk__in=cited).values_list("pk", "document_id", "text")
    }

    def grounded(message, entry, document) -> bool:
        citation = first_cited(message)
        row = rows.get(citation.get("chunk_id")) if citation else None
        return bool(row and row[0] == document and holds(row[1], entry))

    pairs = [(m, e, d) for m, (e, d) in zip(messages, asked, strict=True) if answered(m, bot)]
    return result | {
        "cutoff": float(bot.effective_min_score),
        "questions": len(asked_all),
        "chat_asked": len(asked),
        "chat_answered": len(pairs) / max(len(asked), 1),
        "chat_grounded": sum(grounded(m, e, d) for m, e, d in pairs) / max(len(pairs), 1),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chat", type=int, default=60, help="chat turns per format (0: every question)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    django_setup()
    from unittest import mock

    from apps.bots.services import bot_delete
    from apps.documents.models import Chunk
    from apps.documents.services import pipeline

    docs = documents()
    print(f"{len(docs)} documents: " + ", ".join(f"{d.name} ({len(d.entries)} questions)" for d in docs))
    groups: dict[str, list[Document]] = {}
    for doc in docs:  # one bot per format: the generated formats repeat the same pairs
        groups.setdefault(doc.kind, []).append(doc)
    keys = ("recall@1", "recall@5", "mrr@10", "chat_answered", "chat_grounded")
    results, ratios = {}, {}
    for kind, members in groups.items():
        results[kind] = {}
        for name in ("baseline", "beacon"):
            organization, bot = fresh_bot(f"faq formats {kind} {name}")
            started = time.perf_counter()
            try:
                if name == "baseline":
                    with mock.patch.object(pipeline, "extract_isolated", in_process_without_questions):
                        ids = ingest(bot, organization, members)
                else:
                    ids = ingest(bot, organization, members)
                chunks = Chunk.objects.filter(bot=bot, searchable=True).count()
                results[kind][name] = measure(bot, organization, members, ids, args.chat) | {"chunks": chunks}
                print(f"{kind}, {name}: {chunks} chunks, {time.perf_counter() - started:.0f} s", flush=True)
            finally:
                bot_delete(bot=bot)
        ours, base = results[kind]["beacon"], results[kind]["baseline"]
        ratios[kind] = {k: ours[k] / base[k] if base[k] else None for k in keys}
    print(
        f"\n{'format':26} {'n':>4} "
        + " ".join(f"{k:>17}" for k in ("Recall@1", "Recall@5", "MRR@10", "chat answered", "chat grounded", "cut-off"))
    )
    for kind, figures in results.items():
        ours, base = figures["beacon"], figures["baseline"]
        cells = [f"{ours[k]:.3f} (x{ratios[kind][k] or 0:.2f})" for k in keys]
        print(f"{kind:26} {ours['questions']:>4} " + " ".join(f"{c:>17}" for c in cells) + f" {ours['cutoff']:>7.3f}")
        print(f"{'  baseline':26} {'':>4} " + " ".join(f"{base[k]:>17.3f}" for k in keys) + f" {base['cutoff']:>7.3f}")
    if args.json:
        args.json.write_text(json.dumps({"results": results, "ratios_to_baseline": ratios}, indent=2))


if __name__ == "__main__":
    main()
