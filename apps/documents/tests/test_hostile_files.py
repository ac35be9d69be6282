"""Hostile documents (issue 13, findings 1 and 2): refused fast with a sentence, bounded by construction.

Coverage:
- HTML: 100,000 nested divs refused at the depth cap; more elements than the cap refused; below the
  caps, a 5,000-deep page reads the same text and headings as the shallow one (one linear pass);
- DOCX: a 300 MB zip bomb refused from its declared size, a part over the compression ratio, too many
  members, a header that declares less than the part inflates to, a compression method Word never
  uses; the sample DOCX passes every check;
- PDF: more pages than the cap, from the page tree;
- text patterns: a Markdown heading and a PDF line with a long run of spaces (cubic and quadratic
  backtracking before) read with the same meaning;
- the child process (apps.documents.sandbox): same result as in process for every sample type; a
  tiny CPU budget and a tiny memory bound stop it with their sentences; errors carry no library
  internals; each way a child can end (deadline, CPU signal, crash) maps to its sentence.
"""

import io
import signal
import zipfile

import pytest

from apps.documents.extraction import Block, ExtractionError, Limits, check_zip, extract
from apps.documents.sandbox import _outcome, extract_isolated
from apps.documents.tests import hostile, samples

DEPTH_REFUSED = (
    "The HTML page nests elements more than 1,000 levels deep, which no readable page does; it cannot be read."
)


def refusal(name: str, data: bytes, limits: Limits | None = None) -> str:
    with pytest.raises(ExtractionError) as caught:
        extract(name, data, limits)
    return str(caught.value)


# --------------------------------------------------------------------------- HTML


def test_html_nested_100000_levels_is_refused_at_the_depth_cap():
    """1.1 MB of nested divs (6+ minutes of CPU before issue 13) is refused while parsing."""
    assert refusal("deep.html", hostile.nested_html(100_000)) == DEPTH_REFUSED


def test_html_with_more_elements_than_the_cap_is_refused():
    """A wide page: the element count is checked while parsing, with the cap in the sentence."""
    message = refusal("wide.html", hostile.wide_html(2_001), Limits(html_max_elements=2_000))

    assert message == (
        "The HTML page has more than 2,000 elements, more than Beacon reads in one document; split it into "
        "smaller pages."
    )


def test_html_below_the_caps_reads_the_same_whatever_the_depth():
    """5,000 nested divs around a heading and a list read like the same content without nesting."""
    content = "<h1>Manual</h1><h2>Billing</h2><ul><li><p>Refunds take 14 days.</p></li></ul><div>Loose text.</div>"
    shallow = extract("flat.html", f"<html><body>{content}</body></html>".encode())
    deep = extract(
        "deep.html",
        ("<html><body>" + "<div>" * 5_000 + content + "</div>" * 5_000 + "</body></html>").encode(),
        Limits(html_max_depth=10_000),
    )

    assert deep == shallow
    assert deep.blocks == [
        Block("- Refunds take 14 days.", ("Manual", "Billing")),
        Block("Loose text.", ("Manual", "Billing")),
    ]


# --------------------------------------------------------------------------- DOCX and ZIP


def test_docx_zip_bomb_is_refused_from_its_declared_size():
    """About 300 KB whose document.xml inflates to 300 MB (before issue 13: lxml's text-node guard
    stopped it, its words in the error, the process near 1 GB): refused before python-docx or lxml see a byte."""
    bomb = hostile.docx_bomb(300)
    assert len(bomb) < 1024 * 1024
    declared = sum(member.file_size for member in zipfile.ZipFile(io.BytesIO(bomb)).infolist()) / hostile.MB
    assert 300 <= declared < 301  # the bomb's text and the sample's own parts

    assert refusal("bomb.docx", bomb) == (
        f"The Word document would unpack to {declared:,.0f} MB, more than the 200 MB Beacon unpacks; it cannot be read."
    )


def test_docx_part_over_the_compression_ratio_is_refused():
    """A 20 MB part packed about 1000:1 is the mark of a bomb, even under the size cap."""
    data = hostile.docx_with({"word/media/image1.bin": 20 * hostile.MB})

    assert refusal("ratio.docx", data) == (
        "The Word document holds a part compressed more than 100:1, the mark of a zip bomb; it cannot be read."
    )


def test_docx_with_too_many_members_is_refused():
    """The member count comes from the central directory, before anything is inflated."""
    data = hostile.docx_with({f"word/media/{number}.bin": 0 for number in range(30)})

    assert refusal("many.docx", data, Limits(zip_max_members=20)) == (
        f"The Word document is an archive of {len(zipfile.ZipFile(io.BytesIO(data)).infolist())} parts, more than "
        "the 20 Beacon accepts; it cannot be read."
    )


def test_docx_whose_header_understates_a_part_is_refused():
    """document.xml declares 100 bytes and inflates to more: counted while inflating, chunk by chunk."""
    assert refusal("lying.docx", hostile.docx_lying_header()) == (
        "The Word document is damaged or built to mislead: a part holds more data than its header declares; it "
        "cannot be read."
    )


def test_docx_with_a_compression_method_word_never_uses_is_refused():
    """bzip2 and lzma are refused: a DOCX is stored or deflated."""
    source = zipfile.ZipFile(io.BytesIO(samples.docx()))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_BZIP2) as archive:
        for member in source.infolist():
            archive.writestr(member.filename, source.read(member.filename))

    assert refusal("bzip.docx", buffer.getvalue()) == (
        "The Word document uses a compression method Word does not use; it cannot be read."
    )


def test_the_sample_docx_passes_every_zip_check():
    """An ordinary DOCX is neither refused nor changed by the checks."""
    check_zip(samples.docx(), Limits(), "The Word document")

    assert extract("guide.docx", samples.docx()).title == "Beacon Guide"


# --------------------------------------------------------------------------- PDF


def test_pdf_with_more_pages_than_the_cap_is_refused():
    """The page count is read from the page tree before the pages are parsed."""
    assert refusal("long.pdf", hostile.pdf_pages(4), Limits(pdf_max_pages=3)) == (
        "The PDF has 4 pages, more than the 3 Beacon reads in one document; split it into smaller files."
    )


# --------------------------------------------------------------------------- text patterns


def test_markdown_heading_with_a_long_run_of_spaces_reads_in_linear_time():
    """'# a' + 100,000 spaces + 'b' took hours with the old heading pattern (cubic backtracking);
    the heading keeps the old meaning: trailing #s and spaces dropped."""
    spaces = " " * 100_000
    source = f"# Title{spaces}end\n\nBody.\n\n## Billing{spaces}##{spaces}\n\n{samples.REFUND}\n".encode()

    extracted = extract("long.md", source)

    assert extracted.blocks == [
        Block("Body.", (f"Title{spaces}end",)),
        Block(samples.REFUND, (f"Title{spaces}end", "Billing")),
    ]


def test_pdf_paragraph_with_a_long_run_of_spaces_is_joined_in_linear_time():
    """A million spaces on a PDF line (quadratic with the old line-joining pattern) become one."""
    from apps.documents.extraction import _pdf_paragraphs

    assert _pdf_paragraphs("Refunds" + " " * 1_000_000 + "take\n14 days.\n\nNext.") == [
        "Refunds take 14 days.",
        "Next.",
    ]


def test_pdf_hyphenated_line_ends_are_joined_in_any_script():
    """A word hyphenated across PDF lines is joined when it goes on in lower case, accented letters included
    ("Ver-" + "öffentlichung": only a-z counted before); a capital, a digit or a hyphenated name stays."""
    from apps.documents.extraction import _pdf_paragraphs

    text = "Die Ver-\nöffentlichung und die refund-\nable Gebühr.\n\nLes commandes cré-\nées hier."
    assert _pdf_paragraphs(text) == ["Die Veröffentlichung und die refundable Gebühr.", "Les commandes créées hier."]
    (kept,) = _pdf_paragraphs("Baden-\nWürttemberg, ISO-\n8601.")
    assert "BadenWürttemberg" not in kept and "ISO8601" not in kept


# --------------------------------------------------------------------------- the child process


@pytest.mark.parametrize("name", list(samples.ALL))
def test_isolated_extraction_gives_the_same_result_as_in_process(name):
    """Every sample type: the child's answer equals extract() in this process."""
    data = samples.ALL[name]()

    assert extract_isolated(name, data) == extract(name, data)


def test_isolated_extraction_refuses_with_the_sentence_only():
    """A refusal crosses the process boundary as the sentence; pypdf's words stay in the log."""
    with pytest.raises(ExtractionError) as caught:
        extract_isolated("broken.pdf", samples.CORRUPT_PDF)

    assert str(caught.value) == "The PDF is damaged and cannot be read."


def test_cpu_budget_stops_the_child():
    """A page that needs more CPU than a 1 s budget: the child is stopped by RLIMIT_CPU."""
    page = hostile.wide_html(1_000_000)

    with pytest.raises(ExtractionError) as caught:
        extract_isolated("costly.html", page, limits=Limits(html_max_elements=10**7), cpu_seconds=1)

    assert str(caught.value) == (
        "Extraction stopped: the file needed more than 1 s of CPU time; split it or simplify it and upload again."
    )


def test_memory_bound_stops_the_child():
    """A page that needs more than 150 MB: allocation fails in the child (RLIMIT_AS), not in the worker."""
    page = hostile.wide_html(400_000)

    with pytest.raises(ExtractionError) as caught:
        extract_isolated("big.html", page, limits=Limits(html_max_elements=10**7), memory_mb=150)

    assert str(caught.value) == (
        "Extraction stopped: the file needed more than 150 MB of memory; split it or simplify it and upload again."
    )


@pytest.mark.parametrize(
    ("result", "exit_info", "message"),
    [
        (
            None,
            {"timeout": True, "signal": signal.SIGKILL, "cpu": 3},
            "Extraction stopped: reading the file took more than 40 s; split it and upload again.",
        ),
        (
            None,
            {"signal": signal.SIGXCPU, "cpu": 10.0},
            "Extraction stopped: the file needed more than 10 s of CPU time; split it or simplify it and upload again.",
        ),
        (
            None,
            {"signal": signal.SIGKILL, "cpu": 11.0},
            "Extraction stopped: the file needed more than 10 s of CPU time; split it or simplify it and upload again.",
        ),
        (
            None,
            {"signal": signal.SIGSEGV, "cpu": 0.5},
            "Extraction stopped: the file's reader failed on it (the file may be damaged); it cannot be read.",
        ),
        (
            {"status": "crash", "detail": "Traceback (most recent call last): ... lxml.etree.XMLSyntaxError"},
            {"code": 0, "cpu": 0.5},
            "Extraction stopped: the file's reader failed on it (the file may be damaged); it cannot be read.",
        ),
        (
            None,
            {"lost": True},
            "Extraction stopped: the file's reader failed on it (the file may be damaged); it cannot be read.",
        ),
    ],
    ids=["wall-deadline", "sigxcpu", "cpu-hard-limit", "segfault", "unexpected-exception", "server-lost"],
)
def test_each_way_a_child_ends_has_its_sentence(result, exit_info, message):
    """Deadline, CPU signal (soft or hard limit), a crash, an unexpected exception: a sentence, no internals."""
    with pytest.raises(ExtractionError) as caught:
        _outcome("file.pdf", result, exit_info, cpu=10, memory=1024, wall=40)

    assert str(caught.value) == message


def test_docx_bomb_past_relaxed_caps_still_fails_without_lxml_words():
    """With the archive caps relaxed, lxml's own text-node guard stops the 20 MB paragraph: the error
    is a sentence, not "Resource limit exceeded: Text node too long, try XML_PARSE_HUGE"."""
    relaxed = Limits(zip_max_ratio=10**6, zip_max_uncompressed_mb=10_000)

    message = refusal("bomb.docx", hostile.docx_bomb(20), relaxed)

    assert message == "The Word document is damaged and cannot be read."
