"""Real files of every supported type, built in memory for tests (fpdf2, python-docx, pypdf)."""

import io

REFUND = "Refunds are processed within 14 days of a request to the support team."
INSTALL = "Run make run to start the platform; it starts PostgreSQL with pgvector and Redis."


def txt() -> bytes:
    return f"Beacon guide\n\n{INSTALL}\n\n{REFUND}\n".encode()


def md() -> bytes:
    return f"# Beacon Guide\n\nIntro text.\n\n## Installation\n\n{INSTALL}\n\n## Billing\n\n{REFUND}\n".encode()


def html() -> bytes:
    return (
        "<!doctype html><html><head><title>Beacon Guide</title><script>alert('x')</script></head><body>"
        "<nav>Home | Docs</nav><h1>Beacon Guide</h1><p>Intro text.</p>"
        f"<h2>Installation</h2><p>{INSTALL}</p><h2>Billing</h2><ul><li>{REFUND}</li></ul>"
        "</body></html>"
    ).encode()


def pdf(pages: list[tuple[str, str]] | None = None, *, password: str | None = None) -> bytes:
    """A text PDF with one (heading, body) per page and bookmarks for the headings."""
    from fpdf import FPDF

    pages = pages or [("Installation", INSTALL), ("Billing", REFUND)]
    document = FPDF()
    document.set_title("Beacon Guide")
    for heading, body in pages:
        document.add_page()
        document.set_font("Helvetica", size=16)
        document.start_section(heading)
        document.cell(0, 10, heading, new_x="LMARGIN", new_y="NEXT")
        document.set_font("Helvetica", size=11)
        document.multi_cell(0, 6, body)
    data = bytes(document.output())
    if password is None:
        return data
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password=password, owner_password=password + "-owner")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def docx() -> bytes:
    import docx as python_docx

    document = python_docx.Document()
    document.core_properties.title = "Beacon Guide"
    document.add_heading("Beacon Guide", level=1)
    document.add_paragraph("Intro text.")
    document.add_heading("Installation", level=2)
    document.add_paragraph(INSTALL)
    document.add_heading("Billing", level=2)
    document.add_paragraph(REFUND)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
CORRUPT_PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >>\nthis is not a real pdf at all\n%%EOF"


def rst() -> bytes:
    """reStructuredText with an overlined title, a Sphinx role, a code block and a note."""
    return (
        "============\n Beacon Guide\n============\n\nIntro text.\n\n"
        f"Installation\n============\n\n{INSTALL}\n\n.. code-block:: bash\n\n    make run\n\n"
        f"Billing\n=======\n\n{REFUND}\n\n.. note::\n\n   Ask :ref:`support <contact>` for anything else.\n"
    ).encode()


ALL = {"guide.txt": txt, "guide.md": md, "guide.rst": rst, "guide.html": html, "guide.pdf": pdf, "guide.docx": docx}
