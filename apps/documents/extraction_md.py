"""Markdown to blocks with markdown-it-py (CommonMark plus GFM tables and strikethrough, issue 14).

The parser's token stream gives headings (ATX and setext) as the heading path, paragraphs (in
block quotes too), list items as "- item" / "3. item" paragraphs (nested ones indented two spaces a
level; an item's later paragraphs plain), table rows as " | " lines, fenced and indented code as code
blocks (their lines and indentation kept), and HTML blocks as their text. Links read as their text,
inline code keeps its backticks, images and inline HTML are dropped. A question set apart — a paragraph that is
one bold or emphasised question, a `Q:` paragraph, an HTML `<summary>` — heads what follows it
(apps.documents.extraction_faq).

markdown-it-py is linear on hostile input in practice (it caps nesting at 20 levels); the one step
added here, stripping tags from HTML blocks, is a forward scan with `str.find`.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache

from apps.documents.extraction import Block, code_text, text_paragraphs
from apps.documents.extraction_faq import paragraph_question, question_pop, question_push


@lru_cache(maxsize=1)
def _parser():
    from markdown_it import MarkdownIt

    parser = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    # Links are read for their text only: no URL normalisation (punycode, percent-encoding) to pay for.
    parser.normalizeLink = parser.normalizeLinkText = str
    parser.validateLink = _any_link
    return parser


def _any_link(url: str) -> bool:
    return True


def _inline(token, *, code_marks: bool = True) -> str:
    """The text of an inline token; `code_marks`: inline code keeps its backticks (not in headings, which are
    titles and labels as in every other format)."""
    parts: list[str] = []
    for child in token.children or ():
        if child.type in ("text", "text_special"):
            parts.append(child.content)
        elif child.type == "code_inline":  # `literal` stays marked as code (the answerer and the widget show it so)
            parts.append(f"`{child.content}`" if code_marks and "`" not in child.content else child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        # link, emphasis and strikethrough markers add nothing; images and inline HTML are dropped
    return "".join(parts)


EMPHASIS = {"strong_open": "strong_close", "em_open": "em_close"}
SUMMARY = re.compile(r"<summary\b[^>]*>(.*?)</summary\s*>", re.IGNORECASE | re.DOTALL)
DETAILS_END = re.compile(r"</details\s*>", re.IGNORECASE)


def _emphasised_only(token) -> bool:
    """Whether an inline token is one bold or emphasised span ("**How do I ...?**"), spaces aside."""
    children = [
        child
        for child in token.children or ()
        if child.type not in ("softbreak", "hardbreak") and not (child.type == "text" and not child.content.strip())
    ]
    if len(children) < 3 or children[0].type not in EMPHASIS or children[-1].type != EMPHASIS[children[0].type]:
        return False
    depth = 0
    for child in children[:-1]:
        depth += child.type.endswith("_open") - child.type.endswith("_close")
        if depth == 0:  # the first span closed before the end: more than one span
            return False
    return True


DROPPED_HTML = ("<!--", "<script", "<style", "<?", "<!")


def html_text(source: str) -> str:
    """The text of an HTML fragment: tags removed in one forward scan, entities decoded."""
    if source.lstrip().lower().startswith(DROPPED_HTML):
        return ""
    parts: list[str] = []
    position = 0
    while True:
        start = source.find("<", position)
        end = source.find(">", start) if start >= 0 else -1
        if start < 0 or end < 0:
            parts.append(source[position:])
            break
        parts.append(source[position:start])
        parts.append(" ")
        position = end + 1
    return html.unescape("".join(parts))


def parse_md(text: str) -> tuple[str, list[Block]]:
    """(title, blocks) of a Markdown source: the title is the first heading."""
    tokens = _parser().parse(text)
    blocks: list[Block] = []
    path: list[tuple[int, str]] = []
    title = ""
    here: tuple[str, ...] = ()
    heading_level: int | None = None
    row: list[str] | None = None
    lists: list[str] = []  # the open lists, outermost first: "bullet" or "ordered"
    item: str | None = None  # the marker of a list item whose first paragraph has not come yet
    for token in tokens:
        kind = token.type
        if kind in ("bullet_list_open", "ordered_list_open"):
            lists.append(kind.split("_")[0])
        elif kind in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
        elif kind == "list_item_open":
            marker = "-" if lists[-1] == "bullet" else f"{token.info or 1}."
            item = "  " * (len(lists) - 1) + marker
        elif kind == "list_item_close":
            item = None
        elif kind == "heading_open":
            heading_level = int(token.tag[1])
        elif kind == "heading_close":
            heading_level = None
        elif kind == "inline" and heading_level is not None:
            # Only the ends are trimmed: what is inside a heading is kept as written.
            heading = _inline(token, code_marks=False).strip()
            if heading:
                path = [(level, h) for level, h in path if level < heading_level] + [(heading_level, heading)]
                here = tuple(h for _, h in path)
                title = title or heading
        elif kind == "inline" and row is not None:
            row.append(" ".join(_inline(token).split()))
        elif kind == "inline":
            paragraph = " ".join(_inline(token).split())
            question, paragraph = paragraph_question(paragraph, emphasised=_emphasised_only(token))
            if question is not None:  # a question set apart heads what follows it
                path = question_push(path, question)
                here = tuple(h for _, h in path)
            if paragraph and item is not None:
                paragraph, item = f"{item} {paragraph}", None
            if paragraph:
                blocks.append(Block(paragraph, here))
        elif kind == "tr_open":
            row = []
        elif kind == "tr_close":
            cells = [cell for cell in row or () if cell]
            if cells:
                blocks.append(Block(" | ".join(cells), here))
            row = None
        elif kind in ("fence", "code_block"):
            language = token.info.split()[0] if kind == "fence" and token.info.strip() else ""
            code = code_text(token.content, language)
            if code:
                blocks.append(Block(code, here, code=True))
        elif kind == "html_block":
            content = token.content
            if DETAILS_END.search(content):
                path = question_pop(path)  # the question of a <details> ends with it
                here = tuple(h for _, h in path)
            summary = SUMMARY.search(content)
            if summary:
                blocks += _html_blocks(content[: summary.start()], here)
                question = " ".join(html_text(summary.group(1)).split())
                if question:
                    path = question_push(path, question)
                    here = tuple(h for _, h in path)
                content = content[summary.end() :]
                if DETAILS_END.search(content):  # the whole <details> in one HTML block
                    blocks += _html_blocks(content, here)
                    path = question_pop(path)
                    here = tuple(h for _, h in path)
                    continue
            blocks += _html_blocks(content, here)
    return title, blocks


def _html_blocks(content: str, here: tuple[str, ...]) -> list[Block]:
    return [Block(" ".join(p.split()), here) for p in text_paragraphs(html_text(content))]
