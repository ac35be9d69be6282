"""reStructuredText to blocks with docutils, tolerant of Sphinx (issue 14).

Sphinx sources use directives and roles docutils does not know (`code-block`, `versionadded`,
`toctree`, `:class:`, `:ref:`, and every project's own, such as Celery's `:setting:`). Plain
docutils reports each as an error and keeps its raw text, which is the noise issue 14 measured in
stored chunks. Here the parser is given its own state classes and inliner (no docutils registry
is changed, so nothing leaks to other users of docutils in the process):

- a directive is looked up in `SPHINX_DIRECTIVES` first, then in docutils; an unknown one keeps
  its content as text and drops its arguments and options (a Sphinx extension's target
  directive such as `.. setting:: broker_url` adds nothing);
- an unknown role becomes its display text: `text <target>` gives `text`, `~x.Y` gives `Y`.

Settings make docutils silent and safe: no system message is reported or kept (report and halt
level 5), no configuration file is read, no file is included and no raw markup passes. A file
docutils cannot parse (a line beyond its line-length limit, nesting beyond the recursion limit,
any exception from the parser) is read as plain text, with a warning in the log.
"""

from __future__ import annotations

import copy
import logging
import re

from docutils import nodes
from docutils.core import publish_doctree
from docutils.parsers.rst import Directive, Parser, directives, roles, states
from docutils.utils import unescape

from apps.documents.extraction import VERSION_LABELS, Block, code_text, list_indent, text_paragraphs
from apps.documents.extraction_faq import is_question, paragraph_question

logger = logging.getLogger(__name__)

LINE_LENGTH_LIMIT = 10_000  # docutils' own default: a longer line makes it drop the whole document

SETTINGS = {
    "report_level": 5,
    "halt_level": 5,
    "warning_stream": False,
    "traceback": True,  # raise, never print and exit
    "_disable_config": True,  # no docutils.conf from /etc, the home directory or the working directory
    "file_insertion_enabled": False,
    "raw_enabled": False,
    "doctitle_xform": False,  # keep the top section a section: its title heads the path, as in Markdown
    "docinfo_xform": False,
    "sectsubtitle_xform": False,
    "syntax_highlight": "none",
    "smart_quotes": False,
    "pep_references": False,
    "rfc_references": False,
    "language_code": "en",
    "input_encoding": "unicode",
    "line_length_limit": LINE_LENGTH_LIMIT,
}


# --------------------------------------------------------------------------- directives


class _AnyOption(dict):
    """An option spec that accepts every option (Sphinx directives have many docutils never heard of)."""

    def __missing__(self, key):
        return directives.unchanged


class _Dropped(Directive):
    """Generated or meta content (`toctree`, `automodule`, `contents`, `index`...): nothing to read."""

    optional_arguments = 1
    final_argument_whitespace = True
    has_content = True
    option_spec = _AnyOption()

    def run(self):
        return []


class _Content(_Dropped):
    """An unknown directive (and `automodule` & co.): its content is read as reStructuredText, section
    titles included (as Sphinx's autodoc reads them), its arguments are dropped."""

    def run(self):
        if not self.content:
            return []
        node = nodes.container()
        # Titles inside start their own hierarchy below the current section (Sphinx's
        # `nested_parse_with_titles` does the same), so they never clash with the page's title styles.
        memo = self.state.memo
        surrounding, memo.title_styles = memo.title_styles, []
        try:
            self.state.nested_parse(self.content, self.content_offset, node, match_titles=True)
        finally:
            memo.title_styles = surrounding
        return [node]


class _ArgumentAndContent(_Content):
    """`seealso` and `centered`: the argument is text too."""

    def run(self):
        result: list[nodes.Node] = []
        if self.arguments and self.arguments[0].strip():
            inline, _ = self.state.inline_text(self.arguments[0], self.lineno)
            result.append(nodes.paragraph("", "", *inline))
        return result + super().run()


class _Signature(_Content):
    """An object description (`function`, `class`, `attribute`, `envvar`, `option`...): read like a
    definition, "signature: first paragraph of the description". The signature is not parsed (`*args`
    is not emphasis)."""

    def run(self):
        lines = [line.strip() for line in (self.arguments[0] if self.arguments else "").splitlines()]
        signature = "; ".join(line for line in lines if line)
        description = super().run()
        if not signature:
            return description
        definition = nodes.definition("", *(description[0].children if description else []))
        return [nodes.definition_list("", nodes.definition_list_item("", nodes.term("", signature), definition))]


class _Version(_Content):
    """`versionadded:: 2.0 optional text` reads "New in version 2.0: optional text", then the content."""

    required_arguments = 1
    optional_arguments = 1
    LABELS = VERSION_LABELS

    def run(self):
        label = self.LABELS.get(self.name.lower(), "Version")
        paragraph = nodes.paragraph("", f"{label} {self.arguments[0]}" + (": " if len(self.arguments) > 1 else "."))
        if len(self.arguments) > 1:
            inline, _ = self.state.inline_text(self.arguments[1], self.lineno)
            paragraph += inline
        return [paragraph, *super().run()]


class _Code(_Dropped):
    """`code-block`, `sourcecode`, `code`: a literal block that keeps its lines and their indentation."""

    def run(self):
        code = "\n".join(self.content)
        if not code.strip():
            return []
        node = nodes.literal_block(code, code)
        node["language"] = (self.arguments[0].split() or [""])[0] if self.arguments else ""
        return [node]


SIGNATURE_NAMES = [
    "function", "method", "class", "attribute", "data", "exception", "decorator", "decoratormethod", "staticmethod",
    "classmethod", "property", "object", "describe", "option", "cmdoption", "envvar", "type", "member", "var",
    "macro", "struct", "union", "enum", "enumerator", "directive", "role",
]  # fmt: skip
SPHINX_DIRECTIVES: dict[str, type[Directive]] = {
    **dict.fromkeys(["code-block", "sourcecode", "code"], _Code),
    **dict.fromkeys(_Version.LABELS, _Version),
    **dict.fromkeys(["seealso", "centered"], _ArgumentAndContent),
    **dict.fromkeys(
        [
            "toctree", "autosummary", "index", "contents", "sectnum", "header", "footer", "meta", "include", "raw",
            "literalinclude", "highlight", "sectionauthor", "moduleauthor", "codeauthor", "currentmodule", "module",
            "autosummary", "autoclasstoc", "automodapi", "autoprogram", "click",
            "graphviz", "graph", "digraph", "inheritance-diagram", "tabularcolumns", "default-domain", "py:module",
            "py:currentmodule", "c:namespace", "cpp:namespace", "productionlist", "todolist", "image",
        ],
        _Dropped,
    ),
}  # fmt: skip
for _name in SIGNATURE_NAMES:
    SPHINX_DIRECTIVES.setdefault(_name, _Signature)
    for _domain in ("py", "c", "cpp", "js", "rst", "std"):
        SPHINX_DIRECTIVES.setdefault(f"{_domain}:{_name}", _Signature)


def _tolerant_directive(self, match, **option_presets):
    """`Body.directive` with Sphinx's directives first and a content-keeping fallback for unknown ones."""
    type_name = match.group(1)
    directive_class = SPHINX_DIRECTIVES.get(type_name.lower())
    if directive_class is None:
        # Its messages are informational ("No directive entry ... in module"): not kept.
        directive_class, _ = directives.directive(type_name, self.memo.language, self.document)
    return self.run_directive(directive_class or _Content, match, type_name, option_presets)


# `explicit_construct` calls the functions listed here, not the methods: the directive entry is replaced.
TOLERANT_EXPLICIT = copy.copy(states.Body.explicit)
TOLERANT_EXPLICIT.constructs = [
    (_tolerant_directive if method is states.Body.directive else method, pattern)
    for method, pattern in states.Body.explicit.constructs
]


class _Tolerant:
    """Mixed into every docutils state class: Sphinx directives first, an unknown one keeps its content.

    Nested parsing (lists, block quotes, directive content) builds its state machine from
    `nested_sm_kwargs`, which is set to these classes, so the whole document sees the same lookup.
    """

    explicit = TOLERANT_EXPLICIT
    directive = _tolerant_directive

    def __init__(self, state_machine, debug=False):
        super().__init__(state_machine, debug)
        self.nested_sm_kwargs = {"state_classes": TOLERANT_STATES, "initial_state": "Body"}


# The same class names: docutils' state machine addresses its states by name.
TOLERANT_STATES = tuple(type(cls.__name__, (_Tolerant, cls), {}) for cls in states.state_classes)


# --------------------------------------------------------------------------- roles


def _display_role(name, rawtext, text, lineno, inliner, options=None, content=None):
    """Sphinx's display text for a cross-reference role: `title <target>` shows the title, `~a.b.C`
    shows `C`, `!x` shows `x`; `:ref:` to a bare label shows the label's words."""
    text = unescape(text)
    target = text
    if text.endswith(">"):  # string search, not a pattern: linear on any input
        start = text.rfind("<")
        if start > 0 and text[start - 1].isspace() and text[:start].strip():
            return [nodes.literal(rawtext, text[:start].strip())], []
        if start == 0:
            target = text[1:-1]
    target = target.lstrip("!")
    if target.startswith("~"):
        target = target[1:].rstrip("()").rsplit(".", 1)[-1] + ("()" if target.endswith("()") else "")
    if target.startswith("@"):  # Celery's abbreviation for its application's module
        target = target[1:]
    if name.lower() == "ref":
        target = target.replace("-", " ").replace("_", " ")
    return [nodes.literal(rawtext, target)], []


class _Inliner(states.Inliner):
    def interpreted(self, rawsource, text, role, lineno):
        role_fn, _ = roles.role(role, self.language, lineno, self.reporter)
        nodes_, messages = (role_fn or _display_role)(role, rawsource, text, lineno, self)
        return nodes_, messages


# `Inliner.init_customizations` formats its patterns with `vars(type(self))`: the subclass needs the
# base class's names in its own namespace.
for _name, _value in vars(states.Inliner).items():
    if not _name.startswith("__") and _name not in vars(_Inliner):
        setattr(_Inliner, _name, _value)


class TolerantParser(Parser):
    def __init__(self):
        super().__init__(inliner=_Inliner())
        self.state_classes = TOLERANT_STATES


# --------------------------------------------------------------------------- the walk


SKIPPED = (
    nodes.comment,
    nodes.substitution_definition,
    nodes.target,
    nodes.system_message,
    nodes.raw,
    nodes.pending,
    nodes.image,
    nodes.label,
    nodes.transition,
    nodes.decoration,
    nodes.footnote_reference,
    nodes.citation_reference,
    nodes.meta,
)
UNDEFINED_SUBSTITUTION = re.compile(r"\|[^|\s][^|]*\|_{0,2}")


# reST has no nested inline markup, so `**:role:`x`**` keeps the role as text; Sphinx shows it raw, and
# changelogs are full of it ("Contributed by **:github_user:`name`**").
NESTED_ROLE = re.compile(r"(?<![\w`]):[A-Za-z][\w+.-]{0,40}(?::[A-Za-z][\w+.-]{0,40})?:`([^`\n]{1,300})`")


def _nested_roles(text: str) -> str:
    text = text.replace("``", "")  # an inline literal inside emphasis, equally raw
    if ":`" not in text:
        return text
    return NESTED_ROLE.sub(lambda match: _display_role("", "", match.group(1).strip(), 0, None)[0][0].astext(), text)


def inline_text(node: nodes.Node) -> str:
    """The readable text of an element: references and roles by their text, no markup."""
    parts: list[str] = []
    for child in node.children:
        if isinstance(child, nodes.Text):
            parts.append(_nested_roles(str(child)) if isinstance(node, (nodes.emphasis, nodes.strong)) else str(child))
        elif isinstance(child, SKIPPED):
            continue
        elif isinstance(child, nodes.problematic):
            text = child.astext()
            # An undefined `|substitution|` (Sphinx's |version|) is markup, not text; a stray `*` is text.
            if not UNDEFINED_SUBSTITUTION.fullmatch(text):
                parts.append(text)
        elif isinstance(child, nodes.Body):  # a paragraph inside a table cell: keep words apart
            parts.append(f" {inline_text(child)} ")
        else:
            parts.append(inline_text(child))
    return "".join(parts)


def _clean(text: str) -> str:
    return " ".join(text.split())


def _emphasised_only(node: nodes.Element) -> bool:
    """A paragraph that is one bold or emphasised span ("**How do I ...?**"), spaces aside."""
    children = [child for child in node.children if not (isinstance(child, nodes.Text) and not child.strip())]
    return len(children) == 1 and isinstance(children[0], (nodes.strong, nodes.emphasis))


class _Walker:
    def __init__(self):
        self.blocks: list[Block] = []
        self.path: list[str] = []
        self.title = ""
        self.headings: list[Block] = []
        #: a question set apart (apps.documents.extraction_faq) heading what follows it in its section
        self.question: str | None = None
        #: the marker of a list item whose first paragraph has not come yet ("- ", "3. ", nested ones indented)
        self.item: str | None = None
        self.lists = 0  # lists open around the node visited

    def here(self) -> tuple[str, ...]:
        return (*self.path, self.question) if self.question else tuple(self.path)

    def add(self, text: str) -> None:
        text = _clean(text)
        if text:
            self.blocks.append(Block(text, self.here()))

    def paragraph(self, node: nodes.Element) -> None:
        question, text = paragraph_question(_clean(inline_text(node)), emphasised=_emphasised_only(node))
        if question is not None:
            self.question = question
        if text and self.item is not None:  # the marker kept as it is (a nested item's indentation)
            self.blocks.append(Block(f"{self.item} {_clean(text)}", self.here()))
            self.item = None
            return
        self.add(text)

    def list_items(self, node: nodes.Element) -> None:
        """A bullet or enumerated list: each item's first paragraph as "- item" or "3. item" (as the Markdown
        parser stores them), its other paragraphs, code and nested lists after it."""
        self.lists += 1
        number = int(node.get("start", 1)) if isinstance(node, nodes.enumerated_list) else None
        for child in node.children:
            self.item = list_indent(self.lists - 1) + _enumerator(node, number)
            self.visit(child)
            self.item = None
            number = None if number is None else number + 1
        self.lists -= 1

    def walk(self, node: nodes.Node) -> None:
        for child in node.children:
            self.visit(child)

    def visit(self, node: nodes.Node) -> None:
        if isinstance(node, SKIPPED):
            return
        if isinstance(node, nodes.section):
            titles = [child for child in node.children if isinstance(child, nodes.title)]
            heading = _clean(inline_text(titles[0])) if titles else ""
            if heading:
                self.path.append(heading)
                self.title = self.title or heading
                self.headings.append(Block(heading, tuple(self.path)))
            outer, self.question = self.question, None
            for child in node.children:
                if not isinstance(child, nodes.title):
                    self.visit(child)
            if heading:
                self.path.pop()
            self.question = outer
        elif isinstance(node, (nodes.literal_block, nodes.doctest_block)):
            language = node.get("language", "") or ("pycon" if isinstance(node, nodes.doctest_block) else "")
            text = code_text(node.astext(), language)
            if text:
                self.blocks.append(Block(text, self.here(), code=True))
        elif isinstance(node, nodes.line_block):
            lines = [_clean(inline_text(line)) for line in node.findall(nodes.line)]
            text = "\n".join(line for line in lines if line)
            if text:
                self.blocks.append(Block(text, self.here()))
        elif isinstance(node, (nodes.bullet_list, nodes.enumerated_list)):
            self.list_items(node)
        elif isinstance(node, (nodes.definition_list_item, nodes.field, nodes.option_list_item)):
            self._labelled(node)
        elif isinstance(node, nodes.table):
            for row in node.findall(nodes.row):
                cells = [_clean(inline_text(entry)) for entry in row.children if isinstance(entry, nodes.entry)]
                self.add(" | ".join(cell for cell in cells if cell))
        elif isinstance(node, nodes.Text):
            self.add(str(node))
        elif isinstance(node, nodes.paragraph):
            self.paragraph(node)
        elif isinstance(node, nodes.TextElement):  # title of a topic or admonition, rubric, caption
            self.add(inline_text(node))
        else:  # lists, block quotes, admonitions, topics, containers, footnotes: their children
            self.walk(node)

    def _labelled(self, node: nodes.Element) -> None:
        """A definition, field or option: "label: first paragraph", then the rest of its body."""
        label_types = (nodes.term, nodes.classifier, nodes.field_name, nodes.option_group)
        labels = [_clean(inline_text(child)) for child in node.children if isinstance(child, label_types)]
        label = " ".join(label for label in labels if label)
        body = [child for child in node.children if not isinstance(child, label_types)]
        children = [grandchild for child in body for grandchild in child.children]
        if isinstance(node, nodes.definition_list_item) and is_question(label):  # a question heads its definition
            outer, self.question = self.question, label
            for child in children:
                self.visit(child)
            self.question = outer
            return
        if children and isinstance(children[0], nodes.paragraph) and label:
            self.add(f"{label}: {inline_text(children[0])}")
            children = children[1:]
        else:
            self.add(label)
        for child in children:
            self.visit(child)


ROMAN = [(1000, "m"), (900, "cm"), (500, "d"), (400, "cd"), (100, "c"), (90, "xc"), (50, "l"), (40, "xl"), (10, "x"),
         (9, "ix"), (5, "v"), (4, "iv"), (1, "i")]  # fmt: skip


def _enumerator(node: nodes.Element, number: int | None) -> str:
    """The marker of item `number` of a list: "-" for a bullet list, "3." for an arabic one; a letter or roman one
    keeps its enumerator after a bullet ("- b. second", "- (iv) fourth"): the answerer and the widget read "- "
    and "3." as list items, and a reference to "step b" still finds its item."""
    if number is None:
        return "-"
    kind = node.get("enumtype", "arabic")
    if kind == "arabic":
        return f"{number}."
    if kind.endswith("alpha") and 1 <= number <= 26:
        label = chr(ord("a") + number - 1)
    elif kind.endswith("roman") and 1 <= number < 4000:
        label, rest = "", number
        for value, letters in ROMAN:
            while rest >= value:
                label, rest = label + letters, rest - value
    else:
        label = str(number)
    label = label.upper() if kind.startswith("upper") else label
    return f"- {node.get('prefix', '')}{label}{node.get('suffix', '.')}"


def parse_rst(text: str) -> tuple[str, list[Block]]:
    """(title, blocks) of a reStructuredText source; plain paragraphs when docutils cannot read it."""
    longest = max((len(line) for line in text.splitlines()), default=0)
    if longest > LINE_LENGTH_LIMIT:
        logger.warning("reStructuredText with a %s-character line (over docutils' limit): read as plain text", longest)
        return "", [Block(paragraph) for paragraph in text_paragraphs(text)]
    try:
        doctree = publish_doctree(text, parser=TolerantParser(), settings_overrides=SETTINGS)
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - any parser failure (RecursionError included) means plain text
        logger.warning("reStructuredText could not be parsed (%s: %s): read as plain text", type(exc).__name__, exc)
        return "", [Block(paragraph) for paragraph in text_paragraphs(text)]
    walker = _Walker()
    walker.walk(doctree)
    if not walker.blocks and walker.headings:
        # Only titles (an API page whose content `automodule` would generate): the titles are its text.
        return walker.title, walker.headings
    if not walker.blocks:  # parsed, but nothing docutils kept (an `include` alone): the text minus markup
        paragraphs = [paragraph for paragraph in text_paragraphs(text) if not paragraph.startswith("..")]
        return "", [Block(paragraph) for paragraph in paragraphs]
    return walker.title, walker.blocks


# --------------------------------------------------------------------------- detection in .txt files


UNDERLINE_CHARS = "=-~^\"'`#*+"
DIRECTIVE_LINE = re.compile(r"\.\. [A-Za-z][\w.+-]*(?::[\w.+-]+)*::(?:\s|$)")
TARGET_LINE = re.compile(r"\.\. (?:_[^:\n]{1,200}:|\|[^|\n]{1,200}\| [\w-]{1,40}::)")
ROLE_USE = re.compile(r"(?<![\w`]):[a-z][\w+.-]{0,40}(?::[a-z][\w+.-]{0,40})?:`[^`\n]{1,300}`")
INLINE_LITERAL = re.compile(r"``[^`\s](?:[^`\n]{0,300}[^`\s])?``")
LINK = re.compile(r"`[^`<\n]{1,300}<[^`>\n\s]{1,500}>`__?")
DETECT_BYTES = 256 * 1024


def _underline_headings(lines: list[str]) -> int:
    """Section titles: a line of text, then a line of one repeated punctuation character at least as long,
    with a blank line (or an overline of the same character) before the title."""
    count = 0
    for index in range(1, len(lines)):
        line = lines[index].rstrip()
        if len(line) < 3 or line[0] not in UNDERLINE_CHARS or line.count(line[0]) != len(line):
            continue
        title = lines[index - 1].rstrip()
        if not title.strip() or title[0].isspace() or len(title) > len(line) or title.count(title[0]) == len(title):
            continue
        before = lines[index - 2].rstrip() if index >= 2 else ""
        if before and before != line:
            continue
        count += 1
    return count


def looks_like_rst(text: str) -> bool:
    """A conservative guess that a .txt file is reStructuredText.

    It needs two independent signs: directives, explicit targets and roles are reST-only (two of
    them suffice, or one with a section title); section titles alone are how plain-text files are
    written too, so they need two titles and an inline literal, a `::` literal block or a link.
    Linear (the patterns are bounded and anchored), on the first 256 KB.
    """
    sample = text[:DETECT_BYTES]
    lines = sample.splitlines()
    strong = sum(1 for line in lines if DIRECTIVE_LINE.match(line) or TARGET_LINE.match(line))
    strong += min(2, sum(1 for line in lines if ":`" in line and ROLE_USE.search(line)))
    headings = _underline_headings(lines)
    if strong >= 2 or (strong and headings):
        return True
    if headings < 2:
        return False
    literal_block = any(
        line.rstrip().endswith("::") and index + 2 < len(lines) and not lines[index + 1].strip()
        and lines[index + 2][:1].isspace()
        for index, line in enumerate(lines)
    )  # fmt: skip
    return literal_block or any(
        ("``" in line and INLINE_LITERAL.search(line)) or ("`_" in line and LINK.search(line)) for line in lines
    )
