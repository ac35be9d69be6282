"""HTML main-content extraction: Beacon's extractor (apps/documents/extraction.py `extract_html`) against
trafilatura on real pages whose site chrome sits in divs and tables, not in nav/header/footer tags (issue 17
item 1).

Pages are HTML documentation that Debian packages ship under /usr/share/doc, each with a reference split
into main content and chrome taken from the page's own markup:

  postgresql  postgresql-doc-15: main = the body less div.navheader / div.navfooter (Prev/Up/Next tables)
  nodejs      nodejs (API docs): main = div#apicontent (role=main); chrome = the rest of the body (the
              role=navigation sidebar div, the header with its table of contents and version pickers)
  valgrind    valgrind: main = the body less table.nav (the navigation bars)
  libxslt     libxslt1-dev (gtk-doc API pages): main = the body less table.navigation

Figures (bag of words, lower-cased word tokens; micro-averaged over a corpus's pages):
  content kept     share of the main content's words that the extraction returns
  chrome kept      share of the chrome's words returned beyond what the main content accounts for
  headings kept    share of the main content's h1-h6 returned as headings (structure for the chunker)
  ms/page          extraction time

    python benchmarks/html_extraction.py [--pages 40]
"""

import argparse
import re
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = Path("/usr/share/doc")
WORD = re.compile(r"\w+")
DROPPED = ["script", "style", "noscript", "template", "svg"]


def _chrome_by_selector(selectors: list[str]):
    def split(soup):
        chrome = [node for selector in selectors for node in soup.select(selector)]
        chrome_text = " ".join(node.get_text(" ") for node in chrome)
        for node in chrome:
            node.decompose()
        return soup.body, chrome_text

    return split


def _main_by_selector(selector: str):
    def split(soup):
        main = soup.select_one(selector)
        main.extract()
        return main, soup.body.get_text(" ")

    return split


CORPORA = {
    "postgresql": ("postgresql-doc-15/html/*.html", _chrome_by_selector(["div.navheader", "div.navfooter"])),
    "nodejs": ("nodejs/api/*.html", _main_by_selector("div#apicontent")),
    "valgrind": ("valgrind/html/*.html", _chrome_by_selector(["table.nav"])),
    "libxslt": ("libxslt1-dev/html/html/*.html", _chrome_by_selector(["table.navigation"])),
}


def reference(data: bytes, split):
    """(main words, chrome words, main headings) of a page, from its markup."""
    from bs4 import BeautifulSoup, XMLParsedAsHTMLWarning

    warnings.filterwarnings("ignore", category=XMLParsedAsHTMLWarning)
    soup = BeautifulSoup(data, "lxml")
    for tag in soup(DROPPED):
        tag.decompose()
    if soup.body is None:
        return None
    main, chrome_text = split(soup)
    headings = {norm(h.get_text(" ")) for h in main.find_all(re.compile(r"^h[1-6]$"))} - {""}
    return words(main.get_text(" ")), words(chrome_text), headings


def words(text: str) -> Counter:
    return Counter(word.lower() for word in WORD.findall(text))


def norm(text: str) -> str:
    return " ".join(WORD.findall(text.lower()))


def beacon(data: bytes) -> tuple[str, set[str]]:
    """Beacon's HTML extraction: block texts and the headings of their paths (the chunker's structure)."""
    from apps.documents.extraction import extract_html

    extracted = extract_html(data)
    headings = {heading for block in extracted.blocks for heading in block.heading_path}
    return " ".join([*headings, *(block.text for block in extracted.blocks)]), {norm(h) for h in headings}


def trafilatura_xml(data: bytes, **options) -> tuple[str, set[str]]:
    """trafilatura's XML output (headings as <head>), tables and code included, links and comments not."""
    import trafilatura
    from lxml import etree

    xml = trafilatura.extract(
        data, output_format="xml", include_tables=True, include_comments=False, include_links=False, **options
    )
    if not xml:
        return "", set()
    tree = etree.fromstring(xml.encode())
    headings = {norm("".join(head.itertext())) for head in tree.iter("head")}
    return " ".join(tree.itertext()), headings


EXTRACTORS = {
    "beacon": beacon,
    "trafilatura": trafilatura_xml,
    "trafilatura recall": lambda data: trafilatura_xml(data, favor_recall=True),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=40, help="pages per corpus (evenly spread)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    import logging

    logging.disable(logging.WARNING)  # trafilatura notes discarded elements and empty pages on root
    print(f"{'corpus':<11} {'extractor':<19} {'pages':>5} {'content kept':>12} {'chrome kept':>11} "
          f"{'headings kept':>13} {'ms/page':>8}")  # fmt: skip
    totals = {name: Counter() for name in EXTRACTORS}
    for corpus, (pattern, split) in CORPORA.items():
        paths = sorted(DOC.glob(pattern))
        if not paths:
            print(f"{corpus:<11} (not installed: {DOC / pattern})")
            continue
        step = max(1, len(paths) // args.pages)
        pages = []
        for path in paths[::step][: args.pages]:
            data = path.read_bytes()
            ref = reference(data, split)
            if ref is not None and sum(ref[0].values()) >= 50 and sum(ref[1].values()) > 0:
                pages.append((data, ref))
        for name, extractor in EXTRACTORS.items():
            sums = Counter()
            for data, (main_words, chrome_words, main_headings) in pages:
                started = time.perf_counter()
                text, headings = extractor(data)
                sums["seconds"] += time.perf_counter() - started
                out = words(text)
                sums["main"] += sum(main_words.values())
                sums["main kept"] += sum(min(out[w], n) for w, n in main_words.items())
                sums["chrome"] += sum(chrome_words.values())
                sums["chrome kept"] += sum(
                    min(max(out[w] - main_words[w], 0), n) for w, n in chrome_words.items()
                )  # fmt: skip
                sums["headings"] += len(main_headings)
                sums["headings kept"] += len(main_headings & headings)
                sums["pages"] += 1
            totals[name] += sums
            _row(corpus, name, sums)
    for name, sums in totals.items():
        _row("all", name, sums)


def _row(corpus: str, name: str, sums: Counter) -> None:
    def share(part, whole):
        return f"{sums[part] / sums[whole]:.3f}" if sums[whole] else "-"

    print(f"{corpus:<11} {name:<19} {sums['pages']:>5} {share('main kept', 'main'):>12} "
          f"{share('chrome kept', 'chrome'):>11} {share('headings kept', 'headings'):>13} "
          f"{1000 * sums['seconds'] / max(sums['pages'], 1):>8.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
