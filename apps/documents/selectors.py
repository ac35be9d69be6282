"""Knowledge-base reads: documents of a bot, and hybrid search over its chunks.

Hybrid search. Candidates come from two indexes, both filtered by organization and bot:
- dense: pgvector HNSW (cosine) over the current model's vectors (iterative scan, so a selective
  bot filter still fills the list);
- full text: PostgreSQL `websearch_to_tsquery` against the chunk's tsvector (GIN), heading path
  weighted above the body.
Each candidate gets a fused relevance score in 0..1 that people can reason about:
    score = w * semantic + (1 - w) * lexical
where `semantic` is the cosine similarity of question and chunk (clipped at 0) and `lexical` is the
share of the question's distinct search terms that the chunk contains. `w` is the bot's
`dense_weight`; the bot's cut-off (`effective_min_score`: the owner's `min_score`, else the
calibrated one, docs/refusal.md) applies to this final score.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import QuerySet
from rest_framework.exceptions import NotFound

from apps.core.embeddings import get_embedder
from apps.documents.models import Document


def document_list(*, organization, bot, filters: dict | None = None) -> QuerySet[Document]:
    queryset = Document.objects.filter(organization=organization, bot=bot).order_by("-created_at", "-id")
    filters = filters or {}
    if filters.get("status"):
        queryset = queryset.filter(status=filters["status"])
    if filters.get("search"):
        queryset = queryset.filter(title__icontains=filters["search"])
    return queryset


def document_get(*, organization, bot, document_id: int) -> Document:
    document = document_list(organization=organization, bot=bot).filter(pk=document_id).first()
    if document is None:
        raise NotFound("Document not found.")
    return document


@dataclass
class SearchHit:
    chunk_id: int
    document_id: int
    document_title: str
    document_url: str
    heading_path: list[str]
    page: int | None
    position: int
    text: str
    snippet: str
    score: float
    semantic: float
    lexical: float | None  # None when the question has no search terms (only stop words)


MARK_START, MARK_END = "\x02", "\x03"

SEARCH_SQL = """
WITH terms AS (
    SELECT ARRAY(SELECT DISTINCT unnest(tsvector_to_array(to_tsvector(%(cfg)s::regconfig, %(q)s)))) AS terms
),
words AS (
    -- Each term as canonical tsquery text (plainto_tsquery never fails on odd characters).
    SELECT ord, plainto_tsquery('simple', t)::text AS q
    FROM terms, unnest(terms.terms[1:12]) WITH ORDINALITY u(t, ord)
),
params AS (
    SELECT (SELECT terms FROM terms) AS terms,
           -- any term: the fallback, since a natural-language question rarely has all its words in one passage
           (SELECT string_agg('(' || q || ')', ' | ') FROM words WHERE q <> '')::tsquery AS any_term,
           -- at least two terms (or the only one): selective, so the GIN scan stays cheap on big bots
           COALESCE(
               (SELECT string_agg('(' || a.q || ' & ' || b.q || ')', ' | ')
                FROM words a JOIN words b ON a.ord < b.ord AND a.ord <= 8 AND b.ord <= 8
                WHERE a.q <> '' AND b.q <> ''),
               (SELECT string_agg('(' || q || ')', ' | ') FROM words WHERE q <> '')
           )::tsquery AS two_terms
),
dense AS (
    SELECT e.chunk_id
    FROM documents_chunkembedding e
    JOIN documents_chunk c ON c.id = e.chunk_id
    WHERE e.model = %(model)s AND c.organization_id = %(org)s AND c.bot_id = %(bot)s AND c.searchable
    ORDER BY (e.embedding::vector({dims})) <=> %(vec)s::vector({dims})
    LIMIT %(n)s
),
lexical AS (
    SELECT c.id AS chunk_id
    FROM documents_chunk c, params p
    WHERE c.organization_id = %(org)s AND c.bot_id = %(bot)s AND c.searchable AND c.search_vector @@ p.two_terms
    ORDER BY ts_rank_cd(c.search_vector, p.two_terms) DESC
    LIMIT %(n)s
),
lexical_any AS (
    SELECT c.id AS chunk_id
    FROM documents_chunk c, params p
    WHERE (SELECT count(*) FROM lexical) < %(k)s
      AND c.organization_id = %(org)s AND c.bot_id = %(bot)s AND c.searchable AND c.search_vector @@ p.any_term
    ORDER BY ts_rank_cd(c.search_vector, p.any_term) DESC
    LIMIT %(n)s
),
candidates AS (
    SELECT chunk_id FROM dense UNION SELECT chunk_id FROM lexical UNION SELECT chunk_id FROM lexical_any
),
scored AS (
    SELECT c.id,
           GREATEST(0, 1 - ((e.embedding::vector({dims})) <=> %(vec)s::vector({dims}))) AS semantic,
           CASE WHEN cardinality(p.terms) = 0 THEN NULL ELSE
               (SELECT count(*) FROM unnest(p.terms) t WHERE t = ANY(tsvector_to_array(c.search_vector)))::float
               / cardinality(p.terms) END AS lexical
    FROM candidates k
    JOIN documents_chunk c ON c.id = k.chunk_id
    CROSS JOIN params p
    LEFT JOIN documents_chunkembedding e ON e.chunk_id = c.id AND e.model = %(model)s
),
ranked AS (
    SELECT id, semantic, lexical,
           CASE WHEN lexical IS NULL THEN semantic ELSE %(w)s * semantic + (1 - %(w)s) * lexical END AS score
    FROM scored
),
top AS (
    -- The cut-off compares the score as reported (4 decimals), so a hit shown at the cut-off passes it.
    SELECT * FROM ranked WHERE round(score::numeric, 4) >= %(min_score)s ORDER BY score DESC, id LIMIT %(k)s
)
-- Snippets (ts_headline is slow) only for the k rows returned.
SELECT c.id, c.document_id, d.title, d.url, c.heading_path, c.page, c.position, c.text,
       t.semantic, t.lexical, t.score,
       ts_headline(%(cfg)s::regconfig, c.text, p.any_term,
                   'StartSel=' || chr(2) || ', StopSel=' || chr(3) || ', MaxFragments=2, MaxWords=35, MinWords=12,
                    FragmentDelimiter=" … "') AS snippet
FROM top t
JOIN documents_chunk c ON c.id = t.id
JOIN documents_document d ON d.id = c.document_id
CROSS JOIN params p
ORDER BY t.score DESC, c.id
"""


def _snippet(raw: str | None, text: str) -> str:
    """HTML-escaped snippet with <mark> around matched terms (safe to render as HTML)."""
    raw = raw if raw and MARK_START in raw else text[:240] + ("…" if len(text) > 240 else "")
    return html.escape(raw).replace(MARK_START, "<mark>").replace(MARK_END, "</mark>")


def chunk_search(
    *,
    organization,
    bot,
    query: str,
    k: int | None = None,
    min_score: float | None = None,
    candidates: int = 40,
    vector=None,
) -> list[SearchHit]:
    """The bot's best chunks for `query`, best first, at or above the cut-off (the bot's by default).

    `vector` is the query's embedding when the caller already has it (benchmarks, chat).
    """
    assert bot.organization_id == organization.pk
    k = k or bot.top_k
    min_score = bot.effective_min_score if min_score is None else min_score
    weight = bot.dense_weight
    embedder = get_embedder()
    vector = embedder.encode([query])[0] if vector is None else vector
    n = max(candidates, k * 4)
    sql = SEARCH_SQL.format(dims=int(embedder.dimensions))
    params = {
        "cfg": settings.SEARCH_TEXT_CONFIG,
        "q": query,
        "model": embedder.name,
        "org": organization.pk,
        "bot": bot.pk,
        "vec": "[" + ",".join(f"{x:.7f}" for x in vector) + "]",
        "n": n,
        "k": k,
        "w": weight,
        "min_score": min_score,
    }
    with transaction.atomic(), connection.cursor() as cursor:
        # pgvector 0.8: keep scanning the HNSW graph until enough rows pass the bot filter.
        cursor.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
        cursor.execute("SELECT set_config('hnsw.ef_search', %s, true)", [str(max(settings.SEARCH_HNSW_EF_SEARCH, n))])
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [
        SearchHit(
            chunk_id=chunk_id,
            document_id=document_id,
            document_title=title,
            document_url=url,
            heading_path=list(heading_path or []),
            page=page,
            position=position,
            text=text,
            snippet=_snippet(snippet, text),
            score=round(float(score), 4),
            semantic=round(float(semantic or 0.0), 4),
            lexical=round(float(lexical), 4) if lexical is not None else None,
        )
        for (chunk_id, document_id, title, url, heading_path, page, position, text, semantic, lexical, score,
             snippet) in rows
    ]  # fmt: skip
