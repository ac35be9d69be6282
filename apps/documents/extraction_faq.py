"""Questions set apart as headings: an FAQ keeps each question with its answer in every format.

An FAQ written with heading markup (a Markdown `###`, a reST section, an HTML `<h3>`) already gives each
answer its question as heading path, so the answer's chunks carry the question: search weighs it as a
heading, the answerer compares a question with it, a citation names it. Many FAQs are written without
heading markup, and before this their questions were plain paragraphs — or lost (an HTML accordion's
`<summary>`) — and a chunk boundary could fall between a question and its answer. Now a question that
its markup sets apart is read as the heading of what follows it:

- plain text: a paragraph that is a short question on its own, bare (one or two lines), numbered
  ("4.2. Why ...?", as in the zlib, sed and lsof FAQs) or `Q:`-prefixed (the xz FAQ), or the first line of a
  paragraph whose next lines answer it (no blank line between); an `A:` prefix is dropped from the answer. In
  a numbered FAQ, the numbered lines of the questions' depth or above that are not questions ("4. compress()
  returns Z_BUF_ERROR.", "3. TECHNICAL") are headings too;
- Markdown and reStructuredText: a paragraph that is one bold or emphasised question, or a `Q:` paragraph;
  a reST definition term that is a question (for its definition);
- HTML: an accordion's `<summary>` (its `<details>`), a `<dt>` that is a question (its `<dl>`), a `<button>`
  that is a question (accordions built with scripts), a block wholly in `<b>`/`<strong>`/`<em>` that is a
  question (DocBook's question-and-answer sets render so);
- DOCX: a paragraph whose runs are all bold and that is a question.

A question heading sits below the document's real headings and lasts until the next question, the next real
heading, or the end of the element that holds it (`<details>`, `<dl>`, a `<button>`'s parent, a reST section or
definition).
"""

from __future__ import annotations

import re

#: a question heading is at most this long (longer text ending with "?" is a paragraph)
QUESTION_MAX_CHARS = 300
QUESTION_MAX_WORDS = 50
#: the level of a question heading below every real heading (HTML and Markdown stop at 6, DOCX at 9)
QUESTION_LEVEL = 10

NUMBER = re.compile(r"^\s*(\d{1,3}(?:\.\d{1,3}){0,5})\.?[ \t]+(?=\S)")
Q_PREFIX = re.compile(r"^\s*Q(?:uestion)?\s?\d{0,3}\s*[:.)][ \t]+(?=\S)", re.IGNORECASE)
A_PREFIX = re.compile(r"^\s*A(?:nswer)?\s?\d{0,3}\s*:[ \t]*", re.IGNORECASE)
#: a sentence's end inside a text: "." or "!" (and a closing quote or bracket) before a letter, after an opening
#: quote, bracket, "¿", "¡" or "«" (`is_question` takes it when the letter is a capital, of any script: "É", "Ü")
SENTENCE_END = re.compile(r"[.!][\"')\]]?\s+[\"'(¿¡«]?\s?(?=[^\W\d_])")
ABBREVIATIONS = {"etc", "vs", "mr", "mrs", "ms", "dr", "st", "no", "cf", "approx", "fig", "vol", "inc", "ltd", "jr"}


def is_question(text: str, *, lead_in: bool = False) -> bool:
    """A short text that asks: ends with "?", at most QUESTION_MAX_CHARS and QUESTION_MAX_WORDS, two words at
    least, and — unless `lead_in` (a question its marker sets apart: `Q:`, a number) — no statement before the
    question ("See the log. Why does it fail?" is a paragraph; the dots of "e.g.", "etc." or "v2." are not
    sentence ends)."""
    text = " ".join(text.split())
    if not text.endswith("?") or len(text) > QUESTION_MAX_CHARS:
        return False
    if not 2 <= len(text.split()) <= QUESTION_MAX_WORDS:
        return False
    if lead_in:
        return True
    for match in SENTENCE_END.finditer(text[:-1]):
        if not text[match.end()].isupper():
            continue
        before = text[: match.start()].split()[-1:]
        word = before[0].lower().strip("\"'()[]") if before else ""
        if word and "." not in word and word not in ABBREVIATIONS:
            return False
    return True


def question_of(text: str, *, lead_in: bool = False) -> str | None:
    """The question of a `Q:`-prefixed or bare question text (prefix dropped, spaces collapsed), else None. A
    `Q:` question may start with a statement ("Q: There are many LZMA projects. How does XZ relate to them?")."""
    match = Q_PREFIX.match(text)
    rest = text[match.end() :] if match else text
    rest = " ".join(rest.split())
    return rest if is_question(rest, lead_in=lead_in or bool(match)) else None


def answer_text(text: str) -> str:
    """An answer paragraph without its `A:` prefix."""
    match = A_PREFIX.match(text)
    return text[match.end() :].lstrip() if match and match.end() < len(text) else text


def split_q_and_a(text: str) -> tuple[str | None, str]:
    """A `Q: ...? A: ...` paragraph (Markdown joins the two lines): (question, answer); else (None, text)."""
    match = Q_PREFIX.match(text)
    if not match:
        return None, text
    answer = re.search(r"(?<=\?)\s+A(?:nswer)?\s?\d{0,3}\s*:\s+", text)
    if not answer:
        return question_of(text), ""
    question = question_of(text[: answer.start()])
    if question is None:
        return None, text
    return question, text[answer.end() :].strip()


def paragraph_question(text: str, *, emphasised: bool) -> tuple[str | None, str]:
    """(question, the rest as answer text) of a paragraph: a `Q:` paragraph is split; a wholly bold or
    emphasised question (`emphasised`: the caller's markup says so) is taken whole, a statement may lead in;
    else (None, the text without an `A:` prefix)."""
    question, text = split_q_and_a(text)
    if question is None and emphasised and is_question(text, lead_in=True):
        return text, ""
    return question, answer_text(text)


def question_push(path: list[tuple[int, str]], question: str) -> list[tuple[int, str]]:
    """A (level, heading) path with `question` as its question heading (replacing any question before it)."""
    return [*question_pop(path), (QUESTION_LEVEL, question)]


def question_pop(path: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """A (level, heading) path without its question heading, if it has one."""
    return [(level, heading) for level, heading in path if level < QUESTION_LEVEL]


# --------------------------------------------------------------------------- plain text


def _lines(paragraph: str) -> list[str]:
    return [line.strip() for line in paragraph.split("\n") if line.strip()]


def _number(line: str) -> tuple[tuple[int, ...], int] | None:
    """(the section number of a numbered line as a tuple, where its text starts), else None."""
    match = NUMBER.match(line)
    return (tuple(int(part) for part in match.group(1).split(".")), match.end()) if match else None


def _plain_question(lines: list[str]) -> tuple[str, tuple[int, ...] | None] | None:
    """(question, its section number or None) of a plain-text paragraph that is a question line, else None."""
    number = _number(lines[0])
    prefixed = number or Q_PREFIX.match(lines[0])
    if len(lines) > (3 if prefixed else 2):
        return None
    if any(NUMBER.match(line) or Q_PREFIX.match(line) or A_PREFIX.match(line) for line in lines[1:]):
        return None
    first = lines[0][number[1] :] if number else lines[0]
    question = question_of(" ".join([first, *lines[1:]]), lead_in=bool(number))
    if question is None:
        return None
    return question, (number[0] if number else None)


def _question_then_answer(lines: list[str]) -> tuple[str, tuple[int, ...] | None, str] | None:
    """(question, its section number or None, the answer) of a plain-text paragraph whose first line is a question
    and whose next lines answer it with no blank line between (a common layout of FAQ text files, `Q:`/`A:` lines
    too), else None. A paragraph of questions one a line is no such answer."""
    if len(lines) < 2:
        return None
    number = _number(lines[0])
    question = question_of(lines[0][number[1] :] if number else lines[0], lead_in=bool(number))
    if question is None:
        return None
    rest = lines[1:]
    if any(Q_PREFIX.match(line) or question_of(line[(_number(line) or (0, 0))[1] :]) for line in rest):
        return None
    answer = answer_text("\n".join(rest))
    return (question, number[0] if number else None, answer) if answer else None


def _next_in_sequence(number: tuple[int, ...], last: dict[int, tuple[int, ...]]) -> bool:
    """Whether a numbered line continues the document's numbering of headings: the next number after the last
    heading of its depth ("4." after "3."), or a first one ("1.0", "2.1") under the last heading one level up.
    A numbered list inside an answer ("3. The SID is reallocated ...") does not."""
    depth = len(number)
    previous = last.get(depth)
    if previous is not None and previous[:-1] == number[:-1] and number[-1] == previous[-1] + 1:
        return True
    parent = last.get(depth - 1)
    fresh = previous is None or previous[:-1] != number[:-1]
    return fresh and number[-1] in (0, 1) and (depth == 1 or parent is None or parent == number[:-1])


def text_blocks(paragraphs: list[str]) -> list[tuple[str, tuple[str, ...]]]:
    """(text, heading path) of each paragraph of a plain-text document, question lines made headings (the
    module's docstring). Texts keep their line breaks; runs of spaces and tabs become one space."""
    split = [_lines(paragraph) for paragraph in paragraphs]
    questions = [_plain_question(lines) if lines else None for lines in split]
    asked_all = [_question_then_answer(lines) if lines and not found else None for lines, found in zip(
        split, questions, strict=True)]  # fmt: skip
    if sum(1 for found in questions if found) + sum(1 for asked in asked_all if asked) < 2:
        # One question opening a paragraph of prose ("Ever wondered how long a backup takes?") is no FAQ: it
        # would head every paragraph after it.
        asked_all = [None] * len(split)
    depths = [len(found[1]) for found in questions if found and found[1] is not None]
    # Numbered lines that are not questions are headings only at the depths of the numbered questions, and only
    # when they continue the numbering: a list inside an answer ("1. Stop the daemon.") is neither.
    numbered_depths = set(depths) if len(depths) >= 2 else set()
    result: list[tuple[str, tuple[str, ...]]] = []
    path: list[tuple[int, str, bool]] = []  # (depth, heading, whether it is a question)
    last: dict[int, tuple[int, ...]] = {}  # the number of the last numbered heading of each depth
    for paragraph, lines, found, asked in zip(paragraphs, split, questions, asked_all, strict=True):
        if not lines:
            continue
        heading, number, answer = None, None, None
        if found and found[1] is not None and not is_question(found[0]) and not _next_in_sequence(found[1], last):
            found = None  # a numbered question after a statement must continue the numbering to head anything
        if asked and (asked[1] is None or _next_in_sequence(asked[1], last)):
            found, answer = asked[:2], asked[2]
        if found:
            heading, number = found
        elif numbered_depths and len(lines) == 1 and (numbered := _number(lines[0])):
            rest = lines[0][numbered[1] :].strip()
            if (
                len(numbered[0]) in numbered_depths
                and len(rest) <= 120
                and len(rest.split()) <= 12
                and rest[:1].isalnum()
                and rest[-1:] not in ":;,"  # the lead-in of a list inside an answer
                and _next_in_sequence(numbered[0], last)
            ):
                heading, number = rest, numbered[0]
        if heading is not None:
            depth = len(number) if number else QUESTION_LEVEL
            if number:
                last = {d: n for d, n in last.items() if d < depth} | {depth: number}
            # A question heads its own answer only: "1.2.1 Are there mirror sites?" is not under "1.2 Where do I
            # get lsof?" in its path (the parent's question would compete with the parent's answer). A numbered
            # heading that is not a question ("4.1.1 Stale Segment ID APAR") stays under the question it details.
            question = found is not None
            path = [(level, h, asks) for level, h, asks in path if level < depth and not (asks and question)]
            path.append((depth, heading, question))
            if answer:  # the answer in the question's paragraph, on the lines after it
                result.append((re.sub(r"[ \t]+", " ", answer).strip(), tuple(h for _, h, _ in path)))
            continue
        text = answer_text(re.sub(r"[ \t]+", " ", paragraph).strip())
        if text:
            result.append((text, tuple(h for _, h, _ in path)))
    return result
