"""Structure-aware chunking measured in the embedding model's own tokens.

Sections (same heading path) are never mixed in one chunk. Inside a section, paragraphs are kept
whole when they fit; longer ones are split into sentences, and an overlong sentence into word
runs. Chunks are packed up to `max_tokens` (minus the heading path, which is embedded with the
chunk) and overlap by whole trailing sentences of up to `overlap_tokens`. The final text of every
chunk is measured again, so no chunk passes the model's input limit.

Code blocks (`Block.code`, a Markdown fence, see apps.documents.extraction) are never split into
sentences nor joined with spaces: one fits whole in a chunk, or is split on line boundaries into
several blocks, each fenced again with the same opening line. A chunk that is still too long is
halved between paragraphs and code blocks first, a lone code block between its lines.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass

from apps.documents.extraction import Block
from apps.documents.models import chunk_embed_text

# Whitespace after a sentence end (., !, ?, …), which may be followed by one closing quote or bracket;
# the punctuation and the closing character stay with their sentence.
SENTENCE_END = re.compile(r"(?:(?<=[.!?…])|(?<=[.!?…][\"'\u2019\u201d)\]]))\s+")


HEADING_MAX = 300


@dataclass
class ChunkDraft:
    text: str
    heading_path: tuple[str, ...]
    page: int | None
    char_start: int
    char_end: int
    token_count: int

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(chunk_embed_text(self.heading_path, self.text).encode()).hexdigest()


@dataclass
class _Unit:
    text: str
    tokens: int
    page: int | None
    start: int
    end: int
    paragraph_start: bool


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in SENTENCE_END.split(text) if s and s.strip()]


def _sections(blocks: list[Block]) -> list[list[tuple[Block, int, int]]]:
    """Group consecutive blocks by heading path; attach each block's offsets in the joined text."""
    sections: list[list[tuple[Block, int, int]]] = []
    offset = 0
    previous = None
    for block in blocks:
        start, end = offset, offset + len(block.text)
        offset = end + 2  # blocks are joined with a blank line
        if previous is None or block.heading_path != previous:
            sections.append([])
        sections[-1].append((block, start, end))
        previous = block.heading_path
    return sections


def chunk_blocks(
    blocks: list[Block],
    *,
    count_tokens: Callable[[list[str]], list[int]],
    max_tokens: int,
    overlap_tokens: int,
    model_limit: int,
) -> list[ChunkDraft]:
    max_tokens = min(max_tokens, model_limit)
    overlap_tokens = min(overlap_tokens, max_tokens // 4)
    drafts: list[ChunkDraft] = []
    for section in _sections(blocks):
        # Stored headings hold 300 characters; cut here so the hash matches what is stored.
        heading_path = tuple(heading[:HEADING_MAX] for heading in section[0][0].heading_path)
        heading_tokens = count_tokens([" > ".join(heading_path) + "\n\n"])[0] if heading_path else 0
        budget = max(16, max_tokens - heading_tokens)
        units = _units(section, count_tokens, budget)
        drafts += _pack(units, heading_path, budget, overlap_tokens)
    return _enforce_limit(drafts, count_tokens, model_limit)


def _units(section, count_tokens, budget: int) -> list[_Unit]:
    """Paragraphs that fit, else their sentences, else word runs of an overlong sentence."""
    paragraph_tokens = count_tokens([block.text for block, _, _ in section])
    units: list[_Unit] = []
    for (block, start, end), tokens in zip(section, paragraph_tokens, strict=True):
        if tokens <= budget:
            units.append(_Unit(block.text, tokens, block.page, start, end, True))
            continue
        if block.code and _fenced(block.text):
            for piece, piece_tokens, piece_start, piece_end in _code_runs(block.text, count_tokens, budget):
                units.append(_Unit(piece, piece_tokens, block.page, start + piece_start, start + piece_end, True))
            continue
        sentences = split_sentences(block.text)
        sentence_tokens = count_tokens(sentences)
        cursor = start
        first = True
        for sentence, count in zip(sentences, sentence_tokens, strict=True):
            position = block.text.find(sentence, cursor - start)
            s_start = start + (position if position >= 0 else cursor - start)
            pieces = [(sentence, count)] if count <= budget else _word_runs(sentence, count_tokens, budget)
            for piece, piece_tokens in pieces:
                units.append(_Unit(piece, piece_tokens, block.page, s_start, s_start + len(piece), first))
                first = False
                s_start += len(piece) + 1
            cursor = s_start
    return units


def _word_runs(sentence: str, count_tokens, budget: int) -> list[tuple[str, int]]:
    words = sentence.split()
    word_tokens = count_tokens(words)
    runs, current, current_tokens = [], [], 0
    for word, tokens in zip(words, word_tokens, strict=True):
        if current and current_tokens + tokens > budget:
            runs.append(" ".join(current))
            current, current_tokens = [], 0
        current.append(word)
        current_tokens += tokens
    if current:
        runs.append(" ".join(current))
    return list(zip(runs, count_tokens(runs), strict=True))


def _fenced(text: str) -> bool:
    lines = text.split("\n")
    return len(lines) >= 3 and lines[0].startswith("```") and lines[-1] == lines[0][: len(lines[-1])] != ""


def _code_runs(text: str, count_tokens, budget: int) -> list[tuple[str, int, int, int]]:
    """A fenced block too long for one chunk: runs of whole lines, each fenced with the block's own fence
    lines. (text, tokens, start, end), start and end being the run's lines within `text`. A single line
    longer than the budget stays one run; `_enforce_limit` cuts it if the model could not read it."""
    lines = text.split("\n")
    opening, body, closing = lines[0], lines[1:-1], lines[-1]
    room = max(1, budget - count_tokens([f"{opening}\n{closing}"])[0])
    offsets, position = [], len(opening) + 1
    for line in body:
        offsets.append(position)
        position += len(line) + 1
    runs: list[list[int]] = []
    current: list[int] = []
    current_tokens = 0
    for index, tokens in enumerate(count_tokens(body)):
        if current and current_tokens + tokens > room:
            runs.append(current)
            current, current_tokens = [], 0
        current.append(index)
        current_tokens += tokens
    runs.append(current)
    pieces: list[tuple[str, int, int]] = []
    for run in runs:
        kept = [index for index in run if body[index].strip()]
        if kept:  # blank lines at a run's ends are dropped
            first, last = kept[0], kept[-1]
            code = "\n".join(body[first : last + 1])
            pieces.append((f"{opening}\n{code}\n{closing}", offsets[first], offsets[last] + len(body[last])))
    counted = count_tokens([piece for piece, _, _ in pieces])
    return [(piece, tokens, start, end) for (piece, start, end), tokens in zip(pieces, counted, strict=True)]


def _halves(text: str) -> list[str]:
    """Two halves of a chunk's text: between its paragraphs and fenced blocks when it has several, between
    the lines of a lone fenced block (each half fenced again), else between words (characters, for text
    without spaces)."""
    segments = _segments(text)
    if len(segments) > 1:
        half = len(segments) // 2
        return ["\n\n".join(segments[:half]), "\n\n".join(segments[half:])]
    if _fenced(text):
        lines = text.split("\n")
        opening, body, closing = lines[0], lines[1:-1], lines[-1]
        if len(body) > 1:
            half = len(body) // 2
            return [f"{opening}\n{chr(10).join(part)}\n{closing}" for part in (body[:half], body[half:])]
        middle = len(body[0]) // 2
        return [f"{opening}\n{part}\n{closing}" for part in (body[0][:middle], body[0][middle:]) if part.strip()]
    words = text.split()
    if len(words) > 1:
        half = len(words) // 2
        return [" ".join(words[:half]), " ".join(words[half:])]
    half = len(text) // 2  # no spaces to split on (CJK text, a long URL): split the characters
    return [text[:half], text[half:]]


def _segments(text: str) -> list[str]:
    """The paragraphs and fenced code blocks of a chunk's text, in order (blank lines inside code kept)."""
    segments: list[str] = []
    current: list[str] = []
    fence = ""
    for line in text.split("\n"):
        if fence:
            current.append(line)
            if line == fence:
                segments.append("\n".join(current))
                current, fence = [], ""
        elif line.startswith("```"):
            if current:
                segments.append("\n".join(current))
            current, fence = [line], line[: len(line) - len(line.lstrip("`"))]
        elif not line.strip():
            if current:
                segments.append("\n".join(current))
            current = []
        else:
            current.append(line)
    if current:
        segments.append("\n".join(current))
    return segments


def _join(units: list[_Unit]) -> str:
    text = ""
    for index, unit in enumerate(units):
        if index:
            text += "\n\n" if unit.paragraph_start else " "
        text += unit.text
    return text


def _pack(units: list[_Unit], heading_path, budget: int, overlap_tokens: int) -> list[ChunkDraft]:
    drafts: list[ChunkDraft] = []
    current: list[_Unit] = []
    tokens = 0
    fresh = 0  # units in `current` that are not overlap carried from the previous chunk

    def emit():
        drafts.append(
            ChunkDraft(
                text=_join(current),
                heading_path=tuple(heading_path),
                page=current[0].page,
                char_start=current[0].start,
                char_end=current[-1].end,
                token_count=tokens,
            )
        )

    for unit in units:
        if current and tokens + unit.tokens > budget:
            emit()
            carried: list[_Unit] = []
            carried_tokens = 0
            for previous in reversed(current):
                if carried_tokens + previous.tokens > overlap_tokens or len(carried) == len(current) - 1:
                    break
                carried.insert(0, previous)
                carried_tokens += previous.tokens
            if carried_tokens + unit.tokens > budget:
                carried, carried_tokens = [], 0
            current, tokens, fresh = carried, carried_tokens, 0
        current.append(unit)
        tokens += unit.tokens
        fresh += 1
    if current and fresh:
        emit()
    return drafts


def _enforce_limit(drafts: list[ChunkDraft], count_tokens, model_limit: int) -> list[ChunkDraft]:
    """Measure each chunk as embedded (heading path included); split any that would be truncated."""
    if not drafts:
        return drafts
    measured = count_tokens([chunk_embed_text(d.heading_path, d.text) for d in drafts])
    result: list[ChunkDraft] = []
    for draft, tokens in zip(drafts, measured, strict=True):
        if tokens <= model_limit:
            draft.token_count = tokens
            result.append(draft)
            continue
        pieces = [
            ChunkDraft(text, draft.heading_path, draft.page, draft.char_start, draft.char_end, 0)
            for text in _halves(draft.text)
            if text
        ]
        result += _enforce_limit(pieces, count_tokens, model_limit)
    return result
