"""Structure-aware chunking measured in the embedding model's own tokens.

Sections (same heading path) are never mixed in one chunk. Inside a section, paragraphs are kept
whole when they fit; longer ones are split into sentences, and an overlong sentence into word
runs. Chunks are packed up to `max_tokens` (minus the heading path, which is embedded with the
chunk) and overlap by whole trailing sentences of up to `overlap_tokens`. The final text of every
chunk is measured again, so no chunk passes the model's input limit.
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
        words = draft.text.split()
        if len(words) > 1:
            half = len(words) // 2
            halves = [" ".join(words[:half]), " ".join(words[half:])]
        else:  # no spaces to split on (CJK text, a long URL): split the characters
            half = len(draft.text) // 2
            halves = [draft.text[:half], draft.text[half:]]
        pieces = [
            ChunkDraft(text, draft.heading_path, draft.page, draft.char_start, draft.char_end, 0)
            for text in halves
            if text
        ]
        result += _enforce_limit(pieces, count_tokens, model_limit)
    return result
