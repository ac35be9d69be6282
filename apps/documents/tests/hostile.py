"""Hostile files of issue 13, built in memory: deep and wide HTML, zip bombs, a lying ZIP header,
a PDF with many pages, a page that costs CPU. Each is small to send and costly to read naively."""

import io
import struct
import zipfile

from apps.documents.tests import samples

MB = 1024 * 1024


def nested_html(depth: int, text: str = "Deep answer.") -> bytes:
    """`depth` nested <div>s around one sentence (100,000 levels: 1.1 MB)."""
    return ("<html><body>" + "<div>" * depth + text + "</div>" * depth + "</body></html>").encode()


def flat_html(size: int) -> bytes:
    """Sibling <p>s of about `size` bytes: the same bytes as nested HTML, no depth."""
    unit = "<p>Flat answer.</p>"
    return ("<html><body>" + unit * max(1, (size - 26) // len(unit)) + "</body></html>").encode()


def wide_html(elements: int) -> bytes:
    return ("<html><body>" + "<p>x</p>" * elements + "</body></html>").encode()


def docx_with(extra: dict[str, int]) -> bytes:
    """The sample DOCX plus parts of NUL bytes, {name: inflated size}: 20 MB packs into about 20 KB."""
    source = zipfile.ZipFile(io.BytesIO(samples.docx()))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for member in source.infolist():
            archive.writestr(member, source.read(member.filename))
        for name, size in extra.items():
            with archive.open(name, "w", force_zip64=size > 2**31) as part:
                chunk = b"\x00" * MB
                for _ in range(size // MB):
                    part.write(chunk)
    return buffer.getvalue()


def docx_bomb(inflated_mb: int = 300) -> bytes:
    """The sample DOCX whose first paragraph's text is `inflated_mb` MB of one letter, in the part
    python-docx always parses (word/document.xml): about 300 KB on disk for 300 MB."""
    source = zipfile.ZipFile(io.BytesIO(samples.docx()))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for member in source.infolist():
            content = source.read(member.filename)
            if member.filename != "word/document.xml":
                archive.writestr(member, content)
                continue
            cut = content.index(b"<w:t>") + len(b"<w:t>")
            with archive.open("word/document.xml", "w") as part:
                part.write(content[:cut])
                chunk = b"A" * MB
                for _ in range(inflated_mb):
                    part.write(chunk)
                part.write(content[cut:])
    return buffer.getvalue()


def docx_lying_header(part: str = "word/document.xml", declared: int = 100) -> bytes:
    """The sample DOCX whose `part` declares `declared` bytes (central directory and local header)
    but inflates to its real size."""
    data = bytearray(samples.docx())
    info = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo(part)
    struct.pack_into("<I", data, info.header_offset + 22, declared)
    position = 0
    while (position := data.find(b"PK\x01\x02", position)) != -1:
        name_length = struct.unpack_from("<H", data, position + 28)[0]
        if data[position + 46 : position + 46 + name_length].decode() == part:
            struct.pack_into("<I", data, position + 24, declared)
        position += 4
    return bytes(data)


def pdf_pages(count: int) -> bytes:
    return samples.pdf([(f"Part {number}", f"Text of page {number}.") for number in range(1, count + 1)])
