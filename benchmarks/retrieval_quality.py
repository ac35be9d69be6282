"""Retrieval quality: Beacon's pipeline against BM25 alone and a naive dense pipeline, one run.

Data: PostgreSQL's documentation as Debian ships it (`apt-get install postgresql-doc-15`, HTML
under /usr/share/doc/postgresql-doc-15/html). Each page (a sect1) becomes a document; its
sect2 section titles become the questions and are removed from the indexed text (sect3 titles
too, their text counts for the parent section). Only titles of two or more words that occur
once are used. A hit is a returned chunk whose middle falls inside the asked section's text.

Pipelines, all with the same embedding model (all-MiniLM-L6-v2):
- beacon: Beacon's ingestion (structure-aware token chunking, heading path embedded) and its
  hybrid search (pgvector HNSW + PostgreSQL full text, fused score), through the real services;
- bm25: Okapi BM25 (k1=1.2, b=0.75) over fixed 1000-character chunks with 200 overlap;
- naive: the same fixed 1000/200 chunks, dense cosine only (exact search).
Reports Recall@1, Recall@5 and MRR@10, and Beacon's ratio to each baseline.

    python benchmarks/retrieval_quality.py [--pages 120]
"""

from __future__ import annotations

import argparse
import math
import re
import time
from collections import Counter
from pathlib import Path

from _setup import django_setup, fresh_bot

DOCS = Path("/usr/share/doc/postgresql-doc-15/html")
NUMBERING = re.compile(r"^[A-Z]?[\d.]+\s+")
WORD = re.compile(r"[a-z0-9_]+")
STOP_WORDS = """a an and are as at be by for from has have how in is it its of on or that the this to was what when
where which who why will with do does can you your"""
STOP = frozenset(STOP_WORDS.split())


def norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def load_pages(limit: int) -> list[dict]:
    """[{title, sections: [{id, title, paragraphs}], intro: [paragraphs]}] for pages with 2+ sect2."""
    from bs4 import BeautifulSoup

    pages = []
    for path in sorted(DOCS.glob("*.html")):
        soup = BeautifulSoup(path.read_bytes(), "lxml")
        sect1 = soup.find("div", class_="sect1")
        if sect1 is None:
            continue
        sect2s = sect1.find_all("div", class_="sect2", recursive=False)
        if len(sect2s) < 2:
            continue
        for toc in sect1.find_all("div", class_="toc"):
            toc.decompose()
        page_title = NUMBERING.sub("", norm(sect1.find(["h2", "h1"]).get_text(" ")))
        sections = []
        for sect2 in sect2s:
            heading = sect2.find(["h3", "h2"])
            title = NUMBERING.sub("", norm(heading.get_text(" "))) if heading else ""
            for h in sect2.find_all(["h3", "h4", "h5"]):
                h.decompose()
            paragraphs = _paragraphs(sect2)
            sect2.decompose()
            if paragraphs:
                sections.append({"id": f"{path.name}#{len(sections)}", "title": title, "paragraphs": paragraphs})
        intro = [p for p in _paragraphs(sect1) if p != page_title]
        pages.append({"name": path.name, "title": page_title, "intro": intro[1:], "sections": sections})
        if len(pages) >= limit:
            break
    return pages


def _paragraphs(node) -> list[str]:
    out = []
    for element in node.find_all(["p", "pre", "li", "td", "dt", "dd"]):
        if element.find_parent(["p", "pre", "li", "td", "dd"]):
            continue
        text = norm(element.get_text(" "))
        if text:
            out.append(text)
    return out


def page_markdown(page: dict) -> str:
    body = [*page["intro"], *(p for section in page["sections"] for p in section["paragraphs"])]
    # A code line starting with '#' must not become a Markdown heading.
    body = [(" " + p) if p.startswith("#") else p for p in body]
    return f"# {page['title']}\n\n" + "\n\n".join(body) + "\n"


def page_plain(page: dict) -> str:
    body = [*page["intro"], *(p for section in page["sections"] for p in section["paragraphs"])]
    return "\n\n".join([page["title"], *body])


def questions(pages: list[dict]) -> list[dict]:
    counts = Counter(section["title"].lower() for page in pages for section in page["sections"])
    result = []
    for page in pages:
        for section in page["sections"]:
            if len(section["title"].split()) >= 2 and counts[section["title"].lower()] == 1:
                result.append({"question": section["title"], "page": page["name"], "section": section["id"]})
    return result


def section_locator(pages: list[dict]):
    """(page, chunk text) -> section id whose text holds the middle of the chunk (or None)."""
    by_page = {page["name"]: [(s["id"], norm(" ".join(s["paragraphs"]))) for s in page["sections"]] for page in pages}

    def locate(page_name: str, text: str) -> str | None:
        text = norm(text)
        middle = len(text) // 2
        window = text[max(0, middle - 30) : middle + 30]
        for section_id, section_text in by_page.get(page_name, []):
            if window and window in section_text:
                return section_id
        return None

    return locate


def fixed_chunks(pages: list[dict], size: int = 1000, overlap: int = 200) -> list[tuple[str, str]]:
    chunks = []
    for page in pages:
        text = page_plain(page)
        start = 0
        while start < len(text):
            chunks.append((page["name"], text[start : start + size]))
            if start + size >= len(text):
                break
            start += size - overlap
    return chunks


def tokenize(text: str) -> list[str]:
    return [w for w in WORD.findall(text.lower()) if w not in STOP]


class BM25:
    def __init__(self, docs: list[str], k1: float = 1.2, b: float = 0.75):
        self.k1, self.b = k1, b
        self.docs = [Counter(tokenize(d)) for d in docs]
        self.lengths = [sum(c.values()) for c in self.docs]
        self.avg = sum(self.lengths) / len(self.lengths)
        df = Counter(term for c in self.docs for term in c)
        n = len(self.docs)
        self.idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}

    def top(self, query: str, k: int) -> list[int]:
        terms = set(tokenize(query))
        scores = []
        for index, (counts, length) in enumerate(zip(self.docs, self.lengths, strict=True)):
            score = 0.0
            for term in terms:
                tf = counts.get(term)
                if tf:
                    score += (
                        self.idf[term] * tf * (self.k1 + 1) / (tf + self.k1 * (1 - self.b + self.b * length / self.avg))
                    )
            if score:
                scores.append((score, index))
        scores.sort(reverse=True)
        return [index for _, index in scores[:k]]


def metrics(ranked_hits: list[list[bool]]) -> dict:
    n = len(ranked_hits)
    r1 = sum(hits[:1].count(True) > 0 for hits in ranked_hits) / n
    r5 = sum(any(hits[:5]) for hits in ranked_hits) / n
    mrr = sum(next((1 / (i + 1) for i, hit in enumerate(hits[:10]) if hit), 0.0) for hits in ranked_hits) / n
    return {"recall@1": r1, "recall@5": r5, "mrr@10": mrr}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=120)
    args = parser.parse_args()
    if not DOCS.is_dir():
        raise SystemExit("Install the data first: apt-get install postgresql-doc-15")
    django_setup()
    import numpy as np
    from django.db import transaction

    from apps.core.embeddings import get_embedder
    from apps.documents.models import Chunk
    from apps.documents.selectors import chunk_search
    from apps.documents.services import IncomingFile, document_ingest_now, document_upload

    pages = load_pages(args.pages)
    qs = questions(pages)
    locate = section_locator(pages)
    print(f"data: {len(pages)} pages of the PostgreSQL 15 documentation, {len(qs)} questions")
    embedder = get_embedder()

    # Beacon: the real upload + pipeline + hybrid search.
    organization, bot = fresh_bot("retrieval benchmark", min_score=0.0)
    started = time.perf_counter()
    documents = {}
    for page in pages:
        with transaction.atomic():
            outcome = document_upload(
                organization=organization,
                bot=bot,
                files=[IncomingFile(name=page["name"].replace(".html", ".md"), data=page_markdown(page).encode())],
                enqueue=False,
            )[0]
        documents[document_ingest_now(document=outcome.document).pk] = page["name"]
    chunk_count = Chunk.objects.filter(bot=bot, searchable=True).count()
    print(f"beacon: {chunk_count} chunks indexed in {time.perf_counter() - started:.0f} s")
    query_vectors = embedder.encode([q["question"] for q in qs])
    beacon_hits = []
    for q, vector in zip(qs, query_vectors, strict=True):
        hits = chunk_search(organization=organization, bot=bot, query=q["question"], k=10, min_score=0.0, vector=vector)
        beacon_hits.append([locate(documents[h.document_id], h.text) == q["section"] for h in hits])

    # Baselines on fixed 1000/200 character chunks.
    naive = fixed_chunks(pages)
    print(f"baselines: {len(naive)} fixed 1000/200 character chunks")
    bm25 = BM25([text for _, text in naive])
    bm25_hits = [[locate(naive[i][0], naive[i][1]) == q["section"] for i in bm25.top(q["question"], 10)] for q in qs]
    naive_vectors = embedder.encode([text for _, text in naive])
    naive_hits = []
    for q, vector in zip(qs, query_vectors, strict=True):
        order = np.argsort(-(naive_vectors @ vector))[:10]
        naive_hits.append([locate(naive[i][0], naive[i][1]) == q["section"] for i in order])

    results = {"beacon": metrics(beacon_hits), "bm25": metrics(bm25_hits), "naive": metrics(naive_hits)}
    print(f"\n{'pipeline':10} {'Recall@1':>9} {'Recall@5':>9} {'MRR@10':>8}")
    for name, m in results.items():
        print(f"{name:10} {m['recall@1']:9.3f} {m['recall@5']:9.3f} {m['mrr@10']:8.3f}")
    for baseline in ("bm25", "naive"):
        b, m = results["beacon"], results[baseline]
        print(
            f"beacon / {baseline}: Recall@5 x{b['recall@5'] / max(m['recall@5'], 1e-9):.2f}, "
            f"MRR@10 x{b['mrr@10'] / max(m['mrr@10'], 1e-9):.2f}"
        )
    won = all(
        results["beacon"][metric] > results[baseline][metric]
        for baseline in ("bm25", "naive")
        for metric in ("recall@5", "mrr@10")
    )
    print("target (beats both on Recall@5 and MRR@10):", "met" if won else "NOT met")


if __name__ == "__main__":
    main()
