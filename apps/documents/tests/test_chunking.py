"""Chunking (apps.documents.chunking) measured with the real embedding model's tokenizer.

Coverage:
- the model's input limit: no chunk's embed text (heading path + text, `chunk_embed_text`) passes
  `embedder.max_tokens`, for a single 3000-word sentence, a long paragraph without punctuation, a long heading
  path, and a CHUNK_MAX_TOKENS above the model limit; `token_count` is the embed text's real count;
- sections never mix: every chunk holds sentences of one heading path only;
- overlap: consecutive chunks of one long section share whole sentences (the end of one is the start of the
  next), at most `overlap_tokens` of them; overlap 0 shares nothing;
- a short document gives one chunk per section, equal to its blocks;
- nothing lost: every input sentence (or word of an overlong sentence) appears in some chunk, in order;
- char_start/char_end lie within the blocks' joined text and slice exactly the chunk's text; PDF pages carry over;
- closing quotes/brackets after a sentence end stay with their sentence; text without spaces (Chinese, a long URL)
  longer than the limit is split by characters under the limit.
"""

import itertools
import random

import pytest
from django.conf import settings

from apps.core.embeddings import get_embedder
from apps.documents.chunking import chunk_blocks, split_sentences
from apps.documents.extraction import Block, extract
from apps.documents.models import chunk_embed_text
from apps.documents.tests import samples

OVERLAP = settings.CHUNK_OVERLAP_TOKENS
MAX = settings.CHUNK_MAX_TOKENS


@pytest.fixture(scope="module")
def embedder():
    return get_embedder()


@pytest.fixture
def chunk(embedder):
    def run(blocks, *, max_tokens=MAX, overlap_tokens=OVERLAP):
        return chunk_blocks(
            blocks,
            count_tokens=embedder.count_tokens,
            max_tokens=max_tokens,
            overlap_tokens=overlap_tokens,
            model_limit=embedder.max_tokens,
        )

    return run


def embed_tokens(embedder, drafts) -> list[int]:
    return embedder.count_tokens([chunk_embed_text(d.heading_path, d.text) for d in drafts])


def joined(blocks) -> str:
    """The text that char_start/char_end point into: blocks joined by a blank line."""
    return "\n\n".join(block.text for block in blocks)


def sentence(section: str, number: int) -> str:
    return f"The {section} section sentence number {number} explains one detail of the product."


def paragraph(section: str, count: int) -> str:
    return " ".join(sentence(section, number) for number in range(count))


# --------------------------------------------------------------------------- the model's limit


def test_model_limit_is_the_real_tokenizer_limit(embedder):
    """all-MiniLM-L6-v2 reads 256 tokens, 2 of them special: the chunker's limit is 254."""
    assert embedder.max_tokens == 254
    assert embedder.count_tokens(["refunds are processed"]) == [4]


def test_single_3000_word_sentence_is_split_under_the_limit(embedder, chunk):
    """One sentence of 3000 distinct words: word runs, each within the limit, every word kept once in order."""
    words = [f"word{number}" for number in range(3000)]
    blocks = [Block(" ".join(words) + ".", ("Guide", "Appendix"))]

    drafts = chunk(blocks)

    assert len(drafts) > 10
    counts = embed_tokens(embedder, drafts)
    assert max(counts) <= embedder.max_tokens
    assert [d.token_count for d in drafts] == counts
    assert " ".join(d.text for d in drafts).rstrip(".").split() == words
    assert {d.heading_path for d in drafts} == {("Guide", "Appendix")}


def test_long_paragraph_without_punctuation_is_split_under_the_limit(embedder, chunk):
    """A 2000-word paragraph with no sentence end at all is cut into runs within the limit."""
    rng = random.Random(7)
    vocabulary = [
        "refund",
        "invoice",
        "delivery",
        "parcel",
        "warranty",
        "account",
        "password",
        "billing",
        "support",
        "customer",
    ]
    text = " ".join(rng.choice(vocabulary) for _ in range(2000))
    blocks = [Block("Intro.", ("Notes",)), Block(text, ("Notes",))]

    drafts = chunk(blocks)

    assert max(embed_tokens(embedder, drafts)) <= embedder.max_tokens
    assert " ".join(d.text for d in drafts).replace("\n\n", " ").split() == ["Intro.", *text.split()]


def test_max_tokens_above_the_model_limit_is_capped(embedder, chunk):
    """CHUNK_MAX_TOKENS of 5000 still gives chunks the model reads whole."""
    blocks = [Block(paragraph("alpha", 120), ("Guide",))]

    drafts = chunk(blocks, max_tokens=5000, overlap_tokens=100)

    assert len(drafts) > 1
    assert max(embed_tokens(embedder, drafts)) <= embedder.max_tokens


def test_long_heading_path_leaves_room_for_the_heading(embedder, chunk):
    """A 100-token heading path is embedded with each chunk; text plus heading stays within the limit."""
    heading = tuple(f"Chapter {number} about refunds invoices deliveries and warranties" for number in range(10))
    assert embedder.count_tokens([" > ".join(heading)])[0] > 90
    blocks = [Block(paragraph("bravo", 60), heading)]

    drafts = chunk(blocks)

    assert len(drafts) > 2
    assert max(embed_tokens(embedder, drafts)) <= embedder.max_tokens
    assert all(d.heading_path == heading for d in drafts)


# --------------------------------------------------------------------------- sections and overlap


def test_sections_never_mix(chunk):
    """Each chunk holds sentences of its own heading path only, even when sections are long."""
    sections = {
        ("Guide", "Alpha"): paragraph("alpha", 40),
        ("Guide", "Bravo"): paragraph("bravo", 25),
        ("Guide", "Charlie"): paragraph("charlie", 3),
    }
    blocks = [Block(text, path) for path, text in sections.items()]

    drafts = chunk(blocks)

    assert len(drafts) > len(sections)
    for draft in drafts:
        own = set(split_sentences(sections[draft.heading_path]))
        assert set(split_sentences(draft.text)) <= own, draft
    assert [d.heading_path for d in drafts] == sorted((d.heading_path for d in drafts), key=list(sections).index)


def test_consecutive_chunks_of_a_long_section_overlap_within_the_setting(embedder, chunk):
    """The next chunk starts with the last whole sentences of the previous one, at most overlap_tokens of them."""
    blocks = [Block(paragraph("alpha", 60), ("Guide",))]

    drafts = chunk(blocks)

    assert len(drafts) >= 3
    for previous, following in itertools.pairwise(drafts):
        before, after = split_sentences(previous.text), split_sentences(following.text)
        shared = [s for s in before if s in after]
        assert shared, (previous.text, following.text)
        assert before[-len(shared) :] == shared == after[: len(shared)]
        assert embedder.count_tokens([" ".join(shared)])[0] <= OVERLAP
        assert following.char_start < previous.char_end


def test_overlap_zero_shares_nothing(chunk):
    """With overlap_tokens=0 consecutive chunks share no sentence and their ranges do not overlap."""
    blocks = [Block(paragraph("alpha", 60), ("Guide",))]

    drafts = chunk(blocks, overlap_tokens=0)

    assert len(drafts) >= 3
    for previous, following in itertools.pairwise(drafts):
        assert not set(split_sentences(previous.text)) & set(split_sentences(following.text))
        assert following.char_start > previous.char_end


def test_short_document_gives_one_chunk_per_section(chunk):
    """The sample Markdown guide: three short sections -> three chunks equal to their blocks."""
    blocks = extract("guide.md", samples.md()).blocks

    drafts = chunk(blocks)

    assert [(d.heading_path, d.text) for d in drafts] == [(b.heading_path, b.text) for b in blocks]


def test_short_paragraphs_of_one_section_are_packed_together(chunk):
    """Several short paragraphs under one heading become one chunk, separated by blank lines."""
    blocks = [Block("First point.", ("FAQ",)), Block("Second point.", ("FAQ",)), Block("Third point.", ("FAQ",))]

    drafts = chunk(blocks)

    assert len(drafts) == 1
    assert drafts[0].text == "First point.\n\nSecond point.\n\nThird point."
    assert (drafts[0].char_start, drafts[0].char_end) == (0, len(joined(blocks)))


# --------------------------------------------------------------------------- nothing lost, offsets


def mixed_blocks() -> list[Block]:
    return [
        Block("Welcome to the guide.", ()),
        Block(paragraph("alpha", 35), ("Guide", "Alpha")),
        Block("A short alpha note! Is it clear? Yes: it is.", ("Guide", "Alpha")),
        Block(paragraph("bravo", 20), ("Guide", "Bravo")),
        Block(" ".join(f"token{number}" for number in range(400)), ("Guide", "Bravo")),
        Block("The closing remark.", ("Guide", "Charlie")),
    ]


def test_every_input_sentence_is_in_some_chunk(chunk):
    """No sentence is lost, and sentences keep their order across chunks."""
    blocks = mixed_blocks()

    drafts = chunk(blocks)

    text = "\n".join(d.text for d in drafts)
    expected = [s for block in blocks[:4] + blocks[5:] for s in split_sentences(block.text)]
    for one in expected:
        assert one in text, one
    first_seen = [text.index(one) for one in expected]
    assert first_seen == sorted(first_seen)
    words = [w for d in drafts if d.text.startswith("token") for w in d.text.split()]
    assert words == [f"token{number}" for number in range(400)]


def test_char_offsets_are_within_the_text_and_slice_the_chunk(chunk):
    """0 <= char_start < char_end <= len(text), and text[char_start:char_end] is the chunk's text."""
    blocks = mixed_blocks()
    text = joined(blocks)

    drafts = chunk(blocks)

    for draft in drafts:
        assert 0 <= draft.char_start < draft.char_end <= len(text)
        assert text[draft.char_start : draft.char_end] == draft.text


def test_pdf_chunks_keep_their_page(chunk):
    """Chunks of the sample PDF carry the page of their first block."""
    blocks = extract("guide.pdf", samples.pdf()).blocks

    drafts = chunk(blocks)

    assert [(d.page, d.heading_path) for d in drafts] == [(1, ("Installation",)), (2, ("Billing",))]


def test_content_hash_covers_heading_and_text(chunk):
    """The same text under another heading has another content hash; the same input gives the same hash."""
    first = chunk([Block("Same words.", ("A",))])[0]
    again = chunk([Block("Same words.", ("A",))])[0]
    other = chunk([Block("Same words.", ("B",))])[0]

    assert first.content_hash == again.content_hash != other.content_hash


def test_closing_brackets_and_quotes_survive_sentence_splitting(chunk):
    """A long paragraph whose sentences end in '.)' or '.\"' keeps those characters in its chunks."""
    text = " ".join(
        f'Point {n} is covered elsewhere (see the manual.) The clerk said "Stop." Then more.' for n in range(30)
    )

    drafts = chunk([Block(text, ())])

    assert len(drafts) > 1
    assert sum(d.text.count(")") for d in drafts) >= 30
    assert sum(d.text.count('"') for d in drafts) >= 60


@pytest.mark.parametrize(
    "text",
    [
        "退款将在请求后十四天内处理" * 40,
        "https://example.com/" + "/".join(f"section{number}" for number in range(300)),
    ],
    ids=["chinese", "long-url"],
)
def test_text_without_spaces_is_split_under_the_limit(embedder, chunk, text):
    """A long run of text without spaces is still cut into chunks the model reads whole."""
    drafts = chunk([Block(text, ("Help",))])

    assert max(embed_tokens(embedder, drafts)) <= embedder.max_tokens
