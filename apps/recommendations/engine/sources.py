"""Candidate sources at request time, each a small unit: (context) -> Candidates + evidence.

`UserContext` is loaded once per request (two queries): the user's latest positive events, the
items never to recommend again (completed, consumed, dismissed), and the active model. Each
source returns `Candidates` (item ids, raw scores) and, per item, the evidence its reason is
written from (the history item that led there, the course...). Sources query PostgreSQL only
through indexes: pgvector HNSW for CF and content, btree for the rest (the item-item sources —
co-occurrence, EASE, RP3beta, sequence — share one query for the history's stored neighbours;
trending is one lookup of a stored chart).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.db import connection, transaction

from apps.recommendations.engine.blend import Candidates
from apps.recommendations.engine.data import SignalRules
from apps.recommendations.engine.fit import history_weights, trending_bucket
from apps.recommendations.engine.interest_sources import source_chat, source_interests
from apps.recommendations.models import RecommenderModel


def signal_rules() -> SignalRules:
    return SignalRules(
        rating_positive_min=settings.REC_RATING_POSITIVE_MIN, consumed_kinds=frozenset(settings.REC_CONSUMED_KINDS)
    )


@dataclass
class UserContext:
    organization_id: int
    user_id: int
    model: RecommenderModel | None
    #: latest positive events, newest first: item ids, kinds and history weights (recency-decayed)
    history_items: list[int] = field(default_factory=list)
    history_kinds: list[str] = field(default_factory=list)
    history_weights: np.ndarray = field(default_factory=lambda: np.zeros(0))
    excluded: set[int] = field(default_factory=set)  # completed, consumed, dismissed
    completed: set[int] = field(default_factory=set)
    touched: set[int] = field(default_factory=set)  # started, in progress or completed
    #: courses/modules the user is working through: their next item is recommended, not themselves
    containers: set[int] = field(default_factory=set)
    #: content embeddings fetched so far in this request (the history's, then the candidates')
    vectors: dict[int, np.ndarray] = field(default_factory=dict)
    #: the history items' stored neighbours, per item-item kind: [(item, neighbours, scores)] (one query)
    neighbor_rows: dict[str, list] | None = None
    #: epoch seconds of the user's latest event of any kind (their "now" for the trending source)
    latest_time: float | None = None
    #: whether source_graph may enqueue a refresh of stale graph rows (RankRequest.graph_refresh)
    graph_refresh: bool = True

    @property
    def params(self) -> dict:
        return self.model.params if self.model else {}

    @property
    def cold(self) -> bool:
        return not self.history_items


HISTORY_SQL = """
SELECT item_id, kind, weight, value, extract(epoch FROM occurred_at)
FROM progress_interaction
WHERE organization_id = %s AND user_id = %s
ORDER BY occurred_at DESC, id DESC
LIMIT %s
"""

# Everything never to recommend again (not only the latest events): dismiss is final.
STATE_SQL = """
SELECT item_id, 'x' FROM progress_interaction
WHERE organization_id = %(org)s AND user_id = %(user)s AND kind = ANY(%(kinds)s)
UNION
SELECT item_id, CASE WHEN status = 'completed' THEN 'c' ELSE 't' END FROM progress_progress
WHERE organization_id = %(org)s AND user_id = %(user)s AND status IN ('completed', 'in_progress')
"""


_models: dict[int, tuple[int, RecommenderModel | None]] = {}


def active_model(*, organization_id: int) -> RecommenderModel | None:
    """The serving model, kept per process while the organization's cache version is unchanged (a
    new model bumps it on commit), so a request reads one Redis key instead of the model's row."""
    from apps.recommendations.engine.cache import organization_version

    version = organization_version(organization_id=organization_id)
    known = _models.get(organization_id)
    if known is not None and known[0] == version and version:
        return known[1]
    model = (
        RecommenderModel.objects.filter(organization_id=organization_id, status=RecommenderModel.Status.READY)
        .order_by("-version")
        .first()
    )
    _models[organization_id] = (version, model)
    return model


def user_context_load(*, organization_id: int, user_id: int) -> UserContext:
    rules = signal_rules()
    model = active_model(organization_id=organization_id)
    context = UserContext(organization_id, user_id, model)
    half_life = (model.params if model else {}).get("history_half_life", 10.0)
    with connection.cursor() as cursor:
        cursor.execute(HISTORY_SQL, [organization_id, user_id, settings.REC_HISTORY_LIMIT * 3])
        events = cursor.fetchall()
        cursor.execute(
            STATE_SQL, {"org": organization_id, "user": user_id, "kinds": [*rules.consumed_kinds, "dismiss"]}
        )
        state = cursor.fetchall()
    for item_id, flag in state:
        if flag == "x":
            context.excluded.add(item_id)
        elif flag == "c":
            context.completed.add(item_id)
            context.excluded.add(item_id)
            context.touched.add(item_id)
        else:
            context.touched.add(item_id)
    items, kinds, weights, times = [], [], [], []
    context.latest_time = float(events[0][4]) if events else None
    for item_id, kind, weight, value, epoch in events:
        if kind == "complete":
            context.completed.add(item_id)
        if kind in ("start", "complete"):
            context.touched.add(item_id)
        signal = rules.weight(kind, weight, value)
        if signal > 0 and len(items) < settings.REC_HISTORY_LIMIT:
            items.append(item_id)
            kinds.append(kind)
            weights.append(signal)
            times.append(float(epoch))
    context.history_items, context.history_kinds = items, kinds
    context.history_weights = history_weights(np.asarray(times), np.asarray(weights), half_life_events=half_life)
    return context


def vector_from_wire(data) -> np.ndarray:
    """A pgvector value fetched as `vector_send(column)` (int16 dims, int16 unused, float4 big-endian
    values): about 9x faster to read than its text form or a real[] cast."""
    return np.frombuffer(bytes(data), dtype=">f4", offset=4).astype(np.float32)


def vector_literal(vector) -> str:
    return "[" + ",".join(f"{float(x):.6f}" for x in vector) + "]"


def index_query(sql: str, params: list, *, ef_search: int) -> list[tuple]:
    with transaction.atomic(), connection.cursor() as cursor:
        # pgvector 0.8: keep scanning the HNSW graph until enough rows pass the organization filter.
        cursor.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
        cursor.execute("SELECT set_config('hnsw.ef_search', %s, true)", [str(ef_search)])
        cursor.execute(sql, params)
        return cursor.fetchall()


@dataclass
class SourceResult:
    candidates: Candidates
    evidence: dict[int, object] = field(default_factory=dict)


def _result(rows, excluded: set[int], limit: int, evidence=None) -> SourceResult:
    pairs = [(item, score) for item, score in rows if item not in excluded][:limit]
    if not pairs:
        return SourceResult(Candidates.empty(), evidence or {})
    ids, scores = zip(*pairs, strict=True)
    return SourceResult(
        Candidates(np.asarray(ids, dtype=np.int64), np.asarray(scores, dtype=np.float64)), evidence or {}
    )


# --------------------------------------------------------------------------- collaborative filtering

CF_SQL = """
SELECT f.item_id, -((f.factors::vector({dims})) <#> %(vec)s::vector({dims})) AS score
FROM recommendations_itemfactor f
WHERE f.model_id = %(model)s AND f.dims = {dims}
ORDER BY (f.factors::vector({dims})) <#> %(vec)s::vector({dims})
LIMIT %(n)s
"""


def user_factor_get(*, model: RecommenderModel, user_id: int) -> np.ndarray | None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT vector_send(factors) FROM recommendations_userfactor WHERE model_id = %s AND user_id = %s",
            [model.pk, user_id],
        )
        row = cursor.fetchone()
    return vector_from_wire(row[0]) if row else None


def source_cf(context: UserContext, *, limit: int) -> SourceResult:
    """ALS: the items whose factors have the largest dot product with the user's (HNSW, inner product)."""
    model = context.model
    if model is None or not model.dims:
        return SourceResult(Candidates.empty())
    vector = user_factor_get(model=model, user_id=context.user_id)
    if vector is None:
        return SourceResult(Candidates.empty())
    n = limit + min(len(context.excluded), limit)
    rows = index_query(
        CF_SQL.format(dims=int(model.dims)),
        {"vec": vector_literal(vector), "model": model.pk, "n": n},
        ef_search=max(settings.REC_HNSW_EF_SEARCH, n),
    )
    return _result(rows, context.excluded, limit)


# --------------------------------------------------------------------------- item-item sources


def _neighbor_rows(context: UserContext) -> dict[str, list]:
    """Every stored neighbour row of the user's history items, all kinds in one index query."""
    if context.neighbor_rows is None:
        context.neighbor_rows = {}
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT kind, item_id, neighbors, scores FROM recommendations_itemneighbors "
                "WHERE model_id = %s AND item_id = ANY(%s)",
                [context.model.pk, list(set(context.history_items))],
            )
            for kind, item, neighbors, scores in cursor.fetchall():
                context.neighbor_rows.setdefault(kind, []).append((item, neighbors, scores))
    return context.neighbor_rows


def item_item_scores(context: UserContext, kind: str, *, recent: int | None = None, limit: int) -> SourceResult:
    """Sum over the user's history (recency-weighted; only the `recent` newest events when given)
    of each history item's stored `kind` neighbour weights; evidence = the history item that
    contributed most to each candidate."""
    if context.model is None or context.cold:
        return SourceResult(Candidates.empty())
    weight_of: dict[int, float] = {}
    pairs = zip(context.history_items, context.history_weights, strict=True)
    for item, weight in list(pairs)[: recent or None]:
        weight_of[item] = weight_of.get(item, 0.0) + float(weight)
    rows = [row for row in _neighbor_rows(context).get(kind, ()) if row[0] in weight_of]
    if not rows:
        return SourceResult(Candidates.empty())
    ids = np.concatenate([np.asarray(r[1], dtype=np.int64) for r in rows])
    contributions = np.concatenate([np.asarray(r[2]) * weight_of[r[0]] for r in rows])
    sources = np.concatenate([np.full(len(r[1]), r[0], dtype=np.int64) for r in rows])
    unique, inverse = np.unique(ids, return_inverse=True)
    totals = np.bincount(inverse, weights=contributions)
    # evidence: for each candidate, the source item with the largest single contribution
    order = np.lexsort((-contributions, inverse))
    first = order[np.searchsorted(inverse[order], np.arange(len(unique)))]
    best_source = sources[first]
    ranked = np.argsort(-totals, kind="stable")
    rows = [(int(unique[i]), float(totals[i])) for i in ranked if int(unique[i]) not in context.excluded]
    evidence = {item: int(best_source[i]) for i, item in ((i, int(unique[i])) for i in ranked[: 4 * limit])}
    return _result(rows, context.excluded, limit, evidence)


def source_cooccurrence(context: UserContext, *, limit: int) -> SourceResult:
    """Items co-occurring with the user's recent positives, weighted by recency."""
    return item_item_scores(context, "cooccurrence", limit=limit)


def source_ease(context: UserContext, *, limit: int) -> SourceResult:
    """EASE: the item-item regression weights of the user's history, summed (stored top-k per item)."""
    return item_item_scores(context, "ease", limit=limit)


def source_rp3beta(context: UserContext, *, limit: int) -> SourceResult:
    """RP3beta: the popularity-penalised random-walk weights of the user's history, summed."""
    return item_item_scores(context, "rp3beta", limit=limit)


def source_sequence(context: UserContext, *, limit: int) -> SourceResult:
    """What people take next after the items the user touched last (stored `sequence` neighbours,
    summed with the history's recency weights); evidence: the history item it follows."""
    return item_item_scores(context, "sequence", limit=limit)


# --------------------------------------------------------------------------- content similarity

CONTENT_SQL = """
SELECT e.item_id, 1 - ((e.embedding::vector({dims})) <=> %(vec)s::vector({dims})) AS score
FROM progress_contentembedding e
WHERE e.model = %(model)s AND e.organization_id = %(org)s
ORDER BY (e.embedding::vector({dims})) <=> %(vec)s::vector({dims})
LIMIT %(n)s
"""


def embeddings_get(*, organization_id: int, item_ids) -> tuple[dict[int, np.ndarray], str, int]:
    """The current embedding model's vectors of these items: ({item_id: vector}, model name, dims)."""
    from apps.core.embeddings import get_embedder

    embedder = get_embedder()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT item_id, vector_send(embedding) FROM progress_contentembedding "
            "WHERE organization_id = %s AND model = %s AND item_id = ANY(%s)",
            [organization_id, embedder.name, list(item_ids)],
        )
        rows = cursor.fetchall()
    return {item: vector_from_wire(vector) for item, vector in rows}, embedder.name, embedder.dimensions


def source_content(context: UserContext, *, limit: int) -> SourceResult:
    """The user's profile vector (recency- and weight-averaged embeddings of the items they engaged
    with) searched in the items' embeddings (HNSW, cosine)."""
    if context.cold:
        return SourceResult(Candidates.empty())
    vectors, model_name, dims = embeddings_get(organization_id=context.organization_id, item_ids=context.history_items)
    context.vectors.update(vectors)
    if not vectors:
        return SourceResult(Candidates.empty())
    profile = np.zeros(dims)
    for item, weight in zip(context.history_items, context.history_weights, strict=True):
        if item in vectors:
            profile += weight * vectors[item]
    norm = np.linalg.norm(profile)
    if norm == 0:
        return SourceResult(Candidates.empty())
    n = limit + min(len(context.excluded), limit)
    rows = index_query(
        CONTENT_SQL.format(dims=int(dims)),
        {"vec": vector_literal(profile / norm), "model": model_name, "org": context.organization_id, "n": n},
        ef_search=max(settings.REC_HNSW_EF_SEARCH, n),
    )
    return _result(rows, context.excluded, limit)


# --------------------------------------------------------------------------- popularity and recency

POPULAR_LIVE_SQL = """
SELECT item_id, count(*) FROM progress_interaction
WHERE organization_id = %s AND occurred_at > now() - interval '30 days' AND weight > 0 AND kind <> 'dismiss'
GROUP BY item_id ORDER BY count(*) DESC, item_id LIMIT %s
"""

NEWEST_SQL = """
SELECT id FROM progress_contentitem WHERE organization_id = %s AND active
ORDER BY created_at DESC, id DESC LIMIT %s
"""


def source_popular(context: UserContext, *, limit: int) -> SourceResult:
    """Decayed popularity from the active model's snapshot (or the last 30 days' positive events
    when no model exists yet), topped up with the newest items; evidence: "popular" or "new"."""
    n = limit + min(len(context.excluded), limit)
    if context.model is not None and context.model.popular:
        rows = [(int(item), float(score)) for item, score in context.model.popular[:n]]
    else:
        with connection.cursor() as cursor:
            cursor.execute(POPULAR_LIVE_SQL, [context.organization_id, n])
            rows = [(item, float(count)) for item, count in cursor.fetchall()]
    evidence = dict.fromkeys((item for item, _ in rows), "popular")
    fresh = [(item, score) for item, score in rows if item not in context.excluded]
    if len(fresh) < limit:
        with connection.cursor() as cursor:
            cursor.execute(NEWEST_SQL, [context.organization_id, limit + len(context.excluded)])
            newest = [item for (item,) in cursor.fetchall() if item not in evidence]
        floor = min((score for _, score in rows), default=1.0)
        for rank, item in enumerate(newest):
            rows.append((item, floor * 0.5 / (1 + rank)))
            evidence[item] = "new"
    return _result(rows, context.excluded, limit, evidence)


TRENDING_SQL = "SELECT items, scores FROM recommendations_trendingchart WHERE model_id = %s AND bucket = %s"


def source_trending(context: UserContext, *, limit: int) -> SourceResult:
    """What was trending when the user was last active: the model's stored chart of the time bucket
    of their latest event (one index lookup; for an active user, the latest chart, i.e. now).
    Evidence: "now" when that is the model's latest chart, else "then"."""
    grid = context.params.get("trending") if context.model else None
    if not grid or context.latest_time is None:
        return SourceResult(Candidates.empty())
    bucket = trending_bucket(context.latest_time, start=grid["start"], width=grid["width"], buckets=grid["buckets"])
    with connection.cursor() as cursor:
        cursor.execute(TRENDING_SQL, [context.model.pk, bucket])
        row = cursor.fetchone()
    if row is None:
        return SourceResult(Candidates.empty())
    rows = list(zip(row[0], row[1], strict=True))
    evidence = dict.fromkeys(row[0], "now" if bucket == grid["buckets"] - 1 else "then")
    return _result(rows, context.excluded, limit, evidence)


# --------------------------------------------------------------------------- course order

COURSE_SQL = """
SELECT DISTINCT ON (c.parent_id) c.id, c.parent_id, p.title
FROM progress_contentitem c
JOIN progress_contentitem p ON p.id = c.parent_id
WHERE c.organization_id = %(org)s AND c.active AND c.parent_id IN (
    SELECT parent_id FROM progress_contentitem WHERE organization_id = %(org)s AND id = ANY(%(touched)s)
) AND NOT (c.id = ANY(%(done)s))
ORDER BY c.parent_id, c.position, c.id
"""


def source_course(context: UserContext, *, limit: int) -> SourceResult:
    """The next unfinished item of each course (parent) the user has started; evidence: course title."""
    touched = context.touched | set(context.history_items[:20])
    if not touched:
        return SourceResult(Candidates.empty())
    with connection.cursor() as cursor:
        cursor.execute(
            COURSE_SQL, {"org": context.organization_id, "touched": list(touched), "done": list(context.excluded)}
        )
        rows = cursor.fetchall()
    evidence = {item: title for item, _parent, title in rows}
    context.containers.update(parent for _item, parent, _title in rows)
    return _result([(item, 1.0) for item, _, _ in rows], context.excluded, limit, evidence)


# --------------------------------------------------------------------------- knowledge graph


def source_graph(context: UserContext, *, limit: int) -> SourceResult:
    """Paths in the knowledge graph (apps.graph.queries), read from the per-user
    cache that `recommendations.graph_refresh` fills in the background (never Bolt in the request).
    Missing or stale: a refresh is enqueued (unless the caller ranks in bulk: `context.graph_refresh`);
    the stale rows still serve meanwhile."""
    from apps.core.graph import graph_enabled
    from apps.recommendations.engine import cache as rec_cache

    if not graph_enabled():
        return SourceResult(Candidates.empty())
    rows, fresh = rec_cache.graph_rows_get(organization_id=context.organization_id, user_id=context.user_id)
    claim = rec_cache.graph_refresh_claim
    if not fresh and context.graph_refresh and claim(organization_id=context.organization_id, user_id=context.user_id):
        from apps.core.tasks import enqueue_on_commit
        from workers.tasks.recommendations import graph_candidates_refresh_task

        enqueue_on_commit(graph_candidates_refresh_task, context.organization_id, context.user_id)
    evidence = {int(item): reason for item, _score, reason in rows}
    return _result([(int(item), float(score)) for item, score, _ in rows], context.excluded, limit, evidence)


def graph_candidates_refresh(*, organization_id: int, user_id: int) -> int:
    """Compute the user's knowledge-graph candidates and cache them (the background half of
    `source_graph`). Returns how many were found ([] when the graph is off or down)."""
    from apps.graph.queries import graph_candidates
    from apps.recommendations.engine import cache as rec_cache

    version = rec_cache.user_version(organization_id=organization_id, user_id=user_id)
    rows = graph_candidates(organization_id=organization_id, user_id=user_id, limit=settings.REC_CANDIDATES_PER_SOURCE)
    rows = [[int(item), float(score), str(reason)] for item, score, reason in rows]
    rec_cache.graph_rows_set(organization_id=organization_id, user_id=user_id, rows=rows, version=version)
    return len(rows)


SOURCES = {
    "cf": source_cf,
    "cooccurrence": source_cooccurrence,
    "ease": source_ease,
    "rp3beta": source_rp3beta,
    "sequence": source_sequence,
    "content": source_content,
    "popular": source_popular,
    "trending": source_trending,
    "course": source_course,
    "graph": source_graph,
    "interests": source_interests,  # issue 19 (engine/interest_sources.py)
    "chat": source_chat,  # issue 18 item 6 (engine/interest_sources.py)
}
