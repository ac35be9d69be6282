"""Grounded answers: the extractive offline answerer and the citation checks of a model's answer.

Both hold an answer to what the retrieved passages support (docs/answers.md): the offline answerer
quotes only sentences, list items and whole code blocks of the passages, each cited, or returns None
(a refusal); `check_citations` keeps a model's [n] only where source n supports the sentence and
says when nothing in the answer is supported. No database writes here (services.py persists).
"""

from __future__ import annotations

import logging
import re
import textwrap
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from django.conf import settings

from apps.conversations.chat import OFFLINE_MODEL, Answer, llm_enabled
from apps.core import languages
from apps.core.embeddings import get_embedder
from apps.documents.chunking import split_sentences
from apps.documents.extraction import LIST_ITEM
from apps.documents.selectors import SearchHit, chunk_terms_missing

logger = logging.getLogger(__name__)

REFS = r"\d{1,3}(?:\s*,\s*\d{1,3})*"  # the inside of [1] or [1, 2]
CITATION = re.compile(rf"\s*\[({REFS})\]")
MARKERS_AFTER_STOP = re.compile(rf"([.!?…])((?:\s*\[{REFS}\])+)")


# --------------------------------------------------------------------------- the offline answerer
#
# Chunk text is prose in paragraphs (blank lines between them), list items one a line or one a paragraph, and code as
# Markdown fenced blocks (``` with an optional language, the code with its indentation, ```). The
# answerer cuts the top hits into units (sentences, list items, whole code blocks), scores each
# against the question, and quotes the best few with their citation; see docs/answers.md.

FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
HEADING_LINE = re.compile(r"^\s*#{1,6}\s")
UNDERLINE = re.compile(r"^\s*([=\-~^\"'`#*+:.])\1{2,}\s*$")
DIRECTIVE = re.compile(r"^\s*\.\.(?:\s|$)")  # reST directives, comments and targets (`.. note::`, `.. _x:`)
ROLE = re.compile(r"(?::[\w.+-]+)+:`([^`]*)`")  # reST roles such as :class:`~celery.app.Celery`
# What may open a sentence before its first letter: bold, a quote or bracket, Spanish's "¿" and "¡", French
# guillemets (and the space after them); the letter is then a capital of any script ("À", "Über"), or a digit.
STATEMENT_OPENER = re.compile(r"^(?:\*\*|[\"'`(\[*_¿¡\u201c\u2018\u201e]|«\s?)?")
REFERENCE = re.compile(r"`([^`<]+?)(?:\s*<[^>]*>)?`_{1,2}")  # reST links: `Why won't my Task run?`_
LABEL = re.compile(r"^\*\*[^*\n]{1,30}(?::\*\*|\*\*:)\s*")  # a leading bold label: **Answer:** ..., **Note:** ...
PROMPTS = ("$ ", ">>> ")  # a paragraph of console or interpreter lines is code even without a fence
STATEMENT_END = re.compile(r"[.!?:…][\"'`)\]*_]?$")
END_PUNCTUATION = re.compile(r"[.!?:…]+$")
WORD = re.compile(r"[^\W\d_]{2,}")
# A term: letters of any script and digits, with "_", "+" and "-" inside ("snake_case", "c++", "e-mail"); an
# accented letter is part of its word ("réplication", not "r" and "plication").
TERM = re.compile(r"[^\W_][\w+-]*(?:[^\W_]|\+)|[^\W\d_]")
CONTINUATION = re.compile(r"^(?:It|This|These|That|Those|Then|Also|However|Otherwise|For example)\b")
STOP_WORDS = frozenset(
    """a about above after again all also am an and any are as at be because been before being below between both
    but by can could did do does doing down during each few for from further get got had has have having he her
    here hers him his how i if in into is it its itself just may me might more most must my no nor not now of off
    on once only or other our out over own same shall she should so some such than that the their them then there
    these they this those through to too under until up use used using very want was we were what when where which
    while who whom why will with would you your yours""".split()  # noqa: SIM905 (a word list reads better so)
)
OFFLINE_HITS = 4  # the top hits the answerer reads
OFFLINE_MAX_ITEMS = 12  # list items a sentence ending with ":" brings along
OFFLINE_MARGIN = 0.15  # units this far below the best one are not quoted
LEXICAL_WEIGHT = 0.35
HEADING_WEIGHT = 0.5  # share of its heading's better match a sentence inherits (FAQ entries)
# For the top hit, shrinking to 0 over the hits read. 0.2 was tried: the first citation in the asked
# section rose 56% -> 59% on 150 PostgreSQL questions, but on the full benchmark grounding did not move
# and the answerer refused fewer out-of-domain questions (chat refusals 80% -> 75%): kept at 0.04.
RANK_BONUS = 0.04
PASSAGE_SEARCH_WEIGHT = 2.0  # the hit's search score's share in choosing the passage the answer quotes
SECOND_PASSAGE_MARGIN = 0.15  # a second passage is quoted (one statement) when this close to the best


@dataclass
class Unit:
    kind: str  # "sentence", "item", "row" (of a table, labelled by its header) or "code"
    text: str  # code: the whole fenced block, fences included
    ref: int  # the hit's number (1-based), the citation marker
    block: int  # paragraph, list or code block in its hit; sentences of one paragraph share it
    heading: str = ""  # the section it is in (a heading line of the chunk, else the chunk's heading path)


def _clean(text: str) -> str:
    """Inline reST left in stored text: roles to their text, ``literal`` to `literal`, "::" to ":"."""

    def role(match: re.Match) -> str:
        inner = re.sub(r"\s*<[^>]*>$", "", match.group(1)).strip() or match.group(1)
        return inner.lstrip("~").rsplit(".", 1)[-1] if inner.startswith("~") else inner

    text = ROLE.sub(lambda m: f"`{role(m)}`", text)
    text = REFERENCE.sub(r"\1", text)
    text = LABEL.sub("", text.strip()).replace("``", "`")
    return re.sub(r"(?<=\S)::$", ":", text.strip())


def text_units(text: str, ref: int, heading: str = "") -> list[Unit]:
    """A chunk's text as units in document order; heading lines and markup-only lines are left out
    (a heading becomes the `heading` of the units after it)."""
    units: list[Unit] = []
    paragraph: list[str] = []
    block = 0
    lines = text.split("\n")

    def flush():
        nonlocal block
        if paragraph and paragraph[0].lstrip().startswith(PROMPTS):
            code = textwrap.dedent("\n".join(line.rstrip() for line in paragraph))
            units.append(Unit("code", f"```\n{code}\n```", ref, block, heading))
            paragraph.clear()
            block += 1
        elif paragraph:
            for sentence in split_sentences(_clean(" ".join(line.strip() for line in paragraph))):
                units.append(Unit("sentence", sentence, ref, block, heading))
            paragraph.clear()
            block += 1

    index = 0
    while index < len(lines):
        line = lines[index]
        fence = FENCE.match(line)
        if fence and fence.group(1)[0] == "~" and paragraph:
            fence = None  # "~~~~~" right under a line of text is a reST heading underline, not a fence
        if fence:
            flush()
            marker = fence.group(1)
            code = [line.strip()]
            index += 1
            while index < len(lines) and not lines[index].strip().startswith(marker[0] * len(marker)):
                code.append(lines[index].rstrip())
                index += 1
            code.append(marker)  # the closing fence (added when the chunk ends inside the code)
            if any(c.strip() for c in code[1:-1]):
                units.append(Unit("code", "\n".join(code), ref, block, heading))
                block += 1
        elif HEADING_LINE.match(line):
            flush()
            heading = _clean(line.strip().lstrip("#"))
        elif not line.strip() or DIRECTIVE.match(line):
            flush()
        elif UNDERLINE.match(line):
            title = paragraph.pop() if paragraph else ""  # a reST heading: its title came just before
            flush()
            heading = _clean(title) or heading
        elif (rows := _table_rows(lines, index)) is not None:
            flush()
            index = rows[0]
            units.extend(_row_units(rows[1], ref, block, heading))
            block += 1
        elif LIST_ITEM.match(line):
            flush()
            item = _clean(line)
            while index + 1 < len(lines) and lines[index + 1].startswith((" ", "\t")) and lines[index + 1].strip():
                if LIST_ITEM.match(lines[index + 1]) or FENCE.match(lines[index + 1]):
                    break
                index += 1
                item += " " + _clean(lines[index])
            units.append(Unit("item", item, ref, block, heading))
            following = index + 1
            if following < len(lines) and not lines[following].strip():
                following += 1  # the parsers store list items as paragraphs: one blank line apart, one list
            if following >= len(lines) or _marker_kind(lines[following]) != _marker_kind(line):
                block += 1  # the list ends (a bulleted list right before a numbered one is another list)
        else:
            paragraph.append(line)
        index += 1
    flush()
    return units


def _marker_kind(line: str) -> str | None:
    """ "bullet" or "number" for a list item's line, None for any other line."""
    match = LIST_ITEM.match(line)
    if match is None:
        return None
    return "number" if match.group(0).strip()[:1].isdigit() else "bullet"


TABLE_CELLS = 12  # a line of more " | " cells than this is not read as a table row
TABLE_ROW_CHARS = 400


def _cells(line: str) -> list[str] | None:
    """The cells of a table row as the parsers store one ("cell | cell"), else None."""
    if " | " not in line or len(line) > TABLE_ROW_CHARS or LIST_ITEM.match(line) or FENCE.match(line):
        return None
    cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
    return cells if 2 <= len(cells) <= TABLE_CELLS else None


def _table_rows(lines: list[str], index: int) -> tuple[int, list[list[str]]] | None:
    """(the index of its last line, its rows) of a table starting at `index`: two rows or more, one blank line apart
    at most (the parsers store a row a paragraph); None when the line starts no such table (a lone "a | b" line
    stays prose)."""
    first = _cells(lines[index])
    if first is None:
        return None
    rows, last = [first], index
    while True:
        following = last + 1
        if following < len(lines) and not lines[following].strip():
            following += 1
        row = _cells(lines[following]) if following < len(lines) else None
        if row is None:
            break
        rows.append(row)
        last = following
    return (last, rows) if len(rows) >= 2 else None


def _row_units(rows: list[list[str]], ref: int, block: int, heading: str) -> list[Unit]:
    """A table's data rows as quotable units, each labelled with the header row's cells ("- Model: W200, Weight:
    5 kg"): the first row is the header. A row whose cells do not line up with it reads as its cells."""
    header, units = rows[0], []
    for row in rows[1:]:
        if len(row) == len(header) and all(header):
            text = ", ".join(f"{label}: {cell}" for label, cell in zip(header, row, strict=True) if cell)
        else:
            text = " | ".join(row)
        units.append(Unit("row", f"- {_clean(text)}", ref, block, heading))
    return units


def _words(text: str) -> int:
    return len(WORD.findall(text))


def _statement(unit: Unit) -> bool:
    """A unit that may be quoted on its own: a whole sentence (capital start, final punctuation, a few
    words, balanced backticks) or a list item of a few words; never a fragment."""
    text = unit.text
    if unit.kind == "code" or len(text) > 600 or text.count("`") % 2:
        return False
    if unit.kind == "row":
        return ":" in text  # a data row labelled by its header
    if unit.kind == "item":
        return _words(text) >= 4 and bool(STATEMENT_END.search(text))  # not a table-of-contents line
    return _words(text) >= 4 and _statement_start(text) and bool(STATEMENT_END.search(text))


def _statement_start(text: str) -> bool:
    """`text` starts as a sentence does: a capital letter ("The", "À", "Über") or a digit, after an opener."""
    first = text[STATEMENT_OPENER.match(text).end() :][:1]
    return first.isupper() or "0" <= first <= "9"


def _stem(term: str) -> str:
    for suffix, replacement in (("ies", "y"), ("ing", ""), ("ed", ""), ("s", "")):
        if len(term) > len(suffix) + 3 and term.endswith(suffix) and not term.endswith("ss"):
            return term[: -len(suffix)] + replacement
    return term


def content_terms(text: str) -> set[str]:
    return {_stem(t) for t in (m.lower() for m in TERM.findall(text)) if t not in STOP_WORDS and len(t) > 1}


def term_sets(texts: list[str], config: str) -> list[set[str]]:
    """The content terms of each text as text-search configuration `config` reads it. `english`: `content_terms`,
    read here (identifiers such as "snake_case" and "c++" stay whole, which PostgreSQL's parser splits; the
    grounding figures were measured with it). Any other: its lexemes, the language's own stemmer and stop list
    (`languages.lexemes`), as the search reads it: English's stop words and suffixes left "de", "des", "und",
    "der" as content terms and "répertoires" apart from "répertoire"."""
    if config == "english":
        return [content_terms(text) for text in texts]
    return [{term for term in terms if len(term) > 1} for terms in languages.lexemes(texts, config)]


def _lexical_in_configs(subject: str, units: list[Unit], texts: list[str], configs: list[str]) -> np.ndarray:
    """`_lexical` of each unit, the question and the unit read with the unit's configuration (`configs`, the
    search_config of the chunk it comes from), as the search compares them: one group per configuration (a bot
    in one language has one), the question without that configuration's question words."""
    lexical = np.zeros(len(units), dtype=np.float32)
    for config in sorted(set(configs)):
        members = [i for i, unit_config in enumerate(configs) if unit_config == config]
        headings = sorted({units[i].heading for i in members if units[i].heading})
        read = term_sets(
            [languages.without_question_words(subject, config), *(texts[i] for i in members), *headings], config
        )
        heading_terms = dict(zip(headings, read[1 + len(members) :], strict=True))
        lexical[members] = _lexical(
            read[0],
            [
                terms | heading_terms.get(units[i].heading, set())
                for terms, i in zip(read[1 : 1 + len(members)], members, strict=True)
            ],
        )
    return lexical


def _lexical(question_terms: set[str], unit_terms: list[set[str]]) -> np.ndarray:
    """IDF-weighted share of the question's content terms in each unit (weights from the units read):
    a term found nowhere weighs most, so a question about something else scores near zero."""
    if not question_terms or not unit_terms:
        return np.zeros(len(unit_terms), dtype=np.float32)
    n = len(unit_terms)
    weights = {t: np.log(1 + n / (1 + sum(t in terms for terms in unit_terms))) for t in question_terms}
    total = sum(weights.values())
    return np.array([sum(w for t, w in weights.items() if t in terms) / total for terms in unit_terms], np.float32)


def _cite(text: str, ref: int) -> str:
    """`text [ref].`: the marker goes before the final punctuation."""
    end = END_PUNCTUATION.search(text)
    body, stop = (text[: end.start()], end.group(0)) if end else (text, "")
    return f"{body.rstrip()} [{ref}]{stop}"


def _citation(ref: int, hit: SearchHit, support: float) -> dict:
    return {
        "ref": ref,
        "chunk_id": hit.chunk_id,
        "document_id": hit.document_id,
        "title": hit.document_title,
        "url": hit.document_url,
        "page": hit.page,
        "heading_path": hit.heading_path,
        "snippet": hit.snippet,
        "score": hit.score,
        "support": round(support, 4),
    }


@dataclass
class Scored:
    """The units of the hits read, each scored against the question (see `offline_answer`)."""

    units: list[Unit]
    scores: np.ndarray  # relevance per unit
    vectors: np.ndarray  # the units' embeddings (what each was compared as)
    semantic: np.ndarray  # cosine(unit, question)


def score_units(
    question: str, read: list[SearchHit], question_vector: np.ndarray, language: str = "en"
) -> Scored | None:
    """Cut the hits into units and score each: cosine similarity to the question (lifted towards its
    section heading's when that matches better) + LEXICAL_WEIGHT x the IDF-weighted share of the
    question's content terms in the unit or its heading + a small bonus for the better-ranked hits. The
    content terms are those of the question's subject without the question words ("comment", "warum":
    `languages.without_question_words`), read as the search reads them: in each chunk's text-search configuration
    (`term_sets`), or the reply `language`'s for a hit that does not say."""
    units = [
        unit
        for ref, hit in enumerate(read, start=1)
        for unit in text_units(hit.text, ref, hit.heading_path[-1] if hit.heading_path else "")
    ]
    if not units:
        return None
    texts = [_scored_text(units, i) for i in range(len(units))]
    headings = sorted({unit.heading for unit in units if unit.heading})
    encoded = get_embedder().encode(texts + headings)
    vectors, heading_similarity = (
        encoded[: len(texts)],
        dict(zip(headings, encoded[len(texts) :] @ question_vector, strict=True)),
    )
    semantic = vectors @ question_vector
    context = np.array([heading_similarity.get(unit.heading, 0.0) for unit in units], dtype=np.float32)
    reply_config = languages.search_config(language)
    configs = [read[unit.ref - 1].search_config or reply_config for unit in units]
    lexical = _lexical_in_configs(languages.question_subject(question), units, texts, configs)
    bonus = np.array([RANK_BONUS * (1 - (u.ref - 1) / len(read)) for u in units], dtype=np.float32)
    # A sentence under a heading that matches the question better than itself (a FAQ entry's question)
    # inherits part of that match; a heading that matches worse takes nothing away.
    lifted = semantic + HEADING_WEIGHT * np.maximum(context - semantic, 0)
    return Scored(units, lifted + LEXICAL_WEIGHT * lexical + bonus, vectors, semantic)


def passage_scores(scored: Scored, read: list[SearchHit]) -> np.ndarray:
    """How well each hit read answers the question: the mean of its two best quotable units plus
    PASSAGE_SEARCH_WEIGHT x its search score (the whole chunk's match, dense and lexical, which one
    sentence does not see)."""
    per_hit: list[list[float]] = [[] for _ in read]
    for i, unit in enumerate(scored.units):
        if unit.kind == "code" or _statement(unit) or unit.text.endswith(":"):
            per_hit[unit.ref - 1].append(float(scored.scores[i]))
    support = [np.mean(sorted(values)[-2:]) if values else -np.inf for values in per_hit]
    return np.array(support, dtype=np.float32) + PASSAGE_SEARCH_WEIGHT * np.array([h.score for h in read], np.float32)


def _continued(refs: set[int], read: list[SearchHit]) -> set[int]:
    """`refs` and the hits read that continue them: the same document and heading path, at the next or
    previous position (a section cut into several chunks)."""
    refs, grown = set(refs), True
    while grown:
        grown = False
        for ref, hit in enumerate(read, start=1):
            if ref not in refs and any(
                hit.document_id == read[other - 1].document_id
                and hit.heading_path == read[other - 1].heading_path
                and abs(hit.position - read[other - 1].position) == 1
                for other in refs
            ):
                refs.add(ref)
                grown = True
    return refs


def passages(scored: Scored, read: list[SearchHit]) -> list[set[int]]:
    """The passages the answer may quote, best first, each a set of refs (a hit and the hits that
    continue it): the best passage (`passage_scores`), and the next best when it is within
    SECOND_PASSAGE_MARGIN of it (the answer is in one or the other)."""
    scores = passage_scores(scored, read)
    order = [int(i) for i in np.argsort(-scores, kind="stable") if np.isfinite(scores[i])]
    if not order:
        return []
    groups = [_continued({order[0] + 1}, read)]
    second = next((i for i in order[1:] if i + 1 not in groups[0]), None)
    if second is not None and scores[second] >= scores[order[0]] - SECOND_PASSAGE_MARGIN:
        groups.append(_continued({second + 1}, read) - groups[0])
    return groups


def offline_answer(
    *,
    question: str,
    hits: list[SearchHit],
    question_vector: np.ndarray | None = None,
    chunk_vectors: dict[int, np.ndarray] | None = None,
    max_sentences: int = 3,
    language: str = "en",
) -> Answer | None:
    """An extractive answer: the sentences of the top hits that answer the question, each cited, with
    the code block or list a chosen sentence introduces (whole). None when no unit reaches
    ANSWER_MIN_SUPPORT: nothing it would say is supported, and the turn becomes a refusal.

    A unit's relevance: `score_units`.
    """
    read = hits[:OFFLINE_HITS]
    embedder = get_embedder()
    if question_vector is None:
        question_vector = embedder.encode([question])[0]
    scored = score_units(question, read, question_vector, language)
    if scored is None:
        return None
    units, scores, vectors, semantic = scored.units, scored.scores, scored.vectors, scored.semantic
    # The answer comes from the best supported passage (with the chunks that continue it in its section),
    # and one statement of the next best when that is nearly as good: quoting the best sentences of four
    # hits mixed sections and cited passages that do not answer.
    groups = passages(scored, read)
    chosen: set[int] = set()
    for n, group in enumerate(groups):
        quotable = np.where([unit.ref in group for unit in units], scores, -np.inf).astype(np.float32)
        budget = max_sentences - (len(groups) - 1) if n == 0 else 1
        chosen |= _choose(units, quotable, bar=settings.ANSWER_MIN_SUPPORT, max_sentences=budget, quoted=chosen)
    if not chosen:
        logger.info(
            "offline answer refused: no quotable unit reaches %.3f (best unit, quotable or not: %.3f)",
            settings.ANSWER_MIN_SUPPORT,
            float(scores.max()),
        )
        return None
    # What the answer says itself (a label of a quoted code block) is in the bot's language (`language`).
    source = languages.message(language, "source")
    labels = {ref: " > ".join(hit.heading_path) or hit.document_title or source for ref, hit in enumerate(read, 1)}
    content = _render(units, chosen, scores, labels, groups)
    # Support, as for a model's answer: each quoted unit's similarity to its whole chunk (quoted verbatim,
    # so it is kept whatever the figure; the figure says how central the sentence is to its passage).
    support: dict[int, float] = {}
    for i in chosen:
        vector = (chunk_vectors or {}).get(read[units[i].ref - 1].chunk_id)
        similarity = float(vectors[i] @ vector) if vector is not None else float(semantic[i])
        support[units[i].ref] = max(support.get(units[i].ref, -1.0), similarity)
    citations = [_citation(ref, read[ref - 1], support[ref]) for ref in sorted(support)]
    return Answer(
        content=content,
        citations=citations,
        model=OFFLINE_MODEL,
        completion_tokens=sum(embedder.count_tokens([content])),
    )


def _code_body(block: str) -> str:
    return "\n".join(block.split("\n")[1:-1])


def _follower(units: list[Unit], i: int) -> list[int]:
    """The code block or list right after unit i, when i ends its paragraph (else [])."""
    unit = units[i]
    if i + 1 < len(units) and units[i + 1].ref == unit.ref and units[i + 1].block == unit.block:
        return []  # not the last sentence of its paragraph
    after = [j for j in range(i + 1, len(units)) if units[j].ref == unit.ref and units[j].block == unit.block + 1]
    if after and units[after[0]].kind == "code":
        return after[:1]
    if after and units[after[0]].kind in ("item", "row"):
        return after[:OFFLINE_MAX_ITEMS]
    return []


def _scored_text(units: list[Unit], i: int) -> str:
    """What unit i is compared with the question as: a sentence ending with ":" means what follows it."""
    unit = units[i]
    if unit.kind == "code":
        return _code_body(unit.text)
    if unit.text.endswith(":"):
        after = _follower(units, i)
        return "\n".join(
            [unit.text] + [_code_body(units[j].text) if units[j].kind == "code" else units[j].text for j in after]
        )
    return unit.text


def _choose(
    units: list[Unit], scores: np.ndarray, *, bar: float, max_sentences: int, quoted: set[int] | None = None
) -> set[int]:
    """Indices of the units to quote: the best statement (or code block) above `bar`, the next best
    within OFFLINE_MARGIN of it (up to `max_sentences` statements), and what each one needs: a sentence
    ending with ":" its code block or list, a code block its introducing sentence. A unit whose words are
    those of one chosen already, here or in `quoted` (a passage before), is not quoted again."""
    quoted = quoted or set()
    chosen: set[int] = set()

    def intro(i: int) -> int | None:
        """The sentence that introduces code block i: the last sentence of the paragraph before it."""
        j = i - 1
        if j < 0 or units[j].ref != units[i].ref or units[j].kind != "sentence":
            return None
        if units[j].block == units[i].block - 1 and (_statement(units[j]) or units[j].text.endswith(":")):
            return j
        return None

    def take(i: int, *, best: bool) -> bool:
        unit = units[i]
        if _normalized(_scored_text(units, i)) in {_normalized(_scored_text(units, j)) for j in chosen | quoted}:
            return False  # the same words in another document (an FAQ entry kept in two files): quoted once
        if unit.kind == "code":
            j = intro(i)
            if j is None and not best:
                return False
            chosen.update({i} | ({j} if j is not None else set()))
            return True
        if not _statement(unit) and not (unit.text.endswith(":") and _words(unit.text) >= 2):
            return False
        after = _follower(units, i)
        if unit.text.endswith(":"):
            if not after:
                return False  # a dangling ":" whose code or list is not in this chunk
            chosen.update([i, *after])
            return True
        chosen.add(i)
        if after and units[after[0]].kind == "code" and scores[after[0]] >= bar:
            chosen.add(after[0])
        return True

    best_score = None
    statements = 0
    for i in np.argsort(-scores, kind="stable").tolist():
        if scores[i] < bar or (best_score is not None and scores[i] < best_score - OFFLINE_MARGIN):
            break
        if i in chosen or not take(i, best=best_score is None):
            continue
        statements += 1
        if best_score is None:
            best_score = float(scores[i])
            nxt = i + 1  # a sentence that continues the best one comes along
            if (
                nxt < len(units)
                and units[nxt].kind == "sentence"
                and units[nxt].ref == units[i].ref
                and units[nxt].block == units[i].block
                and CONTINUATION.match(units[nxt].text)
                and scores[nxt] >= bar - OFFLINE_MARGIN
                and nxt not in chosen
                and take(nxt, best=False)
            ):
                statements += 1
        if statements >= max_sentences:
            break
    return chosen


def _render(
    units: list[Unit], chosen: set[int], scores: np.ndarray, labels: dict[int, str], groups: list[set[int]]
) -> str:
    """The chosen units, passage by passage (`groups`, best first; within one the best hit's first),
    each hit's in document order: sentences of a paragraph on one line, list items one a line, code
    blocks whole; every sentence and item cited. A code block quoted without its introducing sentence
    gets a cited label line (its section or title)."""
    best_of_ref: dict[int, float] = {}
    for i in chosen:
        best_of_ref[units[i].ref] = max(best_of_ref.get(units[i].ref, -9.0), float(scores[i]))
    blocks: list[str] = []
    group_of = {ref: n for n, group in enumerate(groups) for ref in group}
    for ref in sorted(best_of_ref, key=lambda r: (group_of.get(r, len(groups)), -best_of_ref[r])):
        current: list[Unit] = []
        for i in sorted(i for i in chosen if units[i].ref == ref):
            unit = units[i]
            if current and (current[-1].block != unit.block or current[-1].kind != unit.kind):
                blocks.append(_render_block(current))
                current = []
            if unit.kind == "code" and (i - 1 not in chosen or units[i - 1].block != unit.block - 1):
                blocks.append(_cite(labels[ref] + ":", ref))
            current.append(unit)
        if current:
            blocks.append(_render_block(current))
    return "\n\n".join(blocks)


def _render_block(units: list[Unit]) -> str:
    if units[0].kind == "code":
        return units[0].text
    if units[0].kind in ("item", "row"):
        return "\n".join(_cite(unit.text.strip(), unit.ref) for unit in units)
    return " ".join(_cite(unit.text, unit.ref) for unit in units)


# --------------------------------------------------------------------------- citations


def _refs(marker_groups: list[str]) -> list[int]:
    return [int(n) for group in marker_groups for n in re.split(r"\s*,\s*", group)]


class Checked(NamedTuple):
    content: str  # the answer with unsupported markers removed (line breaks and code blocks kept)
    citations: list[dict]  # the sources still cited
    supported: bool  # at least one claim (a sentence of a few words, or a code block) is supported by a source


def _claim(sentence: str) -> bool:
    """A sentence that states something: not "Here is how:", "Sure!" or a heading-like fragment."""
    return len(re.findall(r"\w+", sentence)) >= 3 and not sentence.rstrip().endswith(":")


def _normalized(text: str) -> str:
    return " ".join(text.split())


def check_citations(*, content: str, hits: list[SearchHit], chunk_vectors: dict[int, np.ndarray]) -> Checked:
    """Ground a model's answer in the sources. Each prose sentence is compared with every source
    (embedding similarity, CITATION_MIN_SIMILARITY): a [n] stays only where source n supports its
    sentence; numbers that are not sources disappear. Fenced code blocks are kept verbatim and checked
    whole (supported when the code appears in a source or is similar enough to one). `supported` is
    False when no claim of the answer is supported by any source: the caller refuses instead."""
    lines = content.split("\n")
    per_line: list[list[str] | None] = []  # None: a code line (or fence), kept as is
    code_blocks: list[str] = []
    in_fence: str | None = None
    for line in lines:
        fence = FENCE.match(line)
        if in_fence is None and fence:
            in_fence, code = fence.group(1), []
            per_line.append(None)
        elif in_fence is not None:
            if line.strip().startswith(in_fence[0] * len(in_fence)):
                in_fence = None
                code_blocks.append("\n".join(code))
            else:
                code.append(line)
            per_line.append(None)
        else:
            # "... days. [1] Next" -> "... days [1]. Next": a marker after the full stop belongs to that sentence.
            line = MARKERS_AFTER_STOP.sub(r"\2\1", line)
            per_line.append(split_sentences(line) if line.strip() else [])
    if in_fence is not None and code:
        code_blocks.append("\n".join(code))
    sentences = [sentence for line in per_line if line for sentence in line]
    plain = [CITATION.sub("", sentence).strip() for sentence in sentences]
    cited = [_refs(CITATION.findall(sentence)) for sentence in sentences]
    code_blocks = [block for block in code_blocks if block.strip()]
    if not sentences and not code_blocks:
        return Checked(content, [], False)

    sources = [(ref, chunk_vectors[hit.chunk_id]) for ref, hit in enumerate(hits, 1) if hit.chunk_id in chunk_vectors]
    vectors = get_embedder().encode([p or " " for p in plain] + code_blocks)
    matrix = np.stack([vector for _, vector in sources]) if sources else np.zeros((0, vectors.shape[1]), np.float32)
    similarity = vectors @ matrix.T  # (sentences + code blocks) x sources
    column = {ref: index for index, (ref, _) in enumerate(sources)}
    threshold = settings.CITATION_MIN_SIMILARITY
    best = similarity.max(axis=1) if sources else np.zeros(len(vectors), np.float32)

    supported = any(_claim(text) and best[i] >= threshold for i, text in enumerate(plain))
    sources_text = [_normalized(hit.text) for hit in hits]
    for index, block in enumerate(code_blocks, start=len(plain)):
        if best[index] >= threshold or any(_normalized(block) in text for text in sources_text):
            supported = True

    support: dict[int, float] = {}
    rebuilt_sentences = []
    for i, (sentence, text, refs) in enumerate(zip(sentences, plain, cited, strict=True)):
        if not refs:
            rebuilt_sentences.append(sentence)
            continue
        keep = []
        for ref in dict.fromkeys(refs):
            if ref in column and similarity[i, column[ref]] >= threshold:
                keep.append(ref)
                support[ref] = max(support.get(ref, 0.0), float(similarity[i, column[ref]]))
        trailing = re.search(r"[.!?…]$", text)
        body = text[:-1] if trailing else text
        marks = "".join(f" [{ref}]" for ref in keep)
        rebuilt_sentences.append(f"{body}{marks}{trailing.group(0) if trailing else ''}".strip())
    rebuilt_lines, index = [], 0
    for line, line_sentences in zip(lines, per_line, strict=True):
        if not line_sentences:
            rebuilt_lines.append(line)
            continue
        indent = line[: len(line) - len(line.lstrip())]
        rebuilt_lines.append(indent + " ".join(rebuilt_sentences[index : index + len(line_sentences)]))
        index += len(line_sentences)
    citations = [_citation(ref, hits[ref - 1], support[ref]) for ref in sorted(support)]
    return Checked("\n".join(rebuilt_lines), citations, supported)


STRICT_NOTE = "Strict grounding: the passages found do not hold these terms of the question, which the documents do: "
TERMS_NOTE = "Term check: the passages found do not hold these terms of the question, which the documents do: "


def missing_terms_allowed(bot) -> int | None:
    """How many of a question's terms its documents hold may be missing from the passages read: none with strict
    grounding, GROUNDING_MISSING_TERMS_ALLOWED otherwise (None: no check)."""
    if bot.strict_grounding:
        return 0
    allowed = settings.GROUNDING_MISSING_TERMS_ALLOWED
    return None if allowed < 0 else allowed


def strict_refusal(*, bot, question: str, hits: list[SearchHit]) -> str:
    """Why `question` is refused although passages were found (docs/refusal.md#the-term-check): more of its terms
    that the bot's documents hold somewhere are missing from the passages the answer would be written from (the
    offline answerer reads the first OFFLINE_HITS hits, a language model all of them) than `missing_terms_allowed`
    lets through: a question about something else that found passages on the same subject. The note (STRICT_NOTE
    or TERMS_NOTE and the missing terms) is for owners; "" when the question passes. Turns and evaluation runs both
    decide with this."""
    allowed = missing_terms_allowed(bot)
    if not hits or allowed is None:
        return ""
    read = hits if llm_enabled() else hits[:OFFLINE_HITS]
    missing = chunk_terms_missing(bot=bot, question=question, hits=read)
    if len(missing) <= allowed:
        return ""
    return (STRICT_NOTE if bot.strict_grounding else TERMS_NOTE) + ", ".join(missing)
