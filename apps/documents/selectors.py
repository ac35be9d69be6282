"""Knowledge-base reads: documents of a bot, and hybrid search over its chunks (docs/search.md).

Hybrid search. Candidates come from two indexes, both filtered by organization and bot:
- dense: pgvector HNSW (cosine) over the current model's vectors (iterative scan, so a selective
  bot filter still fills the list);
- full text: PostgreSQL `to_tsquery` against the chunk's tsvector (GIN), built from the question's
  terms rarest first (pairs of the 8 rarest, then any of the 12 rarest when pairs find too few).
Each candidate gets a fused relevance score in 0..1 that people can reason about:
    score = w * semantic + (1 - w) * lexical
- `semantic`: the cosine similarity of question and chunk (clipped at 0);
- `lexical`: BM25 normalised to 0..1, computed per text-search configuration (a bot's chunks may be in
  several languages, `Chunk.search_config`): for a chunk, the question's distinct lexemes t are
  to_tsvector(<the chunk's configuration>, question), N the bot's searchable chunks of that
  configuration, df(t) those holding t, tf(t, d) the occurrences of t in chunk d (tsvector positions,
  heading path included), len(d) the chunk's lexeme occurrences and avgdl their average
  (lexeme_stats.py keeps N, df and the lengths per configuration):
      idf(t) = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))
      lexical(d) = sum_t idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(d) / avgdl))
                   / sum_t idf(t) * (k1 + 1)
  with k1 = 1.2, b = 0.75. The terms are those of the question's subject (`languages.question_subject`:
  without "can you tell me about", "explain", "please"), so a conversational question scores as the
  same question asked plainly, and without the question words that English's stop list drops and the
  configuration's keeps ("comment", "warum": `languages.without_question_words`). A term no chunk holds
  has the largest idf and adds nothing to the numerator, so a question about things the documents never
  mention scores low; it is the IDF-weighted coverage of the question's terms that refusal calibration uses;
- `w` is the bot's `dense_weight`; the bot's cut-off (`effective_min_score`: the owner's `min_score`,
  else the calibrated one, docs/refusal.md) applies to `score`.
With RERANKER on (apps/core/reranker.py), the best RERANKER_CANDIDATES fused hits above the cut-off
are reordered by the reranker and the best k returned, each with `rerank_score`; if the reranker
fails the fused order is kept (`reranked` False) and a warning logged.
A question's answerability is the fused `score` of its top hit (`chunk_search(..., k=1)`).
"""

from __future__ import annotations

import html
import json
import logging
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Max, QuerySet, Sum
from rest_framework.exceptions import NotFound

from apps.core.embeddings import get_embedder
from apps.core.languages import (
    AUTO,
    QUESTION_WORD_CONFIGS,
    question_subject,
    search_config,
    without_question_words,
)
from apps.core.reranker import RerankerError, get_reranker
from apps.documents.models import Chunk, ChunkEmbedding, Document, chunk_embed_text

logger = logging.getLogger(__name__)


def document_list(*, organization, bot, filters: dict | None = None) -> QuerySet[Document]:
    queryset = Document.objects.filter(organization=organization, bot=bot).order_by("-created_at", "-id")
    filters = filters or {}
    if filters.get("status"):
        queryset = queryset.filter(status=filters["status"])
    if filters.get("search"):
        queryset = queryset.filter(title__icontains=filters["search"])
    return queryset


def chunk_vectors(*, chunk_ids) -> dict[int, np.ndarray]:
    """The current embedding model's vector of each chunk (for citation and answer checks)."""
    rows = ChunkEmbedding.objects.filter(chunk_id__in=list(chunk_ids), model=get_embedder().name).values_list(
        "chunk_id", "embedding"
    )
    return {chunk_id: np.asarray(vector, dtype=np.float32) for chunk_id, vector in rows}


def document_get(*, organization, bot, document_id: int, follow_versions: bool = False) -> Document:
    """The bot's document with this id. `follow_versions` (reads): or the version that replaced the document that
    had it (a new version of a file is a new row, its predecessor deleted when it is ready: ids kept by clients and
    citations still find the file). Without it (a delete, a reprocess) an earlier version's id is a NotFound naming
    the current one: a client tidying up an old id must not delete the file's current version. NotFound otherwise
    (another bot's or organization's document too)."""
    documents = document_list(organization=organization, bot=bot)
    document = documents.filter(pk=document_id).first()
    if document is None:  # only on this path: an earlier version's id (a GIN index), among the bot's documents
        current = documents.filter(earlier_ids__contains=[document_id]).first()
        if current is not None and follow_versions:
            return current
        if current is not None:
            raise NotFound(
                f"Document {document_id} is an earlier version of document {current.pk} (version {current.version}), "
                "which replaced it; act on that id."
            )
        raise NotFound("Document not found.")
    return document


def chunk_list(*, organization, document: Document) -> QuerySet[Chunk]:
    """The searchable chunks of a document in reading order (what search sees; a version being built is
    not listed until finalize swaps it in). One query per page, whatever the document's size."""
    return (
        Chunk.objects.filter(organization=organization, document=document, searchable=True)
        .defer("search_vector")
        .order_by("position")
    )


def bot_stats(*, organization, bot) -> dict:
    """The knowledge base of a bot in figures: documents by status, searchable chunks and their tokens
    (the ready documents' totals, kept by the pipeline), their languages, the last finished ingestion.
    Three queries."""
    documents = Document.objects.filter(organization=organization, bot=bot)
    by_status = dict.fromkeys(Document.Status.values, 0)
    by_status.update(documents.order_by().values_list("status").annotate(n=Count("pk")))
    ready = documents.filter(status=Document.Status.READY)
    totals = ready.aggregate(chunks=Sum("chunk_count"), tokens=Sum("token_count"), last=Max("processed_at"))
    languages = dict(ready.order_by("language").values_list("language").annotate(n=Count("pk")))
    return {
        "documents": sum(by_status.values()),
        "documents_by_status": by_status,
        "chunks": totals["chunks"] or 0,
        "tokens": totals["tokens"] or 0,
        "languages": languages,
        "last_ingestion_at": totals["last"],
    }


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
    # The reranker's score (its own scale) when RERANKER is on and answered; None otherwise.
    rerank_score: float | None = None
    # False when a configured reranker failed (outage): the hits keep the fused order.
    reranked: bool = False
    # The chunk's text-search configuration (`Chunk.search_config`): how its words were read.
    search_config: str = ""


MARK_START, MARK_END = "\x02", "\x03"

# BM25 parameters: term-frequency saturation, length normalisation, and what one occurrence in the
# heading path (tsvector weight A) counts for in tf.
BM25_K1 = 1.2
BM25_B = 0.75
BM25_HEADING_TF = 1.0
BM25_NORM = BM25_K1 + 1

#: The question's terms and the candidate queries built from them, per text-search configuration (`params`).
TERMS_SQL = """
WITH configs AS (
    -- The text-search configurations of the bot's searchable chunks (one per language; the bot's own when
    -- it has none yet): the question is parsed with each, and each chunk is scored with its own's terms.
    SELECT s.config AS cfg FROM documents_bottextstats s WHERE s.bot_id = %(bot)s AND s.chunk_count > 0
    UNION
    SELECT %(cfg)s
    WHERE NOT EXISTS (SELECT 1 FROM documents_bottextstats s WHERE s.bot_id = %(bot)s AND s.chunk_count > 0)
),
terms AS (
    -- The question as parsed by each configuration: without that language's question words where English's stop
    -- list would have dropped them (the q_by_cfg parameter: languages.without_question_words), else as asked.
    SELECT g.cfg, ARRAY(SELECT DISTINCT unnest(tsvector_to_array(
               to_tsvector(g.cfg::regconfig, coalesce(%(q_by_cfg)s::jsonb ->> g.cfg, %(q)s))))) AS terms
    FROM configs g
),
stats AS (
    SELECT g.cfg, coalesce(s.chunk_count, 0)::float AS n,
           coalesce(s.lexeme_total::float / NULLIF(s.chunk_count, 0), 0) AS avgdl
    FROM configs g LEFT JOIN documents_bottextstats s ON s.bot_id = %(bot)s AND s.config = g.cfg
),
idf AS (
    -- BM25 idf among the bot's chunks of the configuration; a term no chunk holds gets the largest idf (df = 0).
    SELECT t.cfg, u.term, coalesce(l.df, 0) AS df,
           ln(1 + (greatest(st.n - coalesce(l.df, 0), 0) + 0.5) / (coalesce(l.df, 0) + 0.5)) AS idf
    FROM terms t JOIN stats st ON st.cfg = t.cfg CROSS JOIN LATERAL unnest(t.terms) u(term)
    LEFT JOIN documents_lexemestat l ON l.bot_id = %(bot)s AND l.config = t.cfg AND l.lexeme = u.term
),
words AS (
    -- Each term as canonical tsquery text (plainto_tsquery never fails on odd characters), rarest first,
    -- so the candidate queries below keep the terms that discriminate.
    SELECT i.cfg, row_number() OVER (PARTITION BY i.cfg ORDER BY i.idf DESC, i.term) AS ord,
           plainto_tsquery('simple', i.term)::text AS q, i.df
    FROM idf i
),
-- The lexical candidates are ranked one by one (ts_rank_cd reads each matching chunk), so they cost the number
-- of chunks the candidate query matches. Pairs of the 8 rarest terms keep that small while the terms are rare;
-- on a big bot a question of several common words ("change", "settings", "key", "team") made 21 pairs that
-- matched 66,000 of 150,000 chunks (5.5 s). Each group of terms gets the number of chunks it should match
-- (df(a) * df(b) / N, as if the terms were independent), and the groups are kept cheapest first while their
-- total stays under the budget (SEARCH_LEXICAL_BUDGET; the cheapest group always); when even the cheapest pair
-- is over it, triples of the rarest terms take the pairs' place. A small bot keeps every pair.
pairs AS (
    SELECT a.cfg, '(' || a.q || ' & ' || b.q || ')' AS q, a.df::float * b.df / greatest(st.n, 1) AS est
    FROM words a JOIN words b ON b.cfg = a.cfg AND a.ord < b.ord AND b.ord <= 8 JOIN stats st ON st.cfg = a.cfg
    WHERE a.q <> '' AND b.q <> ''
),
triples AS (
    SELECT a.cfg, '(' || a.q || ' & ' || b.q || ' & ' || c.q || ')' AS q,
           a.df::float * b.df / greatest(st.n, 1) * c.df / greatest(st.n, 1) AS est
    FROM words a JOIN words b ON b.cfg = a.cfg AND a.ord < b.ord
    JOIN words c ON c.cfg = a.cfg AND b.ord < c.ord AND c.ord <= 8 JOIN stats st ON st.cfg = a.cfg
    WHERE a.q <> '' AND b.q <> '' AND c.q <> ''
),
pairs_fit AS (SELECT DISTINCT cfg FROM pairs WHERE est <= %(budget)s),
groups AS (
    SELECT p.cfg, p.q, p.est FROM pairs p
    WHERE p.cfg IN (SELECT cfg FROM pairs_fit) OR p.cfg NOT IN (SELECT cfg FROM triples)
    UNION ALL
    SELECT t.cfg, t.q, t.est FROM triples t WHERE t.cfg NOT IN (SELECT cfg FROM pairs_fit)
),
groups_kept AS (
    SELECT g.cfg, g.q
    FROM (SELECT cfg, q, coalesce(sum(est) OVER (PARTITION BY cfg ORDER BY est, q
                                                 ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS before
          FROM groups) g
    WHERE g.before < %(budget)s
),
-- The fallback's terms, rarest first, while their chunks (df) stay under the budget (the rarest always).
any_kept AS (
    SELECT w.cfg, w.q
    FROM (SELECT cfg, q, coalesce(sum(df) OVER (PARTITION BY cfg ORDER BY ord
                                                ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS before
          FROM words WHERE q <> '' AND ord <= 12) w
    WHERE w.before < %(budget)s
),
params AS (
    SELECT t.cfg, t.terms,
           (SELECT sum(i.idf) FROM idf i WHERE i.cfg = t.cfg) AS idf_total,
           -- any term (the snippets mark them all)
           (SELECT string_agg('(' || w.q || ')', ' | ') FROM words w
            WHERE w.cfg = t.cfg AND w.q <> '' AND w.ord <= 12)::tsquery AS any_term,
           -- the fallback, since a natural-language question rarely has all its words in one passage
           (SELECT string_agg('(' || w.q || ')', ' | ') FROM any_kept w WHERE w.cfg = t.cfg)::tsquery AS any_candidates,
           -- groups of two (or three) terms, or the only one: selective, so the GIN scan stays cheap on big bots
           COALESCE(
               (SELECT string_agg(g.q, ' | ') FROM groups_kept g WHERE g.cfg = t.cfg),
               (SELECT string_agg('(' || w.q || ')', ' | ') FROM any_kept w WHERE w.cfg = t.cfg)
           )::tsquery AS term_groups
    FROM terms t
)
"""

SEARCH_SQL = (
    TERMS_SQL
    + """,
dense AS (
    SELECT e.chunk_id
    FROM documents_chunkembedding e
    JOIN documents_chunk c ON c.id = e.chunk_id
    WHERE e.model = %(model)s AND c.organization_id = %(org)s AND c.bot_id = %(bot)s AND c.searchable
    ORDER BY (e.embedding::vector({dims})) <=> %(vec)s::vector({dims})
    LIMIT %(n)s
),
lexical AS (
    -- Per configuration: its chunks against the question parsed with it (one GIN scan per language).
    SELECT c.id AS chunk_id
    FROM params p JOIN documents_chunk c ON c.search_config = p.cfg
    WHERE c.organization_id = %(org)s AND c.bot_id = %(bot)s AND c.searchable AND c.search_vector @@ p.term_groups
    ORDER BY ts_rank_cd(c.search_vector, p.term_groups) DESC
    LIMIT %(n)s
),
lexical_any AS (
    SELECT c.id AS chunk_id
    FROM params p JOIN documents_chunk c ON c.search_config = p.cfg
    WHERE (SELECT count(*) FROM lexical) < %(k)s
      AND c.organization_id = %(org)s AND c.bot_id = %(bot)s AND c.searchable AND c.search_vector @@ p.any_candidates
    ORDER BY ts_rank_cd(c.search_vector, p.any_candidates) DESC
    LIMIT %(n)s
),
candidates AS (
    SELECT chunk_id FROM dense UNION SELECT chunk_id FROM lexical UNION SELECT chunk_id FROM lexical_any
),
scored AS (
    SELECT c.id,
           GREATEST(0, 1 - ((e.embedding::vector({dims})) <=> %(vec)s::vector({dims}))) AS semantic,
           CASE WHEN p.cfg IS NULL OR cardinality(p.terms) = 0 OR NOT p.idf_total > 0 THEN NULL
                ELSE least(1, coalesce(bm.score, 0) / (p.idf_total * %(lexnorm)s)) END AS lexical
    FROM candidates k
    JOIN documents_chunk c ON c.id = k.chunk_id
    LEFT JOIN params p ON p.cfg = c.search_config
    LEFT JOIN stats st ON st.cfg = c.search_config
    LEFT JOIN documents_chunkembedding e ON e.chunk_id = c.id AND e.model = %(model)s
    LEFT JOIN LATERAL (
        -- BM25 of the chunk: tf from the tsvector's positions (a heading occurrence counts %(hw)s),
        -- the chunk's length in lexeme occurrences against the bot's average.
        SELECT sum(i.idf * f.tf * (%(k1)s + 1)
                   / (f.tf + %(k1)s * (1 - %(b)s + %(b)s * m.len / greatest(st.avgdl, 1)))) AS score
        FROM (SELECT u.lexeme, u.weights, sum(coalesce(cardinality(u.positions), 1)) OVER () AS len
              FROM unnest(c.search_vector) u) m
        JOIN idf i ON i.cfg = c.search_config AND i.term = m.lexeme
        CROSS JOIN LATERAL (
            SELECT coalesce(sum(CASE WHEN w = 'A' THEN %(hw)s ELSE 1 END), 1) AS tf FROM unnest(m.weights) w
        ) f
    ) bm ON true
),
ranked AS (
    SELECT id, semantic, lexical,
           CASE WHEN lexical IS NULL THEN semantic ELSE %(w)s * semantic + (1 - %(w)s) * lexical END AS score
    FROM scored
),
top AS (
    -- The cut-off compares the score as reported (4 decimals), so a hit shown at the cut-off passes it.
    SELECT * FROM ranked WHERE round(score::numeric, 4) >= %(min_score)s ORDER BY score DESC, id LIMIT %(limit)s
)
-- Snippets (ts_headline is slow) only for the k rows returned.
SELECT c.id, c.document_id, d.title, d.url, c.heading_path, c.page, c.position, c.text,
       t.semantic, t.lexical, t.score, c.search_config,
       ts_headline(c.search_config::regconfig, c.text, p.any_term,
                   'StartSel=' || chr(2) || ', StopSel=' || chr(3) || ', MaxFragments=2, MaxWords=35, MinWords=12,
                    FragmentDelimiter=" … "') AS snippet
FROM top t
JOIN documents_chunk c ON c.id = t.id
JOIN documents_document d ON d.id = c.document_id
LEFT JOIN params p ON p.cfg = c.search_config
ORDER BY t.score DESC, c.id
"""
)


def bot_search_config(bot) -> str:
    """The text-search configuration a question to a bot without searchable chunks is parsed with: its
    language's (`auto`: SEARCH_TEXT_CONFIG). With chunks, each of their configurations is used."""
    return settings.SEARCH_TEXT_CONFIG if bot.language == AUTO else search_config(bot.language)


def _snippet(raw: str | None, text: str) -> str:
    """HTML-escaped snippet with <mark> around matched terms (safe to render as HTML)."""
    raw = raw if raw and MARK_START in raw else text[:240] + ("…" if len(text) > 240 else "")
    return html.escape(raw).replace(MARK_START, "<mark>").replace(MARK_END, "</mark>")


def _terms_params(*, bot, query: str) -> dict:
    """The parameters of TERMS_SQL. The lexical side reads the question's subject: "tell me about", "explain" are
    not search terms."""
    subject = question_subject(query)
    return {
        "cfg": bot_search_config(bot),
        "q": subject,
        "q_by_cfg": json.dumps({config: without_question_words(subject, config) for config in QUESTION_WORD_CONFIGS}),
        "bot": bot.pk,
        "budget": settings.SEARCH_LEXICAL_BUDGET,
    }


def chunk_search_term_queries(*, bot, query: str) -> dict[str, tuple[str, str]]:
    """The lexical candidate queries chunk_search runs for `query`, per text-search configuration:
    {config: (term groups, fallback of single terms)} as tsquery text. For checks (tests, explaining a search)."""
    with connection.cursor() as cursor:
        cursor.execute(
            TERMS_SQL + "SELECT cfg, term_groups::text, any_candidates::text FROM params",
            _terms_params(bot=bot, query=query),
        )
        return {cfg: (groups or "", any_candidates or "") for cfg, groups, any_candidates in cursor.fetchall()}


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

    `vector` is the query's embedding when the caller already has it, so a question is embedded once
    (a chat turn, refusal calibration, answer evaluation, benchmarks).
    """
    assert bot.organization_id == organization.pk
    k = k or bot.top_k
    min_score = bot.effective_min_score if min_score is None else min_score
    weight = bot.dense_weight
    embedder = get_embedder()
    reranker = get_reranker()
    vector = embedder.encode([query])[0] if vector is None else vector
    n = max(candidates, k * 4)
    sql = SEARCH_SQL.format(dims=int(embedder.dimensions))
    params = {
        **_terms_params(bot=bot, query=query),
        "model": embedder.name,
        "org": organization.pk,
        "bot": bot.pk,
        "vec": "[" + ",".join(f"{x:.7f}" for x in vector) + "]",
        "n": n,
        "k": k,
        # With a reranker, more fused candidates go to it than are returned.
        "limit": max(k, settings.RERANKER_CANDIDATES) if reranker is not None else k,
        "w": weight,
        "k1": BM25_K1,
        "b": BM25_B,
        "hw": BM25_HEADING_TF,
        "lexnorm": BM25_NORM,
        "min_score": min_score,
    }
    with transaction.atomic(), connection.cursor() as cursor:
        # pgvector 0.8: keep scanning the HNSW graph until enough rows pass the bot filter.
        cursor.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
        cursor.execute("SELECT set_config('hnsw.ef_search', %s, true)", [str(max(settings.SEARCH_HNSW_EF_SEARCH, n))])
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    hits = [
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
            search_config=config,
        )
        for (chunk_id, document_id, title, url, heading_path, page, position, text, semantic, lexical, score,
             config, snippet) in rows
    ]  # fmt: skip
    if reranker is None or not hits:
        return hits
    return _reranked(reranker, query, hits, k)


# Strict grounding: the question's terms (lexemes, in the order of their first position) that the bot's documents
# hold somewhere (df > 0) and none of the given chunks of that configuration holds.
MISSING_TERMS_SQL = """
WITH asked AS (
    SELECT lexeme, min(position) AS first
    FROM unnest(to_tsvector(%(cfg)s::regconfig, %(q)s)) AS t(lexeme, positions, weights), unnest(positions) AS position
    GROUP BY lexeme
)
SELECT a.lexeme
FROM asked a
JOIN documents_lexemestat s ON s.bot_id = %(bot)s AND s.config = %(cfg)s AND s.lexeme = a.lexeme AND s.df > 0
WHERE NOT EXISTS (
    SELECT 1 FROM documents_chunk c
    WHERE c.id = ANY(%(ids)s) AND c.bot_id = %(bot)s AND c.search_config = %(cfg)s
      AND a.lexeme = ANY(tsvector_to_array(c.search_vector))
)
ORDER BY a.first, a.lexeme
"""


def chunk_terms_missing(*, bot, question: str, hits: list[SearchHit]) -> list[str]:
    """Strict grounding (docs/refusal.md#strict-grounding): the terms of `question` (of its subject, as the search
    reads it) that the bot's documents hold somewhere and none of `hits` holds, as PostgreSQL reads them (lexemes:
    "greater than 4 GB" -> ["greater", "4", "gb"] when the passages found say nothing of them). Empty when `hits`
    hold every such term, or there are no hits. The question is read in the best hit's configuration, against the
    hits of that configuration (a passage in another language holds other lexemes); a term no document holds is
    left to the score (the documents may say it in other words)."""
    if not hits:
        return []
    config = hits[0].search_config or bot_search_config(bot)
    params = {
        "cfg": config,
        "q": without_question_words(question_subject(question), config),
        "bot": bot.pk,
        "ids": [hit.chunk_id for hit in hits],
    }
    with connection.cursor() as cursor:
        cursor.execute(MISSING_TERMS_SQL, params)
        return [lexeme for (lexeme,) in cursor.fetchall()]


def _reranked(reranker, query: str, hits: list[SearchHit], k: int) -> list[SearchHit]:
    """The fused candidates reordered by the reranker, best k. On a reranker failure: the fused order
    with a logged warning (`reranked` stays False), never an error for the person searching.
    Called outside any transaction (a network call)."""
    try:
        scores = reranker.rerank(query, [chunk_embed_text(hit.heading_path, hit.text) for hit in hits])
    except RerankerError as exc:
        logger.warning("reranker %s failed, keeping the fused order: %s", reranker.name, exc)
        return hits[:k]
    for hit, score in zip(hits, scores, strict=True):
        hit.rerank_score = round(score, 4)
        hit.reranked = True
    # Stable: equal reranker scores keep the fused order.
    return sorted(hits, key=lambda hit: -hit.rerank_score)[:k]
