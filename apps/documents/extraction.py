"""Text extraction that keeps structure: headings (as a path) and PDF page numbers.

Libraries: pypdf (PDF), python-docx (DOCX), BeautifulSoup with lxml (HTML); Markdown and plain
text are parsed here. The file's bytes decide its type (a PNG named .pdf is caught), and every
failure raises `ExtractionError` with a sentence a person understands.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass, field

ALLOWED_EXTENSIONS = {
    "txt": "txt", "text": "txt", "md": "md", "markdown": "md", "html": "html", "htm": "html",
    "pdf": "pdf", "docx": "docx",
}  # fmt: skip
MIME_TYPES = {
    "txt": "text/plain",
    "md": "text/markdown",
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


@dataclass
class Block:
    text: str
    heading_path: tuple[str, ...] = ()
    page: int | None = None


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
        kind = kind or (named if named in ("md", "txt") else "txt")
    else:
        kind = None
    if kind is None:
        what = _describe(data) or "binary data of an unknown type"
        raise ExtractionError(
            f"The file is named '{filename}' but its content is {what}; supported types are txt, md, html, pdf "
            "and docx."
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


def _paragraphs(text: str) -> list[str]:
    return [re.sub(r"[ \t]+", " ", p).strip() for p in re.split(r"\n\s*\n", text) if p.strip()]


# --------------------------------------------------------------------------- per type


def extract_txt(data: bytes) -> Extracted:
    text = decode_text(data)
    return Extracted(kind="txt", blocks=[Block(p) for p in _paragraphs(text)])


HEADING_MD = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")


def extract_md(data: bytes) -> Extracted:
    text = decode_text(data)
    blocks: list[Block] = []
    path: list[tuple[int, str]] = []
    buffer: list[str] = []
    in_fence = False
    title = ""

    def flush():
        for paragraph in _paragraphs("\n".join(buffer)):
            blocks.append(Block(paragraph, tuple(h for _, h in path)))
        buffer.clear()

    for line in text.splitlines():
        if line.strip().startswith(("```", "~~~")):
            in_fence = not in_fence
            buffer.append(line)
            continue
        match = None if in_fence else HEADING_MD.match(line)
        if match:
            flush()
            level, heading = len(match.group(1)), match.group(2).strip()
            path = [(lvl, h) for lvl, h in path if lvl < level] + [(level, heading)]
            title = title or heading
        else:
            buffer.append(line)
    flush()
    return Extracted(kind="md", title=title, blocks=blocks)


HTML_BLOCKS = ["p", "li", "pre", "blockquote", "td", "th", "dd", "dt", "figcaption", "caption"]


def extract_html(data: bytes) -> Extracted:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(data, "lxml")
    for tag in soup(["script", "style", "noscript", "nav", "footer", "header", "form", "svg", "template"]):
        tag.decompose()
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    body = soup.body or soup
    blocks: list[Block] = []
    path: list[tuple[int, str]] = []
    headings = {f"h{i}" for i in range(1, 7)}
    for element in body.find_all([*headings, *HTML_BLOCKS, "div"]):
        if element.name in headings:
            level = int(element.name[1])
            heading = element.get_text(" ", strip=True)
            if heading:
                path = [(lvl, h) for lvl, h in path if lvl < level] + [(level, heading)]
                title = title or heading
            continue
        # A block inside another collected block (li > p) is taken once, by the outer one;
        # a div counts only when it holds text directly (no block children).
        if element.find_parent(HTML_BLOCKS):
            continue
        if element.name == "div" and element.find([*headings, *HTML_BLOCKS, "div"]):
            continue
        text = element.get_text(" " if element.name != "pre" else "", strip=element.name != "pre")
        text = re.sub(r"[ \t]+", " ", text).strip()
        if text:
            blocks.append(Block(text, tuple(h for _, h in path)))
    return Extracted(kind="html", title=title, blocks=blocks)


def extract_pdf(data: bytes) -> Extracted:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")
            except Exception:  # noqa: BLE001 - pypdf raises several types for unsupported crypto
                opened = 0
            if not opened:
                raise ExtractionError("The PDF is password-protected; upload a copy without a password.")
        pages = list(reader.pages)
    except ExtractionError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise ExtractionError(f"The PDF is damaged and cannot be read ({exc}).") from exc
    outline = _pdf_outline(reader)
    blocks: list[Block] = []
    for number, page in enumerate(pages, start=1):
        try:
            text = page.extract_text() or ""
        except Exception as exc:
            raise ExtractionError(f"Page {number} of the PDF is damaged and cannot be read ({exc}).") from exc
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


def _pdf_paragraphs(text: str) -> list[str]:
    # pypdf gives lines; blank lines separate paragraphs, and hyphenated line ends are joined.
    text = re.sub(r"-\n(?=[a-z])", "", text)
    paragraphs = []
    for paragraph in re.split(r"\n\s*\n", text):
        joined = re.sub(r"\s*\n\s*", " ", paragraph).strip()
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


def extract_docx(data: bytes) -> Extracted:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise ExtractionError(f"The Word document is damaged and cannot be read ({exc}).") from exc
    blocks: list[Block] = []
    path: list[tuple[int, str]] = []
    title = (document.core_properties.title or "").strip()
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
            continue
        blocks.append(Block(text, tuple(h for _, h in path)))
    for table in document.tables:
        for row in table.rows:
            cells = [cell.text.strip() for cell in row.cells if cell.text.strip()]
            if cells:
                blocks.append(Block(" | ".join(cells), tuple(h for _, h in path)))
    return Extracted(kind="docx", title=title, blocks=blocks)


EXTRACTORS = {"txt": extract_txt, "md": extract_md, "html": extract_html, "pdf": extract_pdf, "docx": extract_docx}


def extract(filename: str, data: bytes) -> Extracted:
    kind = detect_kind(filename, data)
    extracted = EXTRACTORS[kind](data)
    if not any(block.text.strip() for block in extracted.blocks):
        raise ExtractionError("The file contains no text to learn from.")
    return extracted
