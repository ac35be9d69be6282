"""Text extraction that keeps structure: headings (as a path) and PDF page numbers.

Libraries: pypdf (PDF), python-docx (DOCX), BeautifulSoup with lxml (HTML), markdown-it-py
(Markdown, apps.documents.extraction_md) and docutils (reStructuredText, including `.txt` files
that are reST by their content, apps.documents.extraction_rst); plain text is split here. The
file's bytes decide its type (a PNG named .pdf is caught), and every failure raises
`ExtractionError` with a sentence a person understands (the library's own words go to the log,
through the exception's cause, never to the document's error).

Hostile files (docs/security.md, "Hostile documents"): every step is linear in the file's size, and
`Limits` caps what a file may ask for before a library is handed it: HTML depth and element count,
a ZIP's members, declared and actual inflated size and compression ratio, a PDF's pages and objects.
CPU time and memory are bounded by running all of this in a child process (apps.documents.sandbox).

Code (issue 14): a code block is a `Block` with `code=True` whose text is a Markdown fence — a line
of three backticks (or more, when the code itself holds a run of three) optionally followed by the
language, the code lines with their indentation, and a closing fence line (`code_text`). The
chunker keeps such a block whole, or splits it on line boundaries into several fenced blocks.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass, field

from apps.documents.extraction_faq import (
    QUESTION_MAX_CHARS,
    is_question,
    paragraph_question,
    question_pop,
    question_push,
    split_q_and_a,
    text_blocks,
)

ALLOWED_EXTENSIONS = {
    "txt": "txt", "text": "txt", "md": "md", "markdown": "md", "rst": "rst", "rest": "rst", "html": "html",
    "htm": "html", "pdf": "pdf", "docx": "docx",
}  # fmt: skip
#: Sphinx's version directives and the words the note extraction_rst writes for each starts with ("New in version
#: 3.6: ..."); the calibration knows such a note by them
VERSION_LABELS = {
    "versionadded": "New in version",
    "versionchanged": "Changed in version",
    "versionremoved": "Removed in version",
    "deprecated": "Deprecated since version",
}
MIME_TYPES = {
    "txt": "text/plain",
    "md": "text/markdown",
    "rst": "text/x-rst",
    "html": "text/html",
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}

SIGNATURES = [
    (b"%PDF-", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\xd0\xcf\x11\xe0", "an old Microsoft Office (OLE) file"),
    (b"\x7fELF", "a program (ELF)"),
    (b"MZ\x90\x00", "a Windows program"),
    (b"\x1f\x8b", "a gzip archive"),
]


class ExtractionError(Exception):
    """The file cannot become text; the message is shown to people as the document's error."""


@dataclass(frozen=True)
class Limits:
    """What one file may ask of the extractor (settings DOCUMENT_HTML_*, DOCUMENT_ZIP_*, DOCUMENT_PDF_*)."""

    html_max_depth: int = 1_000
    html_max_elements: int = 200_000
    zip_max_members: int = 1_000
    zip_max_uncompressed_mb: int = 200
    zip_max_ratio: int = 100
    pdf_max_pages: int = 2_000
    pdf_max_objects: int = 2_000_000


MB = 1024 * 1024


#: A list item as blocks store it ("- item", "3. item", nested ones indented): what the parsers write, the offline
#: answerer and calibration read (apps.conversations.grounding, apps.documents.calibration).
LIST_ITEM = re.compile(r"^\s*(?:[-*+•]|\d{1,3}[.)])\s+(?=\S)")
LIST_INDENT_LEVELS = 3  # nested items are indented two spaces a level, up to this many levels


def list_indent(depth: int) -> str:
    """The indentation of a list item `depth` lists deep (0: a top-level list), at most LIST_INDENT_LEVELS."""
    return "  " * min(depth, LIST_INDENT_LEVELS)


@dataclass
class Block:
    text: str
    heading_path: tuple[str, ...] = ()
    page: int | None = None
    code: bool = False  # `text` is a fenced code block (see the module's docstring)


def code_text(code: str, language: str = "") -> str:
    """A code block as stored: a fence line (with the language, if any), the code, a closing fence.

    Blank lines at either end and trailing spaces are dropped; tabs, indentation and blank lines
    inside are kept. The fence is longer than any backtick run that starts a line of the code.
    Empty code gives "".
    """
    lines = [line.rstrip() for line in code.split("\n")]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    if not lines:
        return ""
    longest = max((len(line.lstrip()) - len(line.lstrip().lstrip("`")) for line in lines), default=0)
    fence = "`" * max(3, longest + 1)
    language = "".join(char for char in language if char.isalnum() or char in "+-_.#")[:30]
    return "\n".join([fence + language, *lines, fence])


@dataclass
class Extracted:
    kind: str
    title: str = ""
    blocks: list[Block] = field(default_factory=list)
    page_count: int | None = None


def extension_kind(filename: str) -> str | None:
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    return ALLOWED_EXTENSIONS.get(ext)


def _describe(data: bytes) -> str | None:
    for signature, description in SIGNATURES:
        if data.startswith(signature):
            return description
    return None


def detect_kind(filename: str, data: bytes) -> str:
    """The type from the bytes, checked against the name. Raises ExtractionError when they disagree."""
    named = extension_kind(filename)
    if not data.strip():
        raise ExtractionError("The file is empty: there is no text to learn from.")
    if data.startswith(b"%PDF-"):
        kind = "pdf"
    elif data.startswith(b"PK\x03\x04"):
        kind = "docx" if _is_docx(data) else None
    elif _looks_textual(data):
        kind = "html" if named == "html" or re.match(rb"\s*(<!doctype html|<html)", data[:512], re.I) else None
        kind = kind or (named if named in ("md", "rst", "txt") else "txt")
    else:
        kind = None
    if kind is None:
        what = _describe(data) or "binary data of an unknown type"
        raise ExtractionError(
            f"The file is named '{filename}' but its content is {what}; supported types are txt, md, rst, html, "
            "pdf and docx."
        )
    if named in ("pdf", "docx") and kind != named:
        raise ExtractionError(f"The file is named '{filename}' but it is not a {named.upper()} file.")
    return kind


def _looks_textual(data: bytes) -> bool:
    """Text has a UTF-16 byte-order mark, or no NUL byte and no binary signature."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return True
    if b"\x00" in data[:8192]:
        return False
    return not data.startswith((b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"\xd0\xcf\x11\xe0", b"\x7fELF", b"\x1f\x8b"))


def _is_docx(data: bytes) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return "word/document.xml" in archive.namelist()
    except zipfile.BadZipFile:
        return False


WESTERN = {"cp1252", "latin_1", "iso8859_15", "iso8859_1"}


def decode_text(data: bytes) -> str:
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise ExtractionError("The text has a UTF-16 mark but is not valid UTF-16.") from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    matches = from_bytes(data)
    # On short texts the detector's favourite is often a Central European code page; when a Western
    # one is among the plausible encodings, it is by far the likelier (and the common case here).
    if any(match.encoding in WESTERN for match in matches):
        try:
            return data.decode("cp1252")
        except UnicodeDecodeError:
            return data.decode("latin_1")
    best = matches.best()
    if best is None:
        raise ExtractionError("The text's character encoding could not be recognised; save it as UTF-8.")
    return str(best)


def text_paragraphs(text: str) -> list[str]:
    return [re.sub(r"[ \t]+", " ", p).strip() for p in re.split(r"\n\s*\n", text) if p.strip()]


# --------------------------------------------------------------------------- per type


def extract_txt(data: bytes) -> Extracted:
    """Paragraphs, questions set apart made headings (apps.documents.extraction_faq); a text file that is
    reStructuredText by its content is read as reST."""
    from apps.documents.extraction_rst import looks_like_rst

    text = decode_text(data)
    if looks_like_rst(text):
        return _rst(text)
    paragraphs = [paragraph for paragraph in re.split(r"\n\s*\n", text) if paragraph.strip()]
    return Extracted(kind="txt", blocks=[Block(text, path) for text, path in text_blocks(paragraphs)])


def extract_rst(data: bytes) -> Extracted:
    return _rst(decode_text(data))


def _rst(text: str) -> Extracted:
    from apps.documents.extraction_rst import parse_rst

    title, blocks = parse_rst(text)
    return Extracted(kind="rst", title=title, blocks=blocks)


def extract_md(data: bytes) -> Extracted:
    from apps.documents.extraction_md import parse_md

    title, blocks = parse_md(decode_text(data))
    return Extracted(kind="md", title=title, blocks=blocks)


HTML_BLOCKS = ["p", "li", "pre", "blockquote", "td", "th", "dd", "dt", "figcaption", "caption"]
# Elements read only when they hold a question (an accordion's title), and the markup that sets one apart.
HTML_QUESTIONS = {"summary", "button"}
HTML_EMPHASIS = {"b", "strong", "em", "i"}


class _TooBig(Exception):
    pass


def _bounded_soup(data: bytes, limits: Limits):
    """BeautifulSoup (lxml) that refuses, while parsing, a tree deeper or larger than the limits."""
    from bs4 import BeautifulSoup

    class BoundedSoup(BeautifulSoup):
        def reset(self):
            super().reset()
            self.elements_seen = 0

        def handle_starttag(self, name, namespace, nsprefix, attrs, sourceline=None, sourcepos=None, namespaces=None):
            self.elements_seen += 1
            if self.elements_seen > limits.html_max_elements:
                raise _TooBig(
                    f"The HTML page has more than {limits.html_max_elements:,} elements, more than Beacon reads "
                    "in one document; split it into smaller pages."
                )
            if len(self.tagStack) > limits.html_max_depth:
                raise _TooBig(
                    f"The HTML page nests elements more than {limits.html_max_depth:,} levels deep, which no "
                    "readable page does; it cannot be read."
                )
            return super().handle_starttag(name, namespace, nsprefix, attrs, sourceline, sourcepos, namespaces)

    try:
        return BoundedSoup(data, "lxml")
    except _TooBig as exc:
        raise ExtractionError(str(exc)) from None


HTML_DROPPED = ["script", "style", "noscript", "nav", "footer", "header", "form", "svg", "template"]
HEADINGS = {f"h{i}" for i in range(1, 7)}
# Site chrome that pages mark without nav/header/footer tags: ARIA landmarks of navigation, banner, footer,
# sidebar and search, and the class names documentation generators give their navigation bars (DocBook XSL
# `navheader`/`navfooter`, gtk-doc `navigation`, Sphinx `sphinxsidebar`, `nav` of Bootstrap and of Valgrind's
# manual, breadcrumbs). Measured on real pages in benchmarks/html_extraction.py (docs/sources.md).
CHROME_ROLES = {"navigation", "banner", "contentinfo", "complementary", "search"}
CHROME_CLASSES = {"nav", "navbar", "navheader", "navfooter", "navigation", "sphinxsidebar", "breadcrumb", "breadcrumbs"}
# A table cell holding headings or blocks is page layout (a page built of tables), read like a div.
LAYOUT_CELLS = {"td", "th"}


def _html_chrome(soup) -> list:
    """Elements of site chrome (CHROME_ROLES, CHROME_CLASSES) to drop, outermost first."""
    return soup.find_all(
        lambda tag: (
            (tag.get("role") or "").strip().lower() in CHROME_ROLES
            or not CHROME_CLASSES.isdisjoint(name.lower() for name in tag.get("class") or [])
        )
    )


def _html_main(soup):
    """The page's one main element (`<main>` or role="main"), where it marks its content, else None."""
    mains = soup.find_all(lambda tag: tag.name == "main" or (tag.get("role") or "").strip().lower() == "main")
    return mains[0] if len(mains) == 1 else None


def _html_candidates(body) -> tuple[list, dict[int, tuple[int, int]]]:
    """The headings and the blocks `extract_html` reads, in document order, and every element's span: (its
    position in document order, its last descendant's), so that "inside that element" is two comparisons.

    One pass down, one up and one down the tree (linear in its size, whatever its depth): a block inside
    another block (li > p) is taken once, by the outer one; a div, and a table cell that holds headings
    or blocks (layout), counts only when it holds text directly (no heading, block or div below it).
    Headings, `<summary>` and `<button>` (questions, apps.documents.extraction_faq) always count.
    """
    from bs4 import Tag

    blocks = set(HTML_BLOCKS)
    wanted = HEADINGS | blocks | {"div"} | HTML_QUESTIONS
    order: list = []
    stack = [child for child in reversed(body.contents) if isinstance(child, Tag)]
    while stack:
        element = stack.pop()
        order.append(element)
        stack.extend(child for child in reversed(element.contents) if isinstance(child, Tag))
    holds_wanted: set[int] = set()
    last = {id(element): position for position, element in enumerate(order)}
    for element in reversed(order):  # children before parents
        if element.name in wanted or id(element) in holds_wanted:
            holds_wanted.add(id(element.parent))
        parent = id(element.parent)
        if parent in last and last[parent] < last[id(element)]:
            last[parent] = last[id(element)]
    spans = {id(element): (position, last[id(element)]) for position, element in enumerate(order)}

    def container(element) -> bool:
        return (element.name == "div" or element.name in LAYOUT_CELLS) and id(element) in holds_wanted

    # Whether an element's descendants sit inside a block; `body` itself may (find_parent looked above it).
    start_inside = any(parent.name in blocks for parent in body.parents) if isinstance(body, Tag) else False
    below_block = {id(body): start_inside or (body.name in blocks and not container(body))}
    candidates = []
    for element in order:  # parents before children
        in_block = below_block[id(element.parent)]
        below_block[id(element)] = in_block or (element.name in blocks and not container(element))
        if element.name not in wanted:
            continue
        if element.name in HEADINGS or element.name in HTML_QUESTIONS or not (in_block or container(element)):
            candidates.append(element)
    return candidates, spans


def _html_question(element) -> tuple[str, str] | None:
    """(question, the answer's text in the same element) when the element is a question set apart (an
    accordion's `<summary>`, a question `<dt>` or `<button>`, a block wholly in bold or emphasis or led by
    `Q:`; apps.documents.extraction_faq), else None."""
    text = " ".join(element.get_text(" ", strip=True).split())
    if element.name == "summary":  # a disclosure's title heads its content, question or not
        return (text, "") if text and len(text) <= QUESTION_MAX_CHARS else None
    if element.name in ("button", "dt"):
        return (text, "") if is_question(text, lead_in=True) else None
    question, answer = split_q_and_a(text)
    if question is not None:
        return question, answer
    if not is_question(text, lead_in=True):  # markup sets it apart: a statement may lead in
        return None
    for string in element.find_all(string=True):
        if not string.strip():
            continue
        emphasised = False
        for parent in string.parents:
            if parent is element:
                break
            if parent.name in HTML_EMPHASIS:
                emphasised = True
                break
        if not emphasised:
            return None
    return text, ""


def extract_html(data: bytes, limits: Limits | None = None) -> Extracted:
    soup = _bounded_soup(data, limits or Limits())
    for tag in soup(HTML_DROPPED):
        tag.decompose()
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for tag in _html_chrome(soup):
        if not tag.decomposed:  # inside chrome dropped already
            tag.decompose()
    body = _html_main(soup) or soup.body or soup
    blocks: list[Block] = []
    path: list[tuple[int, str]] = []
    candidates, spans = _html_candidates(body)
    # The span of the element a question heading lasts for (a summary's <details>, a term's <dl>, the element
    # that holds an accordion's button and its panel); None: until the next question or heading.
    scope = None
    numbers: dict[int, int] = {}  # the next number of each ordered list (_html_item_marker)
    depths: dict[int, int] = {}  # how deep each list is (_html_item_marker)
    for element in candidates:
        if scope is not None and not scope[0] <= spans[id(element)][0] <= scope[1]:
            path = question_pop(path)
            scope = None
        if element.name in HEADINGS:
            level = int(element.name[1])
            heading = element.get_text(" ", strip=True)
            if heading:
                path = [(lvl, h) for lvl, h in path if lvl < level] + [(level, heading)]
                title = title or heading
            continue
        question = _html_question(element) if element.name != "pre" else None
        if question is not None:
            path = question_push(path, question[0])
            scope = spans.get(id(element.parent)) if element.name in ("summary", "dt", "button") else None
            if question[1]:
                blocks.append(Block(question[1], tuple(h for _, h in path)))
            continue
        if element.name in HTML_QUESTIONS:  # a summary too long, a button that is not a question: UI text
            continue
        if element.name == "pre":  # code: its lines and indentation kept, as a fenced block
            code = code_text(element.get_text(""), _html_language(element))
            if code:
                blocks.append(Block(code, tuple(h for _, h in path), code=True))
            continue
        text = element.get_text(" ", strip=True)
        text = re.sub(r"[ \t]+", " ", text).strip()
        if text and element.name == "li":
            text = f"{_html_item_marker(element, numbers, depths)} {text}"
        if text:
            blocks.append(Block(text, tuple(h for _, h in path)))
    return Extracted(kind="html", title=title, blocks=blocks)


def _html_item_marker(item, numbers: dict[int, int], depths: dict[int, int]) -> str:
    """A list item's marker as the Markdown parser stores it: "-" in a `<ul>`, its number in an `<ol>` (from the
    list's `start`, or the item's own `value`; `numbers` holds each list's next number, the items coming in document
    order), two spaces of indentation per list around its own (at most LIST_INDENT_LEVELS). `depths` caches each
    list's depth: a list's ancestors are walked once, not once per item."""
    parent = item.parent
    own = parent if parent is not None and parent.name in ("ul", "ol") else item.find_parent(("ul", "ol"))
    if own is None:
        return "-"
    indent = list_indent(_html_list_depth(own, depths))
    if own.name != "ol":
        return f"{indent}-"
    number = _html_int(item.get("value"), numbers.get(id(own), _html_int(own.get("start"), 1)))
    numbers[id(own)] = number + 1
    return f"{indent}{number}."


def _html_list_depth(element, depths: dict[int, int]) -> int:
    """How many lists hold `element` (a ul or ol), itself not counted (walked up to the first list whose depth is
    known, without recursion: a page may nest hundreds)."""
    chain = []
    while element is not None and id(element) not in depths:
        chain.append(element)
        element = element.find_parent(("ul", "ol"))
    depth = -1 if element is None else depths[id(element)]
    for known in reversed(chain):
        depth += 1
        depths[id(known)] = depth
    return depths[id(chain[0])] if chain else depth


def _docx_item(text: str, style: str, numbers: list[int]) -> tuple[str, list[int]]:
    """(the paragraph's text, with its list marker when Word's style makes it a list item; the numbers of the
    numbered lists going on after it, by level). "List Bullet" and "List Paragraph" (Word's own numbering, whose
    kind the style does not say) are "- item"; "List Number" counts per level."""
    kind = "number" if style.startswith("List Number") else "bullet" if style.startswith("List Bullet") else None
    if style == "List Paragraph":
        kind = "bullet"
    if not text or kind is None:
        return text, []
    digits = re.findall(r"\d+", style)
    level = min(int(digits[0]) if digits else 1, LIST_INDENT_LEVELS + 1)
    indent = list_indent(level - 1)
    numbers = numbers[:level] + [0] * (level - len(numbers))
    if kind == "bullet":
        return f"{indent}- {text}", numbers
    numbers[level - 1] += 1
    return f"{indent}{numbers[level - 1]}. {text}", numbers


def _html_int(value, default: int) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return default


def _html_language(pre) -> str:
    """The language of `<pre class="language-x">` or `<pre><code class="language-x">` (highlight.js, Prism)."""
    code = pre.find("code", recursive=False)
    for element in (pre, code):
        for name in (element.get("class") or []) if element is not None else []:
            if name.startswith(("language-", "lang-")):
                return name.split("-", 1)[1]
    return ""


def extract_pdf(data: bytes, limits: Limits | None = None) -> Extracted:
    from pypdf import PdfReader
    from pypdf.errors import LimitReachedError, PdfReadError

    limits = limits or Limits()
    try:
        reader = PdfReader(io.BytesIO(data), xref_stream_maximum_entries=limits.pdf_max_objects)
        objects = sum(len(entries) for entries in reader.xref.values()) + len(reader.xref_objStm)
        if objects > limits.pdf_max_objects:
            raise ExtractionError(_pdf_too_many_objects(limits))
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")
            except Exception:  # noqa: BLE001 - pypdf raises several types for unsupported crypto
                opened = 0
            if not opened:
                raise ExtractionError("The PDF is password-protected; upload a copy without a password.")
        _pdf_check_pages(reader, limits)
        pages = list(reader.pages)
    except ExtractionError:
        raise
    except LimitReachedError as exc:
        raise ExtractionError(PDF_OVER_LIMIT) from exc
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, OSError, RecursionError) as exc:
        raise ExtractionError("The PDF is damaged and cannot be read.") from exc
    outline = _pdf_outline(reader)
    blocks: list[Block] = []
    for number, page in enumerate(pages, start=1):
        try:
            text = page.extract_text() or ""
        except LimitReachedError as exc:
            raise ExtractionError(PDF_OVER_LIMIT) from exc
        except Exception as exc:
            raise ExtractionError(f"Page {number} of the PDF is damaged and cannot be read.") from exc
        heading_path = outline.get(number, ())
        for paragraph in _pdf_paragraphs(text):
            blocks.append(Block(paragraph, heading_path, page=number))
    title = ""
    try:
        title = (reader.metadata.title or "") if reader.metadata else ""
    except Exception:  # noqa: BLE001 - broken metadata is not worth failing for
        title = ""
    if not blocks:
        raise ExtractionError(
            "The PDF has no extractable text (it may be scanned images); upload a text PDF or run OCR first."
        )
    return Extracted(kind="pdf", title=str(title).strip(), blocks=blocks, page_count=len(pages))


PDF_OVER_LIMIT = (
    "The PDF holds a stream or structure larger than Beacon reads safely (it may be built to exhaust the reader); "
    "it cannot be read."
)


def _pdf_too_many_objects(limits: Limits) -> str:
    return (
        f"The PDF is made of more than {limits.pdf_max_objects:,} objects, more than Beacon reads in one document; "
        "split it into smaller files."
    )


def _pdf_check_pages(reader, limits: Limits) -> None:
    """The page tree's declared count first (cheap, before walking it), then the real count."""
    try:
        declared = int(reader.trailer["/Root"]["/Pages"]["/Count"])
    except (KeyError, TypeError, ValueError):
        declared = 0
    count = declared if declared > limits.pdf_max_pages else len(reader.pages)
    if count > limits.pdf_max_pages:
        raise ExtractionError(
            f"The PDF has {count:,} pages, more than the {limits.pdf_max_pages:,} Beacon reads in one document; "
            "split it into smaller files."
        )


def _pdf_paragraphs(text: str) -> list[str]:
    # pypdf gives lines; blank lines separate paragraphs, and a line ending with a hyphen before a lower-case
    # letter of any script is one hyphenated word ("refund-\nable", "Ver-\nöffentlichung", "cré-\nées").
    text = re.sub(r"-\n(\w)", lambda m: m.group(1) if m.group(1).islower() else m.group(0), text)
    paragraphs = []
    for paragraph in re.split(r"\n\s*\n", text):
        # A run of spaces holding a line break becomes one space (what r"\s*\n\s*" did, but linear:
        # that pattern is quadratic in a long run of spaces without a line break).
        joined = re.sub(r"\s+", lambda run: " " if "\n" in run.group() else run.group(), paragraph).strip()
        if joined:
            paragraphs.append(re.sub(r"[ \t]+", " ", joined))
    return paragraphs


def _pdf_outline(reader) -> dict[int, tuple[str, ...]]:
    """Page number -> heading path, from the PDF's bookmarks (when it has any)."""
    starts: list[tuple[int, tuple[str, ...]]] = []

    def walk(items, parents: tuple[str, ...]):
        last: tuple[str, ...] = parents
        for item in items:
            if isinstance(item, list):
                walk(item, last)
                continue
            try:
                page = reader.get_destination_page_number(item) + 1
                title = str(item.title).strip()
            except Exception:  # noqa: BLE001 - a broken bookmark is skipped, not fatal
                continue
            last = (*parents, title)
            starts.append((page, last))

    try:
        walk(reader.outline, ())
    except Exception:  # noqa: BLE001
        return {}
    if not starts:
        return {}
    starts.sort(key=lambda item: item[0])
    mapping: dict[int, tuple[str, ...]] = {}
    current: tuple[str, ...] = ()
    index = 0
    for page in range(1, len(reader.pages) + 1):
        while index < len(starts) and starts[index][0] <= page:
            current = starts[index][1]
            index += 1
        mapping[page] = current
    return mapping


ZIP_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED}  # what Word writes; bzip2/lzma are refused
ZIP_RATIO_FROM = MB  # a member's compression ratio counts from this inflated size (tiny parts are harmless)
ZIP_CHUNK = 256 * 1024


def check_zip(data: bytes, limits: Limits, what: str) -> None:
    """Refuse an archive that would inflate beyond the limits, before any library opens it.

    From the central directory: the member count, the total declared inflated size and each
    member's compression ratio (Apache POI's zip-bomb guard uses the same 100:1 default). Then every
    member is inflated in fixed-size chunks, counting: a member that yields more than it declares
    (a lying header) or does not match its checksum is refused, whatever zipfile would have done
    with it. Memory stays at one chunk; CPU time is bounded by the declared total.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise ExtractionError(f"{what} is damaged and cannot be read.") from exc
    with archive:
        members = archive.infolist()
        if len(members) > limits.zip_max_members:
            raise ExtractionError(
                f"{what} is an archive of {len(members):,} parts, more than the {limits.zip_max_members:,} Beacon "
                "accepts; it cannot be read."
            )
        declared = sum(member.file_size for member in members)
        if declared > limits.zip_max_uncompressed_mb * MB:
            raise ExtractionError(
                f"{what} would unpack to {declared / MB:,.0f} MB, more than the {limits.zip_max_uncompressed_mb:,} MB "
                "Beacon unpacks; it cannot be read."
            )
        for member in members:
            if member.compress_type not in ZIP_METHODS:
                raise ExtractionError(f"{what} uses a compression method Word does not use; it cannot be read.")
            if member.file_size >= ZIP_RATIO_FROM and member.file_size > limits.zip_max_ratio * max(
                member.compress_size, 1
            ):
                raise ExtractionError(
                    f"{what} holds a part compressed more than {limits.zip_max_ratio}:1, the mark of a zip bomb; "
                    "it cannot be read."
                )
        for member in members:
            _inflate_counting(data, member, what)


def _inflate_counting(data: bytes, member: zipfile.ZipInfo, what: str) -> None:
    import struct
    import zlib

    header = data[member.header_offset : member.header_offset + 30]
    if len(header) < 30 or header[:4] != b"PK\x03\x04":
        raise ExtractionError(f"{what} is damaged and cannot be read.")
    name_length, extra_length = struct.unpack("<HH", header[26:30])
    start = member.header_offset + 30 + name_length + extra_length
    raw = memoryview(data)[start : start + member.compress_size]
    if len(raw) != member.compress_size:
        raise ExtractionError(f"{what} is damaged and cannot be read.")
    inflater = zlib.decompressobj(-15) if member.compress_type == zipfile.ZIP_DEFLATED else None
    produced, crc = 0, 0
    lying = ExtractionError(
        f"{what} is damaged or built to mislead: a part holds more data than its header declares; it cannot be read."
    )
    try:
        for offset in range(0, len(raw), ZIP_CHUNK):
            piece = raw[offset : offset + ZIP_CHUNK]
            while piece:
                out = inflater.decompress(piece, ZIP_CHUNK) if inflater else bytes(piece)
                produced += len(out)
                if produced > member.file_size:
                    raise lying
                crc = zlib.crc32(out, crc)
                piece = inflater.unconsumed_tail if inflater else b""
        if inflater is not None:
            out = inflater.flush()
            produced += len(out)
            crc = zlib.crc32(out, crc)
    except zlib.error as exc:
        raise ExtractionError(f"{what} is damaged and cannot be read.") from exc
    if produced > member.file_size:
        raise lying
    if produced != member.file_size or crc != member.CRC:
        raise ExtractionError(f"{what} is damaged and cannot be read.")


def extract_docx(data: bytes, limits: Limits | None = None) -> Extracted:
    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from lxml import etree

    check_zip(data, limits or Limits(), "The Word document")
    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, KeyError, ValueError, zipfile.BadZipFile, etree.LxmlError) as exc:
        raise ExtractionError("The Word document is damaged and cannot be read.") from exc
    blocks: list[Block] = []
    path: list[tuple[int, str]] = []
    title = (document.core_properties.title or "").strip()
    numbers: list[int] = []  # the numbered lists going on, by level (_docx_item)
    for paragraph in document.paragraphs:
        text = paragraph.text.strip()
        if not text:
            continue
        style = (paragraph.style.name if paragraph.style is not None else "") or ""
        level = None
        if style == "Title":
            level = 0
            title = title or text
        elif style.startswith("Heading"):
            digits = re.findall(r"\d+", style)
            level = int(digits[0]) if digits else 1
        if level is not None:
            path = [(lvl, h) for lvl, h in path if lvl < level] + [(level, text)]
            numbers = []
            continue
        runs = [run for run in paragraph.runs if run.text.strip()]
        # a bold question heads its answer (apps.documents.extraction_faq)
        question, text = paragraph_question(text, emphasised=bool(runs) and all(run.bold for run in runs))
        if question is not None:
            path = question_push(path, question)
        # a list item as the Markdown parser stores it: "- item", "3. item", nested levels ("List Number 2")
        # indented and numbered on their own; a paragraph that is no list item, or a heading, ends the lists
        text, numbers = _docx_item(text, style, numbers)
        if text:
            blocks.append(Block(text, tuple(h for _, h in path)))
    for table in document.tables:
        for row in table.rows:
            cells = [cell.text.strip() for cell in row.cells if cell.text.strip()]
            if cells:
                blocks.append(Block(" | ".join(cells), tuple(h for _, h in path)))
    return Extracted(kind="docx", title=title, blocks=blocks)


EXTRACTORS = {
    "txt": extract_txt, "md": extract_md, "rst": extract_rst, "html": extract_html, "pdf": extract_pdf,
    "docx": extract_docx,
}  # fmt: skip


def extract(filename: str, data: bytes, limits: Limits | None = None) -> Extracted:
    kind = detect_kind(filename, data)
    extracted = EXTRACTORS[kind](data, limits) if kind in ("html", "pdf", "docx") else EXTRACTORS[kind](data)
    extracted.blocks = without_contents(extracted.blocks)
    for block in extracted.blocks:
        block.text = _storable(block.text)
        block.heading_path = tuple(_storable(heading) for heading in block.heading_path)
    extracted.title = _storable(extracted.title)
    if not any(block.text.strip() for block in extracted.blocks):
        raise ExtractionError("The file contains no text to learn from.")
    return extracted


CONTENTS_NUMBER = re.compile(r"^(?:\d{1,3}(?:\.\d{1,3})*\.?|[A-Z]\.)\s+")
CONTENTS_SPLIT = re.compile(r"(?<=\?)\s+|\s+(?=\d{1,3}(?:\.\d{1,3})*\.?\s+[A-Z\"'(])")
CONTENTS_MIN_CHARS = 12  # shorter headings ("Usage") are too common in prose to tell a contents entry
CONTENTS_SHARE = 0.6
SECTION_NUMBER = re.compile(r"\d{1,3}(?:\.\d{1,3})*\.?")


def _heading_key(text: str) -> str:
    return " ".join(CONTENTS_NUMBER.sub("", " ".join(text.split())).split()).lower()


def without_contents(blocks: list[Block]) -> list[Block]:
    """The blocks without a table of contents and bare section numbers.

    A block that is an entry of the document's contents — its text is another section's heading
    ("1.1. How do you pronounce "Valgrind"?" above the FAQ), or mostly a run of them (a contents paragraph of a
    text FAQ, a contents row of a DocBook page) — holds no answer but matches the questions it lists better than
    their answers do: it would be retrieved and cited instead of them. So is a bare section number (a DocBook
    number cell, "1.2."). Headings of CONTENTS_MIN_CHARS characters at least count; a block's own heading path
    does not. Linear: each block is cut at section numbers and question marks and each piece looked up.
    """
    keys = (_heading_key(heading) for block in blocks for heading in block.heading_path)
    headings = {key for key in keys if len(key) >= CONTENTS_MIN_CHARS}
    kept = []
    for block in blocks:
        if block.code:
            kept.append(block)
            continue
        if SECTION_NUMBER.fullmatch(block.text.strip()):
            continue
        if headings:
            pieces = [_heading_key(piece) for piece in CONTENTS_SPLIT.split(" ".join(block.text.split()))]
            pieces = [piece for piece in pieces if piece]
            found = [piece for piece in pieces if piece in headings]
            if found:  # a block's own headings do not count
                own = {_heading_key(heading) for heading in block.heading_path}
                found = [piece for piece in found if piece not in own]
            listed = found and (len(found) >= 2 or len(pieces) == 1)
            if listed and sum(map(len, found)) >= CONTENTS_SHARE * sum(map(len, pieces)):
                continue
        kept.append(block)
    return kept


def _storable(text: str) -> str:
    """Without NUL characters and lone surrogates, which PostgreSQL text cannot hold (a parser may
    pass both through from a hostile file); a surrogate becomes U+FFFD."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = "".join("\ufffd" if "\ud800" <= char <= "\udfff" else char for char in text)
    return text
