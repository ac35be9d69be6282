"""Questions set apart as headings (apps.documents.extraction_faq): each answer carries its question.

Real-world samples, short verbatim excerpts of FAQs Debian installs (/usr/share/doc/...): zlib1g-dev/FAQ.gz
(numbered questions and statements), xz-utils/faq.txt.gz ("Q:"/"A:"), procps/FAQ.gz (bare questions),
lsof/00FAQ.gz ("1.2"/"1.2.1" nesting, lists in answers), valgrind/html/faq.html (DocBook). Written samples: Markdown,
HTML accordions (<details>, <dl>, <button>), reST, DOCX. Negative cases: a statement before the "?", text without
questions, bold statements, a glossary <dl>, a "Close" button. No database is touched.
"""

import io

import docx

from apps.documents.extraction import extract
from apps.documents.extraction_faq import answer_text, is_question, question_of, split_q_and_a


def pairs(name: str, source: str | bytes) -> list[tuple[tuple[str, ...], str]]:
    """(heading path, text) of every block of the extracted file."""
    extracted = extract(name, source.encode() if isinstance(source, str) else source)
    return [(block.heading_path, block.text) for block in extracted.blocks]


# --------------------------------------------------------------------------- plain text (real FAQs)

ZLIB = """
                Frequently Asked Questions about zlib


If your question is not there, please check the zlib home page
http://zlib.net/ which may have more recent information.


 1. Is zlib Y2K-compliant?

    Yes.  zlib doesn't handle dates.

 2. Where can I get a Windows DLL version?

    The zlib sources can be compiled without change to produce a DLL.  See the
    file win32/DLL_FAQ.txt in the zlib distribution.

 3. Where can I get a Visual Basic interface to zlib?

    See
        * http://marknelson.us/1997/01/01/zlib-engine/

 4. compress() returns Z_BUF_ERROR.

    Make sure that before the call of compress(), the length of the compressed
    buffer is equal to the available size of the compressed buffer and not
    zero.
"""


def test_zlib_numbered_questions_and_numbered_statements_head_their_answers():
    """zlib: " 1. Is zlib Y2K-compliant?" heads its answer, number dropped; "4. compress() returns Z_BUF_ERROR."
    is no question but continues the numbering, so it is a heading too; the preamble has no heading."""
    assert pairs("FAQ.txt", ZLIB) == [
        ((), "Frequently Asked Questions about zlib"),
        ((), "If your question is not there, please check the zlib home page\nhttp://zlib.net/ which may have more "
         "recent information."),
        (("Is zlib Y2K-compliant?",), "Yes. zlib doesn't handle dates."),
        (("Where can I get a Windows DLL version?",), "The zlib sources can be compiled without change to produce "
         "a DLL. See the\n file win32/DLL_FAQ.txt in the zlib distribution."),
        (("Where can I get a Visual Basic interface to zlib?",), "See\n * http://marknelson.us/1997/01/01/zlib-engine/"),
        (("compress() returns Z_BUF_ERROR.",), "Make sure that before the call of compress(), the length of the "
         "compressed\n buffer is equal to the available size of the compressed buffer and not\n zero."),
    ]  # fmt: skip


def test_zlib_two_line_numbered_question_with_a_lead_in_heads_its_answer():
    """zlib's entry 24 continues the numbering and asks (a sentence, then the question, over two lines): its
    answer must not be filed under entry 23's question."""
    source = (
        "23. Is zlib under the GNU license?\n\n    No.  Please read the license in zlib.h.\n\n"
        '24. The license says that altered source versions must be "plainly marked". So\n'
        "    what exactly do I need to do to meet that requirement?\n\n"
        "    You need to change the ZLIB_VERSION and ZLIB_VERNUM #defines in zlib.h.\n"
    )
    assert pairs("FAQ.txt", source) == [
        (("Is zlib under the GNU license?",), "No. Please read the license in zlib.h."),
        (
            ('The license says that altered source versions must be "plainly marked". So what exactly do I need '
             "to do to meet that requirement?",),
            "You need to change the ZLIB_VERSION and ZLIB_VERNUM #defines in zlib.h.",
        ),
    ]  # fmt: skip


XZ = """
XZ Utils FAQ
============

Q:  What do the letters XZ mean?

A:  Nothing. They are just two letters, which come from the file format
    suffix .xz. The .xz suffix was selected, because it seemed to be
    pretty much unused. It has no deeper meaning.


Q:  Why is liblzma named liblzma if its primary file format is .xz?
    Shouldn't it be e.g. libxz?

A:  When the designing of the .xz format began, the idea was to replace
    the .lzma format and use the same .lzma suffix.
"""


def test_xz_q_and_a_paragraphs():
    """XZ Utils: a "Q:" paragraph (two lines, "e.g." inside) heads the next paragraphs; "A:" is dropped."""
    assert pairs("faq.txt", XZ) == [
        ((), "XZ Utils FAQ\n============"),
        (("What do the letters XZ mean?",), "Nothing. They are just two letters, which come from the file format\n "
         "suffix .xz. The .xz suffix was selected, because it seemed to be\n pretty much unused. It has no deeper "
         "meaning."),
        (("Why is liblzma named liblzma if its primary file format is .xz? Shouldn't it be e.g. libxz?",),
         "When the designing of the .xz format began, the idea was to replace\n the .lzma format and use the same "
         ".lzma suffix."),
    ]  # fmt: skip


def test_a_question_line_and_its_answer_without_a_blank_line_between():
    """A common layout of FAQ text files: each question on one line and its answer on the next lines of the same
    paragraph (`Q:`/`A:` lines too). The question heads its answer; before, the whole file was one paragraph and
    a question asked was answered with its own question quoted back. A paragraph of questions one a line, and a
    question wrapped over two lines, stay as they were."""
    source = (
        "Acme FAQ\n\nCan I change my password?\nYes. Open Settings, then Security.\n\n"
        "Q: Do you accept bitcoin?\nA: No, we only accept cards\nand bank transfers.\n\n"
        "Popular questions:\nHow do I log in?\nWhere is my order?\n\n"
        "How do I reach a person\nat the support desk?\n\nCall 555-0100.\n"
    )
    assert pairs("faq.txt", source) == [
        ((), "Acme FAQ"),
        (("Can I change my password?",), "Yes. Open Settings, then Security."),
        (("Do you accept bitcoin?",), "No, we only accept cards\nand bank transfers."),
        (("Do you accept bitcoin?",), "Popular questions:\nHow do I log in?\nWhere is my order?"),
        (("How do I reach a person at the support desk?",), "Call 555-0100."),
    ]


def test_one_question_opening_a_paragraph_of_prose_heads_nothing():
    """A rhetorical question on a paragraph's first line, in a text that is no FAQ (no other question), stays prose:
    taken as a question heading it would have headed every paragraph after it."""
    source = (
        "Ever wondered how long a backup takes?\nIt depends on the size of the disk.\n\n"
        "Restores need admin rights.\n\nPricing is per gigabyte stored.\n"
    )
    assert pairs("notes.txt", source) == [
        ((), "Ever wondered how long a backup takes?\nIt depends on the size of the disk."),
        ((), "Restores need admin rights."),
        ((), "Pricing is per gigabyte stored."),
    ]


def test_xz_q_prefixed_question_with_a_lead_in_sentence_is_still_a_question():
    """XZ Utils: "Q:" marks a question even when a sentence leads into it (several of the FAQ's entries do); its answer
    must not be filed under the previous question, nor the "Q:" line kept as answer text."""
    source = (
        "Q:  What are LZMA and LZMA2?\n\nA:  LZMA stands for Lempel-Ziv-Markov chain-Algorithm.\n\n\n"
        "Q:  There are many LZMA related projects. How does XZ Utils relate to them?\n\n"
        "A:  7-Zip and LZMA SDK are the original projects. LZMA SDK is roughly\n"
        "    a subset of the 7-Zip source tree.\n"
    )
    assert pairs("faq.txt", source) == [
        (("What are LZMA and LZMA2?",), "LZMA stands for Lempel-Ziv-Markov chain-Algorithm."),
        (
            ("There are many LZMA related projects. How does XZ Utils relate to them?",),
            "7-Zip and LZMA SDK are the original projects. LZMA SDK is roughly\n a subset of the 7-Zip source tree.",
        ),
    ]


def test_procps_bare_question_lines_head_tab_indented_answers():
    """procps: a bare question line heads its tab-indented answer; a "?" inside an answer changes nothing."""
    source = (
        "Why don't I see SMP (per-CPU) stats in top?\n\n"
        "\tYou didn't enable it. Press '?' for built-in help or read the man\n"
        "\tpage.  Per-CPU stats are disabled by default because they take up too\n"
        "\tmuch space.  Some Linux systems have hundreds of CPUs.\n\n"
        "Why is %CPU underreported for multi-threaded (Java, etc.) apps?\n\n"
        "\tYou need to upgrade to the 2.6.10 kernel at least. Older kernels do\n"
        "\tnot provide a reasonable way to get this information.\n"
    )
    assert pairs("FAQ", source) == [
        (("Why don't I see SMP (per-CPU) stats in top?",), "You didn't enable it. Press '?' for built-in help or "
         "read the man\n page. Per-CPU stats are disabled by default because they take up too\n much space. Some "
         "Linux systems have hundreds of CPUs."),
        (("Why is %CPU underreported for multi-threaded (Java, etc.) apps?",), "You need to upgrade to the 2.6.10 "
         "kernel at least. Older kernels do\n not provide a reasonable way to get this information."),
    ]  # fmt: skip


LSOF_1 = (
    "1.0\tGeneral Concepts\n\n1.1\tLsof -- what is it?\n\n\tLsof is a UNIX-specific tool.  Its name stands for LiSt\n"
    "\tOpen Files, and it does just that.\n\n1.2\tWhere do I get lsof?\n\n"
    "\tLsof is available via anonymous ftp from lsof.itap.purdue.edu.\n\tLook in the pub/tools/unix/lsof sub-directory."
    "\n\n1.2.1\tAre there mirror sites?\n\n\tOn March 21, 2013 these sites appeared to have the lastest\n\tlsof "
    "revision:\n\n"
    "1.2.2\tAre lsof executables available?\n\n\tSome lsof executables are available in the subdirectory\n"
)


def test_lsof_numbered_sub_questions_head_their_own_answers():
    """lsof: "1.2.1 Are there mirror sites?" heads its answer alone, not under "1.2 Where do I get lsof?" (whose
    question would otherwise compete with 1.2's own answer); 1.2.2 replaces 1.2.1."""
    where = "Where do I get lsof?"
    assert pairs("00FAQ", LSOF_1) == [
        (("Lsof -- what is it?",), "Lsof is a UNIX-specific tool. Its name stands for LiSt\n Open Files, and it does "
         "just that."),
        ((where,), "Lsof is available via anonymous ftp from lsof.itap.purdue.edu.\n Look in the pub/tools/unix/lsof "
         "sub-directory."),
        (("Are there mirror sites?",), "On March 21, 2013 these sites appeared to have the lastest\n lsof "
         "revision:"),
        (("Are lsof executables available?",), "Some lsof executables are available in the subdirectory"),
    ]  # fmt: skip


LSOF_4 = (
    "4.0\tAIX Problems\n\n4.1\tWhat is the Stale Segment ID bug and why is -X needed?\n\n"
    "\tKevin Ruderman reports that he has been informed by IBM\n\n4.1.1\tStale Segment ID APAR\n\n"
    "\tProblem description:\n\n\t2. The target process exits, deleting the process private\n\t   segment.\n\n"
    "\t3. The SID is reallocated for use as a persistent segment.\n\n4.2\tGcc Work-around for AIX 4.1x\n\n"
    "\tWhen gcc is used to compile lsof for AIX 4.1x, it doesn't\n\n"
    "4.11\tWhy doesn't /usr/bin/oslevel report the correct AIX version?\n\n"
    '\tThe oslevel man page says, "The oslevel command reports\n\n'
    "4.11.1\tWhy doesn't /usr/bin/oslevel report the correct AIX version\n\ton AIX 5.1?\n\n"
    "\tThe subset list for oslevel on AIX 5.1 seems to include at\n"
)


def test_lsof_numbered_statements_are_headings_but_a_list_in_an_answer_is_not():
    """lsof: "4.1.1 Stale Segment ID APAR" and "4.2 Gcc ..." continue the numbering (headings); "3. The SID is
    reallocated ..." inside 4.1.1's answer does not, so it stays the answer's text; "4.1.1 Stale Segment ID APAR"
    stays under 4.1's question, which it details; the question 4.11.1 heads its answer alone."""
    stale = ("What is the Stale Segment ID bug and why is -X needed?", "Stale Segment ID APAR")
    oslevel = "Why doesn't /usr/bin/oslevel report the correct AIX version?"
    assert pairs("00FAQ", LSOF_4) == [
        (stale[:1], "Kevin Ruderman reports that he has been informed by IBM"),
        (stale, "Problem description:"),
        (stale, "2. The target process exits, deleting the process private\n segment."),
        (stale, "3. The SID is reallocated for use as a persistent segment."),
        (("Gcc Work-around for AIX 4.1x",), "When gcc is used to compile lsof for AIX 4.1x, it doesn't"),
        ((oslevel,), 'The oslevel man page says, "The oslevel command reports'),
        ((f"{oslevel[:-1]} on AIX 5.1?",), "The subset list for oslevel on AIX 5.1 seems to include at"),
    ]


def test_numbered_list_starting_at_one_inside_an_answer_is_not_a_heading():
    """An lsof-style FAQ (dotted numbers only): a short "1. ..." list in an answer is not a top-level heading;
    the next entry, "4.2", still is one and the next question sits under it, not under the list."""
    source = (
        "4.1\tWhy does lsof hang?\n\n\tTry these steps:\n\n\t1. Stop the daemon.\n\n\t2. Restart it.\n\n"
        "4.2\tGcc Work-around for AIX 4.1x\n\n\tWhen gcc is used to compile lsof.\n\n"
        "4.3\tWhy is it slow?\n\n\tIt reads.\n"
    )
    assert pairs("00FAQ", source) == [
        (("Why does lsof hang?",), "Try these steps:"),
        (("Why does lsof hang?",), "1. Stop the daemon."),
        (("Why does lsof hang?",), "2. Restart it."),
        (("Gcc Work-around for AIX 4.1x",), "When gcc is used to compile lsof."),
        (("Why is it slow?",), "It reads."),
    ]


def test_text_without_questions_and_prose_asking_stay_paragraphs():
    """No question set apart: one block per paragraph, empty paths; a statement before the "?" or a long
    paragraph ending in "?" is prose, not a heading."""
    source = (
        "Release notes\n\nThe importer was rewritten.\nIt is faster.\n\nSee the log. Why does it fail?\n\n"
        "We looked at the import for a long time, and after many\nattempts on three machines and two operating\n"
        "systems we still wonder: is the cache to blame?\n\nNext steps follow.\n"
    )
    assert pairs("notes.txt", source) == [
        ((), "Release notes"),
        ((), "The importer was rewritten.\nIt is faster."),
        ((), "See the log. Why does it fail?"),
        ((), "We looked at the import for a long time, and after many\nattempts on three machines and two operating\n"
         "systems we still wonder: is the cache to blame?"),
        ((), "Next steps follow."),
    ]  # fmt: skip


# --------------------------------------------------------------------------- HTML

VALGRIND = """<html><head><title>Valgrind Frequently Asked Questions</title></head><body><div class="article">
<div><div><h1 class="title">
<a name="faq"></a>Valgrind Frequently Asked Questions</h1></div></div>
<br><table width="100%" summary="Q and A Div" cellpadding="2" cellspacing="2" border="0">
<tr class="question">
<td align="left" valign="top">
<a name="faq.pronounce"></a><a name="q-pronounce"></a><b>1.1.</b>
</td>
<td align="left" valign="top"><b>How do you pronounce "Valgrind"?</b></td>
</tr>
<tr class="answer">
<td align="left" valign="top"><a name="a-pronounce"></a></td>
<td align="left" valign="top">
<p>The "Val" as in the word "value".  The "grind" is pronounced
  with a short 'i' -- ie. "grinned" (rhymes with "tinned") rather than
  "grined" (rhymes with "find").</p>
<p>Don't feel bad: almost
  everyone gets it wrong at first.</p>
</td>
</tr>
</table></div></body></html>"""


def test_docbook_question_row_heads_its_answer_paragraphs():
    """Valgrind's DocBook FAQ: the bold question cell heads the answer's paragraphs, under the page's h1; the
    question's number cell ("1.1.", bold too but no question) is a bare section number and is dropped."""
    title = "Valgrind Frequently Asked Questions"
    question = (title, 'How do you pronounce "Valgrind"?')
    assert pairs("faq.html", VALGRIND) == [
        (question, 'The "Val" as in the word "value". The "grind" is pronounced\n with a short \'i\' -- ie. "grinned" '
         '(rhymes with "tinned") rather than\n "grined" (rhymes with "find").'),
        (question, "Don't feel bad: almost\n everyone gets it wrong at first."),
    ]  # fmt: skip


# --------------------------------------------------------------------------- Markdown, reST, DOCX


def test_markdown_bold_questions_details_and_q_a_paragraphs():
    """Markdown: a paragraph that is one bold (or emphasised) question heads what follows, a bold statement stays
    text; "## Other" ends the question's scope; a <summary> heads its <details> only; "Q: ... A: ..." is split."""
    source = (
        "# FAQ\n\n**How do I reset my password?**\n\nOpen *Settings* and choose **Reset**.\n\n"
        "**This is bold but no question.**\n\n*Can I change my email?*\n\nYes, under Profile.\n\n"
        "## Other\n\n<details>\n<summary>Is there a free plan?</summary>\n\nYes, for up to three users.\n\n"
        "</details>\n\nAfter the details.\n\nQ: Do you offer refunds?\nA: Within 30 days.\n"
    )
    assert pairs("faq.md", source) == [
        (("FAQ", "How do I reset my password?"), "Open Settings and choose Reset."),
        (("FAQ", "How do I reset my password?"), "This is bold but no question."),
        (("FAQ", "Can I change my email?"), "Yes, under Profile."),
        (("FAQ", "Other", "Is there a free plan?"), "Yes, for up to three users."),
        (("FAQ", "Other"), "After the details."),
        (("FAQ", "Other", "Do you offer refunds?"), "Within 30 days."),
    ]


def test_rst_question_terms_and_bold_questions_end_with_their_section():
    """reST: a definition term that is a question heads its definition (a glossary term stays "term: text"); a bold
    question paragraph heads what follows until its section ends."""
    source = (
        "FAQ\n===\n\nBilling\n-------\n\nHow do I cancel?\n   From the billing page.\n\n   Data is kept 30 days.\n\n"
        "API\n   Application programming interface.\n\n**Can I pay by invoice?**\n\nYes, on annual plans.\n\n"
        "Support\n-------\n\nWrite to us.\n"
    )
    assert pairs("faq.rst", source) == [
        (("FAQ", "Billing", "How do I cancel?"), "From the billing page."),
        (("FAQ", "Billing", "How do I cancel?"), "Data is kept 30 days."),
        (("FAQ", "Billing"), "API: Application programming interface."),
        (("FAQ", "Billing", "Can I pay by invoice?"), "Yes, on annual plans."),
        (("FAQ", "Support"), "Write to us."),
    ]


def test_docx_bold_question_paragraph_heads_its_answer():
    """DOCX: a paragraph whose runs are all bold and that asks heads the answer; a bold statement stays text."""
    document = docx.Document()
    document.add_paragraph().add_run("Can I export my data?").bold = True
    document.add_paragraph("Yes, as CSV from Settings.")
    document.add_paragraph().add_run("Exports are kept for a week.").bold = True
    buffer = io.BytesIO()
    document.save(buffer)
    assert pairs("faq.docx", buffer.getvalue()) == [
        (("Can I export my data?",), "Yes, as CSV from Settings."),
        (("Can I export my data?",), "Exports are kept for a week."),
    ]


# --------------------------------------------------------------------------- the helpers


def test_is_question():
    """Short asking texts are questions; a statement before the question, one word or overlong text is not."""
    assert is_question("How do you pronounce  \n Valgrind?")
    assert is_question("Shouldn't it be e.g. libxz?")  # abbreviations are no sentence end
    assert is_question("Is zlib subject to export controls?  What is its ECCN?")
    assert not is_question("See below. Why?")
    assert not is_question("See the log. Why does it fail?")
    assert not is_question("Why?")
    assert not is_question("Nothing. They are just two letters.")
    assert not is_question("Why " + "so " * 60 + "long?")
    # In any script and with "¿": a statement before the question ("É" or "¿" counted as no sentence start before).
    assert not is_question("Voir le journal. Étrange, pourquoi échoue-t-il ?")
    assert not is_question("Consulte el registro. ¿Por qué falla?")
    assert is_question("¿Por qué falla la importación?")
    assert is_question("Pourquoi l'import échoue-t-il avec la v2. en cours ?")  # "v2." is no sentence end


def test_question_of_split_q_and_a_and_answer_text():
    """`Q:` prefixes dropped and spaces collapsed; Q/A paragraphs split; `A:` prefixes dropped, text kept else."""
    assert question_of("Q:  Why is liblzma named liblzma?\n    Shouldn't it be e.g. libxz?") == (
        "Why is liblzma named liblzma? Shouldn't it be e.g. libxz?"
    )
    assert question_of("What systems are supported?") == "What systems are supported?"
    assert question_of("Q: The end.") is None
    assert split_q_and_a("Q: Do you offer refunds? A: Within 30 days.") == ("Do you offer refunds?", "Within 30 days.")
    assert split_q_and_a("Question 3: Do you ship abroad? Answer: Yes.") == ("Do you ship abroad?", "Yes.")
    assert split_q_and_a("Q: Do you offer refunds?") == ("Do you offer refunds?", "")
    assert split_q_and_a("Quite so. Nothing else?") == (None, "Quite so. Nothing else?")
    assert answer_text("A:  Nothing. They are just two letters") == "Nothing. They are just two letters"
    assert answer_text("Answer: yes") == "yes"
    assert answer_text("A:") == "A:"
    assert answer_text("Also fine.") == "Also fine."


VALGRIND_CONTENTS = VALGRIND.replace(
    '<br><table width="100%"',
    '<div class="qandaset"><dl><dt>1.  <a href="faq.html#faq.background">Background</a> </dt>'
    '<dd>1.1. <a href="faq.html#faq.pronounce">How do you pronounce "Valgrind"?</a> </dd></dl></div>'
    '<table><tr class="toc"><td>1.1. <a href="#faq.pronounce">How do you pronounce "Valgrind"?</a><br>'
    '1.2. <a href="#faq.whence">Where does the name "Valgrind" come from?</a><br></td></tr></table>'
    '<p><b>Where does the name "Valgrind" come from?</b></p><p>From Nordic mythology.</p>'
    '<br><table width="100%"',
)


def test_a_table_of_contents_listing_the_questions_is_not_kept():
    """The question index above a FAQ (one entry per block, or a row of them) holds no answer but matches its
    questions better than their answers do: it is dropped. Its non-question entry ("1. Background", not a heading
    of the page) and the answers stay."""
    kept = pairs("faq.html", VALGRIND_CONTENTS)
    texts = [text for _, text in kept]
    assert "1. Background" in texts
    assert not any("How do you pronounce" in text for text in texts)
    assert (("Valgrind Frequently Asked Questions", 'Where does the name "Valgrind" come from?'),
            "From Nordic mythology.") in kept  # fmt: skip
    assert kept[-1][0] == ("Valgrind Frequently Asked Questions", 'How do you pronounce "Valgrind"?')


def test_prose_naming_a_heading_and_a_contents_paragraph_of_a_text_faq():
    """A paragraph that mentions another section's heading among other words stays; a text FAQ's contents
    paragraph, a run of its own question lines, goes."""
    source = (
        "CONTENTS\n\n1.1. Where can I get lsof?\n1.2. How do I report an lsof bug?\n\n"
        "1.1. Where can I get lsof?\n\n   From the ftp site; see also How do I report an lsof bug? below for help.\n\n"
        "1.2. How do I report an lsof bug?\n\n   Send mail to the author with the output of lsof -v.\n"
    )
    assert pairs("00FAQ", source) == [
        ((), "CONTENTS"),
        (("Where can I get lsof?",), "From the ftp site; see also How do I report an lsof bug? below for help."),
        (("How do I report an lsof bug?",), "Send mail to the author with the output of lsof -v."),
    ]


def test_an_accordion_question_lasts_exactly_as_long_as_its_details_however_deep():
    """The scope test is by document position (linear for any depth, docs/knowledge-base.md): the answer nested
    deep inside the <details> carries its question, the paragraph after it, however shallow or deep, does not."""
    depth = 50
    page = (
        "<html><body><main><h1>Help</h1>" + "<div>" * depth + "<details><summary>Can I pay by invoice?</summary>"
        + "<section>" * depth + "<p>Yes, on the annual plan.</p>" + "</section>" * depth + "</details>"
        + "<p>Still deep, after it.</p>" + "</div>" * depth + "<p>Back at the top.</p></main></body></html>"
    )  # fmt: skip
    assert pairs("help.html", page) == [
        (("Help", "Can I pay by invoice?"), "Yes, on the annual plan."),
        (("Help",), "Still deep, after it."),
        (("Help",), "Back at the top."),
    ]


HELP_PAGE = """<html><head><title>Help</title></head><body><main><h1>Help centre</h1>
<details><summary>Is there a free trial?</summary><p>Fourteen days, no card needed.</p></details>
<p>Written by the support team.</p>
<dl><dt>Can I export my data?</dt><dd>Yes, from the Export page, as CSV.</dd>
<dt>Do you support SSO?</dt><dd>SAML and OIDC on the Business plan.</dd></dl>
<dl><dt>Workspace</dt><dd>Where a team keeps its boards.</dd></dl>
<div class="item"><button class="accordion">Where are you based?</button><div class="panel"><p>Lisbon.</p></div></div>
<p>Other offices open next year.</p>
<button>Close</button>
<p><strong>Important notice</strong></p>
<p>See the log. Why does it fail?</p>
</main></body></html>"""


def test_html_accordions_definition_terms_and_buttons():
    """A <summary> heads its <details> only, a question <dt> its <dd> (a glossary term stays text, as before), an
    accordion's question <button> the panel beside it within their item; a "Close" button is dropped; a bold
    statement and a paragraph asking after a statement stay text."""
    top = ("Help centre",)
    assert pairs("help.html", HELP_PAGE) == [
        ((*top, "Is there a free trial?"), "Fourteen days, no card needed."),
        (top, "Written by the support team."),
        ((*top, "Can I export my data?"), "Yes, from the Export page, as CSV."),
        ((*top, "Do you support SSO?"), "SAML and OIDC on the Business plan."),
        (top, "Workspace"),
        (top, "Where a team keeps its boards."),
        ((*top, "Where are you based?"), "Lisbon."),
        (top, "Other offices open next year."),
        (top, "Important notice"),
        (top, "See the log. Why does it fail?"),
    ]


def test_an_empty_markdown_summary_leaves_the_real_heading_in_place():
    """A <details> whose <summary> has no text, whole in one HTML block: nothing was pushed, so its end pops
    nothing (the section's heading stays for what follows)."""
    source = "# Setup\n\n<details><summary></summary>Hidden note.</details>\n\nAfter the details.\n"
    assert pairs("setup.md", source) == [(("Setup",), "Hidden note."), (("Setup",), "After the details.")]
