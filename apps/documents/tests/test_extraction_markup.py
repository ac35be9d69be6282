"""Parsing that keeps structure (issue 14): reStructuredText, Markdown and code in chunks.

Real-world samples in tests/data: two excerpts of Celery 5.7's Sphinx sources (docs/userguide/calling.rst,
the first 158 lines; docs/userguide/configuration.rst, its head and part of "Task execution settings"; BSD
licence) and the README of fasteners 0.20 as published on PyPI (Apache-2.0).

Coverage:
- reST (docutils, tolerant of Sphinx): section titles (overlined and underlined) build the heading path and
  the title; `contents`, targets, `setting` and other Sphinx directives leave no text; roles become their
  display text (`~x.Y` -> `Y`, `text <label>` -> `text`); `code-block` and `::` blocks are code with their
  indentation and language; `versionadded`/`deprecated` read as sentences, `note`/`seealso` as their text;
  object descriptions read as "signature: description"; no directive, role, target or underline syntax
  is left in any text block of the whole samples;
- `.txt` files: reST by its content is read as reST (kind "rst"); plain prose, including prose with
  underlined titles, lists, times and "::" in a sentence, stays plain text, paragraph for paragraph;
- docutils failures fall back to plain text: a line over docutils' length limit, nesting over the
  recursion limit; a file holding only an `include` has no text;
- Markdown (markdown-it-py): setext and ATX headings, badges (images) and HTML comments dropped, link
  text kept, inline code as its text, GFM tables as " | " rows, fenced (~~~ too) and indented code as
  code, HTML blocks as their text, block quotes and list items as paragraphs;
- HTML `<pre>` is a code block with its indentation and language;
- chunks: a code block is stored as a fenced block with its indentation, never sentence-split nor joined
  with spaces; an overlong one is split on line boundaries into fenced blocks under the model's limit,
  every line kept once, in order; a lone overlong line is cut, still fenced;
- the sandbox carries the code flag across the process boundary.
"""

import logging
import re
from pathlib import Path

import pytest
from django.conf import settings

from apps.core.embeddings import get_embedder
from apps.documents.chunking import chunk_blocks
from apps.documents.extraction import Block, ExtractionError, extract
from apps.documents.models import chunk_embed_text
from apps.documents.sandbox import extract_isolated

DATA = Path(__file__).parent / "data"
CALLING = ("Calling Tasks",)
SETTINGS_PATH = ("Configuration and defaults", "Task execution settings")

# What must never reach a text block: directive and target lines, roles, `::`, underline runs, inline literals.
NOISE = {
    "directive": re.compile(r"\.\. [\w:-]+::"),
    "target": re.compile(r"(^|\s)\.\. _"),
    "role": re.compile(r":[a-z][\w:+.-]*:`"),
    "double colon": re.compile(r"::(\s|$)"),
    "underline": re.compile(r"([=\-~^\"'`#*+])\1{3,}"),
    "backquote": re.compile(r"`"),
}


def read(name: str) -> bytes:
    return (DATA / name).read_bytes()


def noise_in(blocks: list[Block]) -> list[tuple[str, str]]:
    return [
        (name, block.text) for block in blocks if not block.code for name, rx in NOISE.items() if rx.search(block.text)
    ]


def find(blocks: list[Block], start: str) -> Block:
    matches = [block for block in blocks if block.text.startswith(start)]
    assert len(matches) == 1, (start, matches)
    return matches[0]


@pytest.fixture(scope="module")
def embedder():
    return get_embedder()


@pytest.fixture
def chunk(embedder):
    def run(blocks, *, max_tokens=settings.CHUNK_MAX_TOKENS, overlap_tokens=settings.CHUNK_OVERLAP_TOKENS):
        return chunk_blocks(
            blocks,
            count_tokens=embedder.count_tokens,
            max_tokens=max_tokens,
            overlap_tokens=overlap_tokens,
            model_limit=embedder.max_tokens,
        )

    return run


# --------------------------------------------------------------------------- reStructuredText


def test_sphinx_page_has_heading_paths_and_no_markup_left():
    """Celery's calling guide: overlined title, nested sections, roles as text, nothing of the markup left."""
    extracted = extract("calling.rst", read("celery_calling.rst"))

    assert extracted.kind == "rst"
    assert extracted.title == "Calling Tasks"
    paths = list(dict.fromkeys(block.heading_path for block in extracted.blocks))
    assert paths == [
        (*CALLING, "Basics"),
        (*CALLING, "Basics", "Example"),
        (*CALLING, "Linking (callbacks/errbacks)"),
    ]
    assert noise_in(extracted.blocks) == []
    texts = [block.text for block in extracted.blocks]
    # `.. contents::` would list the section titles; it is dropped.
    assert "Basics" not in texts and "Example" not in texts
    # :ref:`canvas <guide-canvas>` -> canvas; :meth:`~@Task.delay` -> delay; :class:`~datetime.datetime` -> datetime
    assert find(extracted.blocks, "This document describes").text == (
        'This document describes Celery\'s uniform "Calling API" used by task instances and the canvas.'
    )
    assert find(extracted.blocks, "The delay method").heading_path == (*CALLING, "Basics", "Example")
    assert find(extracted.blocks, "T.apply_async(expires=").text == (
        "T.apply_async(expires=now + timedelta(days=2)): expires in 2 days, set using datetime."
    )
    # A sidebar's title and body, an inline literal's text.
    assert "What's s?" in texts
    assert find(extracted.blocks, "The add.s call used here").text.endswith("a simpler way to chain tasks together.")


def test_sphinx_code_blocks_keep_language_and_indentation():
    """`code-block:: python` is a code block, fenced, with its indentation; the text around stays text."""
    extracted = extract("calling.rst", read("celery_calling.rst"))

    code = [block for block in extracted.blocks if block.code]
    assert (
        Block("```python\n@app.task\ndef add(x, y):\n    return x + y\n```", (*CALLING, "Basics", "Example"), code=True)
        in code
    )
    assert (
        Block(
            "```python\n@app.task\ndef error_handler(request, exc, traceback):\n"
            "    print('Task {0} raised exception: {1!r}\\n{2!r}'.format(\n"
            "          request.id, exc, traceback))\n```",
            (*CALLING, "Linking (callbacks/errbacks)"),
            code=True,
        )
        in code
    )
    assert all(block.text.startswith("```python\n") and block.text.endswith("\n```") for block in code)


def test_sphinx_settings_page_reads_directives_as_sentences():
    """Celery's configuration page: `.. setting::` adds nothing, versionadded/deprecated read as sentences,
    notes and seealso as their text, each under the setting's own heading."""
    extracted = extract("configuration.rst", read("celery_configuration.rst"))

    assert extracted.title == "Configuration and defaults"
    assert noise_in(extracted.blocks) == []
    assert find(extracted.blocks, "Task hard time limit in seconds.").heading_path == (
        *SETTINGS_PATH,
        "task_time_limit",
    )
    assert [block.text for block in extracted.blocks if block.heading_path == (*SETTINGS_PATH, "task_acks_late")] == [
        "Default: Disabled.",
        "Late ack means the task messages will be acknowledged after the task has been executed, not right "
        "before (the default behavior).",
        "FAQ: faq acks late vs retry.",
        "On RabbitMQ 4.0 and later, quorum queues drop a message (or dead-letter it) after 20 redeliveries by "
        "default. A task that keeps crashing its worker can disappear this way, and the worker won't log the drop. "
        "See quorum queues delivery limit for details.",
    ]
    assert find(extracted.blocks, "New in version 5.3.").heading_path[-1] == "task_allow_error_cb_on_chord_header"
    assert find(extracted.blocks, "Deprecated since version").text == (
        "Deprecated since version 6.0: Use task_acks_on_failure and task_acks_on_timeout instead."
    )
    assert not [block for block in extracted.blocks if block.text in ("task_time_limit", "task_acks_late")]
    soft = [block for block in extracted.blocks if block.code and "SoftTimeLimitExceeded" in block.text]
    assert soft[0].text == (
        "```python\nfrom celery.exceptions import SoftTimeLimitExceeded\n\n@app.task\ndef mytask():\n    try:\n"
        "        return do_work()\n    except SoftTimeLimitExceeded:\n        cleanup_in_a_hurry()\n```"
    )


def test_rst_tolerates_unknown_directives_roles_and_object_descriptions():
    """Directives and roles no registry knows keep their content as text; an object description reads
    "signature: description"; `toctree`, `automodule` arguments, `literalinclude` and `|version|` add nothing."""
    source = (
        "Guide\n=====\n\n.. toctree::\n   :maxdepth: 2\n\n   intro\n   usage\n\n"
        ".. literalinclude:: ../example.py\n   :lines: 1-10\n\n"
        ".. my-extension-box:: Some label\n   :custom-option: yes\n\n   Text inside an unknown directive.\n\n"
        "Release |version| uses :my-own-role:`shown text` and :py:func:`!plain` and :doc:`the guide <guide>`.\n\n"
        ".. function:: apply_async(args=None, kwargs=None)\n\n   Apply the task asynchronously.\n\n"
        ".. envvar:: CELERY_CONFIG_MODULE\n\n   The configuration module.\n\n"
        "Term\n   Its definition.\n\n"
        ":Author: Someone\n\n"
        "Literal::\n\n    $ celery -A proj worker\n"
    )

    extracted = extract("guide.rst", source.encode())

    assert extracted.blocks == [
        Block("Text inside an unknown directive.", ("Guide",)),
        Block("Release uses shown text and plain and the guide.", ("Guide",)),
        Block("apply_async(args=None, kwargs=None): Apply the task asynchronously.", ("Guide",)),
        Block("CELERY_CONFIG_MODULE: The configuration module.", ("Guide",)),
        Block("Term: Its definition.", ("Guide",)),
        Block("Author: Someone", ("Guide",)),
        Block("Literal:", ("Guide",)),
        Block("```\n$ celery -A proj worker\n```", ("Guide",), code=True),
    ]


def test_rst_from_autodoc_keeps_its_written_content():
    """An API page whose sections sit inside `automodule` (as Celery's reference pages do) keeps them."""
    source = (
        ".. currentmodule:: celery.app.amqp\n\n.. automodule:: celery.app.amqp\n\n"
        "    .. contents::\n        :local:\n\n"
        "    AMQP\n    ----\n\n    .. autoclass:: AMQP\n\n        .. attribute:: Connection\n\n"
        "            Broker connection class used. Default is :class:`kombu.Connection`.\n"
    )

    extracted = extract("celery.app.amqp.rst", source.encode())

    assert extracted.title == "AMQP"
    assert extracted.blocks == [
        Block("Connection: Broker connection class used. Default is kombu.Connection.", ("AMQP",))
    ]


def test_rst_a_line_over_the_docutils_limit_reads_as_plain_text(caplog):
    """docutils drops a whole document with a line over 10,000 characters: Beacon reads it as plain text."""
    long_line = "word " * 2_500
    source = f"Title\n=====\n\n{long_line}\n\nNext paragraph.\n"

    with caplog.at_level(logging.WARNING, logger="apps.documents.extraction_rst"):
        extracted = extract("long.rst", source.encode())

    assert extracted.kind == "rst"
    assert [block.text for block in extracted.blocks] == ["Title\n=====", long_line.strip(), "Next paragraph."]
    assert "over docutils' limit" in caplog.text


def test_rst_nesting_over_the_recursion_limit_reads_as_plain_text(caplog):
    """Indentation 1,500 levels deep makes docutils recurse too far: the text is kept as plain paragraphs."""
    source = "".join(" " * level + f"level {level}\n\n" for level in range(1_500))

    with caplog.at_level(logging.WARNING, logger="apps.documents.extraction_rst"):
        extracted = extract("deep.rst", source.encode())

    assert [block.text for block in extracted.blocks] == [f"level {level}" for level in range(1_500)]
    assert "RecursionError" in caplog.text


def test_rst_with_only_an_include_has_no_text():
    """A page that only includes another file (not read: no file insertion) has nothing to learn from."""
    with pytest.raises(ExtractionError, match=r"^The file contains no text to learn from\.$"):
        extract("changelog.rst", b".. include:: ../Changelog.rst\n")


# --------------------------------------------------------------------------- .txt that is reST


def test_txt_that_is_rst_is_read_as_rst():
    """The Sphinx page saved as .txt is recognised by its content and read exactly like the .rst file."""
    as_txt = extract("calling.txt", read("celery_calling.rst"))

    assert as_txt.kind == "rst"
    assert as_txt == extract("calling.rst", read("celery_calling.rst"))


@pytest.mark.parametrize(
    "source",
    [
        # A plain-text README with underlined titles only: how people write text files too.
        "Installation\n============\n\nRun the installer.\n\nUsage\n=====\n\nOpen the app.\n",
        # An e-mail with a signature separator, a list, times and a colon-heavy line.
        "Hello team,\n\nThe meeting moves to 10:30. Agenda: budget, hiring :) and travel.\n\n- item one\n- item two\n\n"
        "Regards,\n---\nAnna\n",
        # Ellipses at line starts, a '::' inside a sentence, a rule of dashes between paragraphs.
        ".. and then it rained.\n\nThe C++ scope operator :: joins names.\n\n----------\n\nThe end.\n",
        # Markdown-ish notes in a .txt.
        "# Notes\n\n* one\n* two\n\n`code` and **bold**\n",
    ],
    ids=["underlined-titles", "email", "ellipsis-and-rule", "markdown-ish"],
)
def test_plain_text_stays_plain_text(source):
    """Ordinary text is never mistaken for reST: kind txt, one block per paragraph, as before."""
    extracted = extract("notes.txt", source.encode())

    assert extracted.kind == "txt"
    assert [block.text for block in extracted.blocks] == [p.strip() for p in source.split("\n\n") if p.strip()]


def test_small_rst_txt_with_a_directive_and_a_title_is_rst():
    """One title and one directive are enough (each is reST's own syntax)."""
    source = b"Setup\n=====\n\n.. note::\n\n   Use Python 3.11.\n\nRun ``make``.\n"

    extracted = extract("setup.txt", source)

    assert extracted.kind == "rst"
    assert extracted.blocks == [Block("Use Python 3.11.", ("Setup",)), Block("Run make.", ("Setup",))]


# --------------------------------------------------------------------------- Markdown


def test_readme_markdown_headings_tables_and_code():
    """fasteners' README: setext H1/H2 and ATX H3 nest; badges and the HTML comment are dropped; links read
    as their text; tables become rows; fenced code keeps language and indentation."""
    extracted = extract("README.md", read("fasteners_readme.md"))

    assert extracted.kind == "md"
    assert extracted.title == "Fasteners"
    paths = list(dict.fromkeys(block.heading_path for block in extracted.blocks))
    assert paths == [
        ("Fasteners",),
        ("Fasteners", "🔩 Install"),
        ("Fasteners", "🔩 Usage"),
        ("Fasteners", "🔩 Overview"),
        ("Fasteners", "🔩 Overview", "Process locks"),
        ("Fasteners", "🔩 Overview", "Thread locks"),
    ]
    texts = [block.text for block in extracted.blocks]
    assert texts[0] == "Cross-platform locks for threads and processes."
    assert not [text for text in texts if "badge" in text or "shields" in text or "real Markdown sample" in text]
    assert "Lock for processes has the same API as the threading.Lock for threads:" in texts
    assert find(extracted.blocks, "The `fasteners.InterProcessLock` uses fcntl").text.startswith(
        "The `fasteners.InterProcessLock` uses fcntl on Unix-like systems and msvc _locking on Windows."
    )
    assert [block.text for block in extracted.blocks if block.heading_path[-1] == "Thread locks"][1:] == [
        "lock | reentrant | mandatory",
        "threading.Lock | ✘ | ✘",
        "threading.RLock | ✔ | ✘",
    ]
    assert Block("```\npip install fasteners\n```", ("Fasteners", "🔩 Install"), code=True) in extracted.blocks
    usage = [block for block in extracted.blocks if block.code and block.heading_path[-1] == "🔩 Usage"]
    assert usage[0].text.startswith(
        "```python\nimport fasteners\nimport threading\n\n"
        "lock = threading.Lock()                                 # for threads\n"
    )
    assert "\nwith lock:\n    ... # exclusive access\n" in usage[0].text
    assert [block for block in extracted.blocks if not block.code and "```" in block.text] == []


def test_markdown_blocks_of_every_kind():
    """Setext H2, block quotes, nested lists (their items marked, as the answerer and the widget read lists),
    indented and ~~~ code, HTML blocks as text, inline code in backticks, emphasis and strikethrough markers gone,
    reference links by their text, images dropped."""
    source = (
        "Guide\n=====\n\nSetup\n-----\n\n> Quoted *advice* with `inline code`.\n\n"
        "    indented code\n        deeper\n\n"
        "1. First\n   - nested ~~old~~ item\n2. Second [see docs][docs]\n\n~~~yaml\nkey: value\n~~~\n\n"
        '<div align="center">Hi &amp; <b>there</b></div>\n\n![logo](logo.png) Caption text.\n\n'
        "[docs]: https://example.com\n"
    )

    extracted = extract("guide.md", source.encode())

    path = ("Guide", "Setup")
    assert extracted.blocks == [
        Block("Quoted advice with `inline code`.", path),
        Block("```\nindented code\n    deeper\n```", path, code=True),
        Block("1. First", path),
        Block("  - nested old item", path),
        Block("2. Second see docs", path),
        Block("```yaml\nkey: value\n```", path, code=True),
        Block("Hi & there", path),
        Block("Caption text.", path),
    ]


def test_html_pre_is_a_code_block_with_its_indentation():
    """<pre><code class="language-python"> keeps its lines and language; paragraphs stay text."""
    page = (
        b"<h1>API</h1><p>Call it like this:</p>"
        b'<pre><code class="language-python">def run():\n    return 1\n</code></pre>'
    )

    extracted = extract("api.html", page)

    assert extracted.blocks == [
        Block("Call it like this:", ("API",)),
        Block("```python\ndef run():\n    return 1\n```", ("API",), code=True),
    ]


# --------------------------------------------------------------------------- code in chunks


def fences_balanced(text: str) -> bool:
    return sum(1 for line in text.split("\n") if line.startswith("```")) % 2 == 0


def test_chunks_store_code_fenced_with_indentation(chunk):
    """The Sphinx sample's chunks: each code block appears whole, fenced and indented, never joined into prose."""
    extracted = extract("calling.rst", read("celery_calling.rst"))

    drafts = chunk(extracted.blocks)

    assert all(fences_balanced(draft.text) for draft in drafts)
    joined = "\n\n".join(draft.text for draft in drafts)
    for block in extracted.blocks:
        if block.code:
            assert block.text in joined
    assert "def add(x, y): return x + y" not in joined
    add = [draft for draft in drafts if "def add(x, y):\n    return x + y" in draft.text]
    assert add and add[0].heading_path == (*CALLING, "Basics", "Example")


def test_overlong_code_block_splits_on_lines_into_fenced_blocks(embedder, chunk):
    """A 400-line function: several fenced blocks under the limit, every line whole, in order, indentation kept."""
    lines = ["def handler(event):"] + [
        f"    {'    ' * (number % 3)}value_{number} = compute(event, step={number})" for number in range(400)
    ]
    block = Block("```python\n" + "\n".join(lines) + "\n```", ("API",), code=True)

    drafts = chunk([Block("Intro sentence.", ("API",)), block], overlap_tokens=0)

    assert len(drafts) > 3
    counts = embedder.count_tokens([chunk_embed_text(d.heading_path, d.text) for d in drafts])
    assert max(counts) <= embedder.max_tokens
    code_lines = []
    for draft in drafts:
        for segment in draft.text.split("\n\n"):
            if segment.startswith("```"):
                assert segment.startswith("```python\n") and segment.endswith("\n```")
                code_lines += segment.split("\n")[1:-1]
    assert code_lines == lines


def test_a_code_line_longer_than_the_model_reads_is_cut_and_still_fenced(embedder, chunk):
    """A minified line of 3,000 tokens: pieces under the limit, each a fenced block, characters all kept."""
    line = "".join(f"a{number}=1;" for number in range(1_000))
    block = Block(f"```js\n{line}\n```", ("Build",), code=True)

    drafts = chunk([block])

    assert max(embedder.count_tokens([chunk_embed_text(d.heading_path, d.text) for d in drafts])) <= embedder.max_tokens
    assert all(d.text.startswith("```js\n") and d.text.endswith("\n```") for d in drafts)
    assert "".join(d.text[len("```js\n") : -len("\n```")] for d in drafts) == line


def test_isolated_extraction_keeps_the_code_flag():
    """The child process's answer carries code blocks as code (the flag crosses the JSON boundary)."""
    data = read("fasteners_readme.md")

    isolated = extract_isolated("README.md", data)

    assert isolated == extract("README.md", data)
    assert sum(block.code for block in isolated.blocks) == 3


def test_lists_keep_their_markers_in_every_format():
    """List items are stored as Markdown marks them, so the answerer and the widget read them as lists: reST letter
    and roman lists keep their enumerator after a bullet ("see step b" still finds it); Word's numbered lists count
    per level and start again under a new heading."""
    import io

    import docx as python_docx

    rst = extract("steps.rst", b"Steps\n=====\n\nDo this:\n\na. alpha\nb. beta\n\n(iv) four\n\n#. one\n#. two\n")
    assert [block.text for block in rst.blocks] == [
        "Do this:", "- a. alpha", "- b. beta", "- (iv) four", "1. one", "2. two",
    ]  # fmt: skip

    document = python_docx.Document()
    document.add_heading("Guide", level=1)
    for text, style in (("one", "List Number"), ("sub a", "List Number 2"), ("sub b", "List Number 2"),
                        ("two", "List Number"), ("a bullet", "List Bullet")):  # fmt: skip
        document.add_paragraph(text, style=style)
    document.add_heading("Next", level=1)
    document.add_paragraph("again", style="List Number")
    out = io.BytesIO()
    document.save(out)
    word = extract("guide.docx", out.getvalue())
    assert [block.text for block in word.blocks] == ["1. one", "  1. sub a", "  2. sub b", "2. two", "- a bullet",
                                                     "1. again"]  # fmt: skip
