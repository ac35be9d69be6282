"""Text extraction (apps.documents.extraction): structure kept, bad files refused with a readable message.

Coverage:
- every supported type built by `samples` (txt, md, rst, html, pdf, docx): the kind, the blocks (text and heading
  path, code), the title, and for PDF the page of each block, the page count and heading paths from bookmarks;
- HTML drops script, style, nav, header, footer and form content; nested blocks (li > p) are taken once;
  the title falls back to the first heading; site chrome in divs and tables (excerpts of real pages: DocBook's
  navheader/navfooter, Node.js's role=navigation sidebar and role=main, gtk-doc's layout tables) is dropped and
  layout table cells keep their headings as structure (issue 17, benchmarks/html_extraction.py);
- Markdown: heading levels build the path (a sibling resets deeper levels); ``` and ~~~ code fences never
  create headings; DOCX tables become " | " rows;
- refused files raise ExtractionError with a sentence for people: mislabelled (a PNG named .pdf, a plain zip
  named .docx, a text file named .pdf, a PDF named .docx, a ZIP named .txt), empty, whitespace-only,
  password-protected PDF, corrupt PDF, a PDF without extractable text, binary bytes named .txt;
- encodings: UTF-8 with BOM, UTF-16 with BOM and Latin-1 text decode, short French Latin-1 text included; a text
  file that starts with "MZ" is text, not a Windows program.
"""

import io
import zipfile

import pytest

from apps.documents.extraction import Block, ExtractionError, extract
from apps.documents.tests import samples

GUIDE = "Beacon Guide"


def texts(extracted) -> list[str]:
    return [block.text for block in extracted.blocks]


# --------------------------------------------------------------------------- supported types


def test_txt_paragraphs_become_blocks_without_headings():
    """A .txt file: one block per paragraph, no heading path, no title, no pages."""
    extracted = extract("guide.txt", samples.txt())

    assert extracted.kind == "txt"
    assert extracted.title == ""
    assert extracted.page_count is None
    assert extracted.blocks == [
        Block("Beacon guide"),
        Block(samples.INSTALL),
        Block(samples.REFUND),
    ]


def test_markdown_headings_become_heading_paths_and_title():
    """Markdown: '#' levels build the path under the H1, which is the title."""
    extracted = extract("guide.md", samples.md())

    assert extracted.kind == "md"
    assert extracted.title == GUIDE
    assert extracted.page_count is None
    assert extracted.blocks == [
        Block("Intro text.", (GUIDE,)),
        Block(samples.INSTALL, (GUIDE, "Installation")),
        Block(samples.REFUND, (GUIDE, "Billing")),
    ]


def test_rst_sections_become_heading_paths_and_title():
    """reST (issue 14): the overlined title heads the path, the code block is code, the note and its role are text."""
    extracted = extract("guide.rst", samples.rst())

    assert extracted.kind == "rst"
    assert extracted.title == GUIDE
    assert extracted.page_count is None
    assert extracted.blocks == [
        Block("Intro text.", (GUIDE,)),
        Block(samples.INSTALL, (GUIDE, "Installation")),
        Block("```bash\nmake run\n```", (GUIDE, "Installation"), code=True),
        Block(samples.REFUND, (GUIDE, "Billing")),
        Block("Ask support for anything else.", (GUIDE, "Billing")),
    ]


def test_html_headings_become_heading_paths_and_title():
    """HTML: h1/h2 build the path, <title> is the title, p and li are blocks."""
    extracted = extract("guide.html", samples.html())

    assert extracted.kind == "html"
    assert extracted.title == GUIDE
    assert extracted.blocks == [
        Block("Intro text.", (GUIDE,)),
        Block(samples.INSTALL, (GUIDE, "Installation")),
        Block(f"- {samples.REFUND}", (GUIDE, "Billing")),  # an <li>: a list item
    ]


def test_pdf_blocks_carry_page_numbers_and_bookmark_headings():
    """PDF: each block knows its page, the bookmarks give heading paths, the metadata title is kept."""
    extracted = extract("guide.pdf", samples.pdf())

    assert extracted.kind == "pdf"
    assert extracted.title == GUIDE
    assert extracted.page_count == 2
    assert [(block.page, block.heading_path) for block in extracted.blocks] == [
        (1, ("Installation",)),
        (2, ("Billing",)),
    ]
    # The heading line and its body are adjacent lines on the page, so they form one paragraph.
    assert extracted.blocks[0].text == f"Installation {samples.INSTALL}"
    assert extracted.blocks[1].text == f"Billing {samples.REFUND}"


def test_pdf_pages_without_their_own_bookmark_keep_the_previous_heading():
    """A page after a bookmarked page (and before the next bookmark) inherits that heading."""
    data = samples.pdf([("Installation", samples.INSTALL), ("Billing", samples.REFUND)])
    three_pages = _pdf_with_extra_page(data, "Extra notes about billing on a third page.")

    extracted = extract("guide.pdf", three_pages)

    assert extracted.page_count == 3
    assert [(block.page, block.heading_path) for block in extracted.blocks][-1] == (3, ("Billing",))
    assert extracted.blocks[-1].text == "Extra notes about billing on a third page."


def _pdf_with_extra_page(data: bytes, text: str) -> bytes:
    from fpdf import FPDF
    from pypdf import PdfReader, PdfWriter

    extra = FPDF()
    extra.add_page()
    extra.set_font("Helvetica", size=11)
    extra.multi_cell(0, 6, text)
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.add_page(PdfReader(io.BytesIO(bytes(extra.output()))).pages[0])
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_docx_heading_styles_become_heading_paths_and_title():
    """DOCX: Heading 1/2 styles build the path; the core properties give the title."""
    extracted = extract("guide.docx", samples.docx())

    assert extracted.kind == "docx"
    assert extracted.title == GUIDE
    assert extracted.page_count is None
    assert extracted.blocks == [
        Block("Intro text.", (GUIDE,)),
        Block(samples.INSTALL, (GUIDE, "Installation")),
        Block(samples.REFUND, (GUIDE, "Billing")),
    ]


def test_docx_title_style_and_tables():
    """A 'Title' paragraph is the title when the properties have none; table rows become ' | ' blocks."""
    import docx as python_docx

    document = python_docx.Document()
    document.add_heading("Price list", level=0)  # level 0 = the 'Title' style
    document.add_paragraph("Our prices.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Plan", "Price"
    table.cell(1, 0).text, table.cell(1, 1).text = "Pro", "10 EUR"
    out = io.BytesIO()
    document.save(out)

    extracted = extract("prices.docx", out.getvalue())

    assert extracted.title == "Price list"
    assert extracted.blocks == [
        Block("Our prices.", ("Price list",)),
        Block("Plan | Price", ("Price list",)),
        Block("Pro | 10 EUR", ("Price list",)),
    ]


def test_html_drops_script_style_nav_header_footer_and_form():
    """Only the page's content is kept: no script, style, nav, header, footer or form text."""
    page = (
        b"<html><head><title>T</title><style>p { color: red }</style><script>var secret = 1;</script></head>"
        b"<body><header>Site header</header><nav>Home | Docs</nav><h1>Help</h1>"
        b"<p>Visible answer.</p><script>alert('x')</script><form><label>Search the site</label></form>"
        b"<footer>Copyright footer</footer></body></html>"
    )

    extracted = extract("page.html", page)

    assert texts(extracted) == ["Visible answer."]
    everything = " ".join(texts(extracted)) + extracted.title
    for dropped in ("secret", "alert", "color", "Site header", "Home | Docs", "Search the site", "Copyright"):
        assert dropped not in everything


def test_html_nested_blocks_are_taken_once_and_title_falls_back_to_h1():
    """An li holding a p is one block; without <title> the first heading is the title."""
    page = b"<div><h1>Help</h1><ul><li><p>Nested once.</p></li></ul><div>Loose div text.</div></div>"

    extracted = extract("page.html", page)

    assert extracted.title == "Help"
    assert extracted.blocks == [Block("- Nested once.", ("Help",)), Block("Loose div text.", ("Help",))]


# Excerpts of real documentation pages whose site chrome sits in divs and tables, not in nav/header/footer tags.
DOCBOOK_PAGE = (  # PostgreSQL 15 HTML documentation (DocBook XSL), sql-createuser.html, shortened
    b'<html><head><title>CREATE USER</title></head><body id="docContent" class="container-fluid col-10">'
    b'<div class="navheader"><table width="100%" summary="Navigation header"><tr><th colspan="3" align="center">'
    b'CREATE USER</th></tr><tr><td width="10%" align="left"><a accesskey="p" href="sql-createtype.html">Prev</a>'
    b'</td><td width="10%" align="left"><a accesskey="u" href="sql-commands.html">Up</a></td><th width="60%" '
    b'align="center">SQL Commands</th><td width="20%" align="right"> <a accesskey="n" '
    b'href="sql-createusermapping.html">Next</a></td></tr></table><hr /></div>'
    b'<div class="refentry" id="SQL-CREATEUSER"><div class="titlepage"></div><div class="refnamediv"><h2>'
    b"CREATE USER</h2><p>CREATE USER &#8212; define a new database role</p></div>"
    b'<div class="refsect1" id="id-1.9.3.95.6"><h2>Description</h2><p><code class="command">CREATE USER</code> '
    b"is now an alias for CREATE ROLE.</p></div></div>"
    b'<div class="navfooter"><hr /><table width="100%" summary="Navigation footer"><tr><td width="40%" '
    b'align="left"><a accesskey="p" href="sql-createtype.html">Prev</a> </td><td width="20%" align="center">'
    b'<a accesskey="u" href="sql-commands.html">Up</a></td><td width="40%" align="right"> <a accesskey="n" '
    b'href="sql-createusermapping.html">Next</a></td></tr><tr><td width="40%" align="left" valign="top">'
    b'CREATE TYPE </td><td width="20%" align="center"><a accesskey="h" href="index.html">Home</a></td>'
    b'<td width="40%" align="right" valign="top"> CREATE USER MAPPING</td></tr></table></div></body></html>'
)
NODE_PAGE = (  # Node.js 20 API documentation, zlib.html, shortened
    b'<html><head><title>Zlib | Node.js v20.20.2 Documentation</title></head><body class="alt apidoc" '
    b'id="api-section-zlib"><div id="content" class="clearfix"><div role="navigation" id="column2" '
    b'class="interior"><div id="intro" class="interior"><a href="/">Node.js</a></div><ul><li><a '
    b'href="documentation.html">About this documentation</a></li><li><a href="synopsis.html">Usage and example'
    b'</a></li></ul><div class="line"></div><ul><li><a href="assert.html">Assertion testing</a></li></ul></div>'
    b'<div id="column1" data-id="zlib" class="interior"><header class="header"><div class="header-container">'
    b'<h1>Node.js v20.20.2 documentation</h1></div></header><div id="gtoc"><ul><li>Other versions</li></ul>'
    b'</div><hr><div id="toc"><h2>Table of contents</h2><ul><li><a href="#zlib">Zlib</a></li></ul></div>'
    b'<div role="main" id="apicontent"><h2>Zlib<span><a class="mark" href="#zlib">#</a></span></h2>'
    b"<p>The <code>node:zlib</code> module provides compression functionality implemented using Gzip, "
    b"Deflate/Inflate, and Brotli.</p><h3>Threadpool usage and performance considerations</h3><p>All "
    b"<code>zlib</code> APIs, except those that are explicitly synchronous, use the Node.js internal threadpool."
    b"</p></div></div></div></body></html>"
)
GTKDOC_PAGE = (  # libxslt API documentation (gtk-doc in a page of layout tables), libxslt-extra.html, shortened
    b'<html><head><title>Module extra from libxslt</title></head><body><table border="0" width="100%"><tr><td>'
    b"<h1>The XSLT C library for GNOME</h1><h2>Module extra from libxslt</h2></td></tr></table>"
    b'<table border="0" width="100%"><tr><td valign="top" width="200"><table><tr><td><center><b>API Menu</b>'
    b'</center></td></tr><tr><td><ul><li><a href="../index.html">Main Menu</a></li><li><a href="../ChangeLog.html">'
    b'ChangeLog</a></li></ul></td></tr></table></td><td valign="top"><table class="navigation" width="100%" '
    b'summary="Navigation header"><tr valign="middle"><td><a accesskey="p" href="libxslt-extensions.html">'
    b'<img src="left.png" alt="Prev" /></a></td><th align="left"><a href="libxslt-extensions.html">extensions</a>'
    b"</th></tr></table><p>implement some extension outside the XSLT namespace but not EXSLT with is in a "
    b"different library. </p><h2>Description</h2><h3>Macro: XSLT_LIBXSLT_NAMESPACE</h3><pre>#define "
    b"XSLT_LIBXSLT_NAMESPACE</pre><p>This is the libxslt namespace for specific extensions.</p></td></tr></table>"
    b"</body></html>"
)


def test_html_site_chrome_in_divs_and_tables_is_dropped():
    """DocBook's navheader/navfooter tables, a role=navigation sidebar, the page outside role=main, and gtk-doc's
    navigation table are chrome (issue 17: benchmarks/html_extraction.py measured 46% of such chrome kept before);
    the content and its headings stay."""
    docbook = extract("sql-createuser.html", DOCBOOK_PAGE)
    assert docbook.blocks == [
        Block("CREATE USER \u2014 define a new database role", ("CREATE USER",)),
        Block("CREATE USER is now an alias for CREATE ROLE.", ("Description",)),
    ]
    node = extract("zlib.html", NODE_PAGE)
    assert node.title == "Zlib | Node.js v20.20.2 Documentation"
    assert [(block.heading_path, block.text[:24]) for block in node.blocks] == [
        (("Zlib #",), "The node:zlib module pro"),
        (("Zlib #", "Threadpool usage and performance considerations"), "All zlib APIs, except th"),
    ]
    # gtk-doc's navigation table goes; its unmarked menu cell (a layout table cell like any other) stays.
    gtkdoc = extract("libxslt-extra.html", GTKDOC_PAGE)
    assert "extensions" not in texts(gtkdoc) and "Prev" not in " ".join(texts(gtkdoc))
    assert texts(gtkdoc)[:2] == ["API Menu", "- Main Menu"]


def test_html_layout_table_cells_keep_headings_and_code_as_structure():
    """A table cell that holds headings and blocks is page layout: its paragraphs, code and headings are read as
    in a div (before: one flat block of the whole cell, headings and code fences lost); a data cell stays a block."""
    gtkdoc = extract("libxslt-extra.html", GTKDOC_PAGE)
    assert gtkdoc.blocks[-3:] == [
        Block(
            "implement some extension outside the XSLT namespace but not EXSLT with is in a different library.",
            ("The XSLT C library for GNOME", "Module extra from libxslt"),
        ),
        Block(
            "```\n#define XSLT_LIBXSLT_NAMESPACE\n```",
            ("The XSLT C library for GNOME", "Description", "Macro: XSLT_LIBXSLT_NAMESPACE"),
            code=True,
        ),
        Block(
            "This is the libxslt namespace for specific extensions.",
            ("The XSLT C library for GNOME", "Description", "Macro: XSLT_LIBXSLT_NAMESPACE"),
        ),
    ]
    data = extract("t.html", b"<table><tr><th>Setting</th><td>On <b>by default</b></td></tr></table>")
    assert texts(data) == ["Setting", "On by default"]


def test_markdown_heading_levels_pop_and_code_fences_make_no_headings():
    """'# ...' inside ``` or ~~~ fences is code, not a heading; a sibling H2 resets the H3 under it."""
    source = (
        b"# Manual\n\nIntro.\n\n## Setup\n\n### Linux\n\nUse apt.\n\n"
        b"```bash\n# install the package\napt install beacon\n```\n\n"
        b"~~~\n## not a heading either\n~~~\n\n"
        b"## Usage\n\nRun it.\n"
    )

    extracted = extract("manual.md", source)

    assert extracted.title == "Manual"
    assert extracted.blocks == [
        Block("Intro.", ("Manual",)),
        Block("Use apt.", ("Manual", "Setup", "Linux")),
        # Code blocks carry code=True; a ~~~ fence is stored with the ``` fence of every code block (issue 14).
        Block("```bash\n# install the package\napt install beacon\n```", ("Manual", "Setup", "Linux"), code=True),
        Block("```\n## not a heading either\n```", ("Manual", "Setup", "Linux"), code=True),
        Block("Run it.", ("Manual", "Usage")),
    ]


# --------------------------------------------------------------------------- refused files


def plain_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes.txt", "not a word document")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        pytest.param(
            "picture.pdf",
            samples.PNG,
            "The file is named 'picture.pdf' but its content is a PNG image; supported types are txt, md, rst, "
            "html, pdf and docx.",
            id="png-named-pdf",
        ),
        pytest.param(
            "report.docx",
            plain_zip(),
            "The file is named 'report.docx' but its content is a ZIP archive; supported types are txt, md, rst, "
            "html, pdf and docx.",
            id="zip-named-docx",
        ),
        pytest.param(
            "notes.pdf",
            b"Just some plain text notes.\n",
            "The file is named 'notes.pdf' but it is not a PDF file.",
            id="text-named-pdf",
        ),
        pytest.param(
            "guide.docx",
            samples.pdf(),
            "The file is named 'guide.docx' but it is not a DOCX file.",
            id="pdf-named-docx",
        ),
        pytest.param(
            "archive.txt",
            plain_zip(),
            "The file is named 'archive.txt' but its content is a ZIP archive; supported types are txt, md, rst, "
            "html, pdf and docx.",
            id="zip-named-txt",
        ),
        pytest.param("empty.txt", b"", "The file is empty: there is no text to learn from.", id="empty"),
        pytest.param("empty.pdf", b"", "The file is empty: there is no text to learn from.", id="empty-pdf"),
        pytest.param(
            "blank.md", b"  \n\t\r\n   \n", "The file is empty: there is no text to learn from.", id="whitespace"
        ),
        pytest.param(
            "locked.pdf",
            samples.pdf(password="s3cret"),
            "The PDF is password-protected; upload a copy without a password.",
            id="encrypted-pdf",
        ),
        pytest.param(
            "data.txt",
            b"header\x00\x01\x02\x03binary\xff\xfe payload" * 8,
            "The file is named 'data.txt' but its content is binary data of an unknown type; supported types are "
            "txt, md, rst, html, pdf and docx.",
            id="binary-named-txt",
        ),
    ],
)
def test_refused_files_raise_a_readable_error(name, data, message):
    """Each bad file raises ExtractionError with the exact sentence shown to people."""
    with pytest.raises(ExtractionError) as caught:
        extract(name, data)

    assert str(caught.value) == message


def test_corrupt_pdf_is_reported_as_damaged():
    """A file with a PDF header but no valid structure: a sentence, with pypdf's own words only in the cause
    (logged), never in the message (issue 13)."""
    with pytest.raises(ExtractionError) as caught:
        extract("broken.pdf", samples.CORRUPT_PDF)

    assert str(caught.value) == "The PDF is damaged and cannot be read."
    assert caught.value.__cause__ is not None


def test_pdf_without_text_asks_for_ocr():
    """A PDF of blank (or scanned) pages has no extractable text: the message suggests OCR."""
    from fpdf import FPDF

    document = FPDF()
    document.add_page()
    document.add_page()

    with pytest.raises(ExtractionError, match=r"no extractable text .*run OCR first"):
        extract("scan.pdf", bytes(document.output()))


def test_html_without_text_is_refused():
    """Markup with nothing but scripts and navigation: 'The file contains no text to learn from.'"""
    with pytest.raises(ExtractionError, match=r"^The file contains no text to learn from\.$"):
        extract("empty.html", b"<html><body><nav>Home</nav><script>x()</script></body></html>")


# --------------------------------------------------------------------------- encodings


def test_utf8_bom_is_stripped():
    """A UTF-8 BOM does not end up in the first block."""
    extracted = extract("bom.txt", "\ufeffCafé crème.\n\nSecond paragraph.".encode())

    assert texts(extracted) == ["Café crème.", "Second paragraph."]


def test_utf16_with_bom_decodes():
    """UTF-16 (as saved by Windows Notepad) decodes."""
    extracted = extract("notes.txt", "Grüße aus München.\n\nZweiter Absatz.".encode("utf-16"))

    assert texts(extracted) == ["Grüße aus München.", "Zweiter Absatz."]


@pytest.mark.parametrize(
    "text",
    [
        "Les remboursements sont traités sous quatorze jours après la demande à l'équipe d'assistance. " * 3,
        "El niño comió piñas en la mañana. ¿Qué pasó? ¡Olé!",
        "Rückerstattungen werden innerhalb von 14 Tagen nach einer Anfrage an das Support-Team bearbeitet. "
        "Größere Beträge können länger dauern.",
    ],
    ids=["french", "spanish", "german"],
)
def test_latin1_text_decodes(text):
    """Latin-1 bytes (not valid UTF-8) decode to the original characters."""
    data = text.encode("latin-1")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")

    extracted = extract("legacy.txt", data)

    assert texts(extracted) == [text.strip()]


def test_short_french_latin1_text_decodes():
    """Two ordinary French sentences in Latin-1 decode to the original characters."""
    text = "Le café coûte très cher à Paris. Les crèmes brûlées sont délicieuses et la forêt est très belle en été."

    extracted = extract("menu.txt", text.encode("latin-1"))

    assert texts(extracted) == [text]


def test_text_starting_with_mz_is_text():
    """A .txt whose first word starts with 'MZ' (a model name) is still text."""
    extracted = extract("bikes.txt", b"MZ motorcycles were built in Zschopau.\n\nThey are two-strokes.")

    assert texts(extracted) == ["MZ motorcycles were built in Zschopau.", "They are two-strokes."]
