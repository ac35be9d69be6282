"""From candidates to the list a user sees: blend -> rules and filters -> fit -> diversity -> reasons.

Rules (never broken): nothing completed, consumed (rate/purchase by default) or dismissed is
recommended; only active items of the organization; an item whose prerequisites the user has not
completed is replaced by the missing prerequisite ("Needed before Y"). Business filters of the
request: kind, tags (any of), category, exclude ids. Difficulty fit: items well above the level
of what the user completed are demoted. Hooks (engine.hooks) may re-weight (issue 8: personality).
Diversity: MMR over the items' content embeddings, `diversity` 0 (pure relevance) to 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.db import connection

from apps.recommendations.engine.blend import DEFAULT_WEIGHTS, LEARNT_SOURCES, Blended, blend, blend_add, mmr
from apps.recommendations.engine.hooks import rerank_hooks
from apps.recommendations.engine.ranker import RECENT_EVENTS, Ranker
from apps.recommendations.engine.sources import (
    SOURCES,
    SourceResult,
    UserContext,
    embeddings_get,
    item_item_scores,
    user_context_load,
)

FIXED_SOURCES = ("course", "graph")
VERBS = {
    "complete": "completed", "like": "liked", "save": "saved", "share": "shared", "purchase": "bought",
    "rate": "rated", "view": "viewed", "start": "started",
}  # fmt: skip
ITEM_FIELDS = ["id", "external_id", "title", "kind", "url", "tags", "categories", "difficulty"]


@dataclass
class RankRequest:
    kinds: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    category: str | None = None
    exclude: list[int] = field(default_factory=list)
    diversity: float = 0.0
    size: int = 100
    #: enqueue the user's knowledge-graph refresh when their cached graph rows are missing or stale (source_graph).
    #: Bulk callers (an outreach generation ranks thousands of members at once) pass False: one Bolt task per member
    #: would flood the `celery` queue ahead of the graph drain. It does not change the list: not a cache parameter.
    graph_refresh: bool = True

    def cache_params(self) -> dict:
        return {
            "kinds": sorted(self.kinds), "tags": sorted(self.tags), "category": self.category,
            "exclude": sorted(self.exclude), "diversity": round(self.diversity, 3), "size": self.size,
        }  # fmt: skip


def ranker_of(context: UserContext) -> Ranker | None:
    """The model's learnt ranker, for a user with a history (cold users: popularity and the graph)."""
    data = context.params.get("ranker") if context.model else None
    return Ranker.from_dict(data) if data and not context.cold else None


def source_weights(context: UserContext, ranker: Ranker | None = None) -> dict[str, float]:
    """Which sources run, and the fixed weights of those the ranker does not score."""
    if ranker is not None:
        weights = dict.fromkeys(ranker.sources, 1.0)
    else:
        learnt = context.params.get("weights") if context.model else None
        weights = dict(learnt or DEFAULT_WEIGHTS)
        if context.cold:  # nothing to personalise from: popularity and recency (and the graph)
            weights = {"popular": 1.0}
    fixed = {
        "course": settings.REC_WEIGHT_COURSE,
        "graph": settings.REC_WEIGHT_GRAPH,
        "interests": settings.REC_WEIGHT_INTERESTS,  # also cold members: what they told us
        "chat": settings.REC_WEIGHT_CHAT,
    }
    for name, value in fixed.items():
        weights.setdefault(name, value)
    return weights


def candidates_blend(context: UserContext, ranker: Ranker | None, weights, results: dict[str, SourceResult]) -> Blended:
    """The learnt ranker over its sources, plus the fixed-weight sources it does not score; or the
    fixed-weight blend of all sources when there is no ranker."""
    candidates = {name: result.candidates for name, result in results.items()}
    if ranker is None:
        return blend(candidates, weights)
    recent = None
    if ranker.recent_source:
        recent = item_item_scores(
            context, ranker.recent_source, recent=RECENT_EVENTS, limit=settings.REC_CANDIDATES_PER_SOURCE
        ).candidates
    learnt = ranker.score(
        {name: candidates[name] for name in ranker.sources if name in candidates},
        history_length=len(context.history_items), recent=recent,
    )  # fmt: skip
    fixed = {name: candidates[name] for name in FIXED_SOURCES if name in candidates and name not in ranker.sources}
    return blend_add(learnt, fixed, weights)


def _items(organization_id: int, ids) -> dict[int, dict]:
    sql = (
        "SELECT id, external_id, title, kind, url, tags, categories, difficulty, active FROM progress_contentitem "
        "WHERE organization_id = %s AND id = ANY(%s)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [organization_id, list(ids)])
        return {row[0]: dict(zip([*ITEM_FIELDS, "active"], row, strict=True)) for row in cursor.fetchall()}


def _matches(item: dict, request: RankRequest) -> bool:
    if not item["active"]:
        return False
    if request.kinds and item["kind"] not in request.kinds:
        return False
    if request.tags and not set(request.tags) & set(item["tags"] or []):
        return False
    return not (request.category and request.category not in (item["categories"] or []))


def _prerequisites(organization_id: int, ids) -> dict[int, list[int]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT item_id, prerequisite_id FROM progress_contentprerequisite "
            "WHERE organization_id = %s AND item_id = ANY(%s)",
            [organization_id, list(ids)],
        )
        out: dict[int, list[int]] = {}
        for item, prerequisite in cursor.fetchall():
            out.setdefault(item, []).append(prerequisite)
    return out


def _user_level(organization_id: int, completed: set[int]) -> float | None:
    if not completed:
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT avg(difficulty) FROM progress_contentitem "
            "WHERE organization_id = %s AND id = ANY(%s) AND difficulty IS NOT NULL",
            [organization_id, list(completed)],
        )
        value = cursor.fetchone()[0]
    return float(value) if value is not None else None


def difficulty_factor(difficulty: int | None, level: float | None) -> float:
    """1 within one step above the user's level; halved per further step; easier items untouched
    unless far below (0.8)."""
    if difficulty is None or level is None:
        return 1.0
    gap = difficulty - level
    if gap > 1:
        return 0.5 ** (gap - 1)
    return 0.8 if gap < -2 else 1.0


FILL_SQL = """
SELECT id FROM progress_contentitem
WHERE organization_id = %(org)s AND active AND NOT (id = ANY(%(skip)s))
  AND (cardinality(%(kinds)s::text[]) = 0 OR kind = ANY(%(kinds)s))
  AND (cardinality(%(tags)s::text[]) = 0 OR tags && %(tags)s::varchar[])
  AND (%(category)s::text IS NULL OR categories @> ARRAY[%(category)s]::varchar[])
ORDER BY array_position(%(popular)s::bigint[], id) NULLS LAST, created_at DESC, id DESC
LIMIT %(n)s
"""


def _fill(context: UserContext, request: RankRequest, skip: set[int], n: int) -> list[int]:
    """Items matching the filters, most popular first, then newest: when the sources found too few."""
    popular = [int(item) for item, _ in (context.model.popular if context.model else [])[:500]]
    with connection.cursor() as cursor:
        cursor.execute(
            FILL_SQL,
            {"org": context.organization_id, "skip": list(skip), "kinds": request.kinds, "tags": request.tags,
             "category": request.category, "popular": popular, "n": n},
        )  # fmt: skip
        return [item for (item,) in cursor.fetchall()]


def _admit(entries: list[dict], items: dict, context: UserContext, request: RankRequest):
    """(the entries that pass the rules and filters, {missing prerequisite: item it would unlock})."""
    prerequisites = _prerequisites(context.organization_id, [entry["id"] for entry in entries])
    admitted, blocked_by = [], {}
    for entry in entries:
        item = items.get(entry["id"])
        if item is None or entry["id"] in context.excluded or not _matches(item, request):
            continue
        missing = [p for p in prerequisites.get(entry["id"], []) if p not in context.completed]
        if missing:
            for prerequisite in missing:
                if prerequisite not in context.excluded:
                    blocked_by.setdefault(prerequisite, entry["id"])
            continue
        admitted.append(entry)
    return admitted, blocked_by


def recommendations_rank(*, organization_id: int, user_id: int, request: RankRequest) -> dict:
    """The ranked list (up to request.size) as plain data, ready to cache and render."""
    context = user_context_load(organization_id=organization_id, user_id=user_id)
    context.excluded |= set(request.exclude)
    context.graph_refresh = request.graph_refresh
    ranker = ranker_of(context)
    weights = source_weights(context, ranker)
    limit = settings.REC_CANDIDATES_PER_SOURCE
    results = {name: SOURCES[name](context, limit=limit) for name in SOURCES if weights.get(name, 0) > 0}
    blended = candidates_blend(context, ranker, weights, results)
    context.excluded |= context.containers

    pool_ids = [int(i) for i in blended.ids[: max(3 * request.size, 300)]]
    evidence_ids = {v for r in results.values() for v in r.evidence.values() if isinstance(v, int)}
    items = _items(organization_id, set(pool_ids) | evidence_ids | set(context.history_items[:20]))
    entries = [
        {"id": item_id, "score": float(blended.scores[row]),
         "contributions": dict(zip(blended.sources, blended.contributions[row], strict=True))}
        for row, item_id in enumerate(pool_ids)
    ]  # fmt: skip
    scored, blocked_by = _admit(entries, items, context, request)

    # Missing prerequisites of wanted items, in their place (a little below the item they unlock).
    score_of = {entry["id"]: entry["score"] for entry in entries}
    seen = {entry["id"] for entry in scored}
    for entry in scored:
        unlocked = blocked_by.get(entry["id"])
        if unlocked is not None and 0.9 * score_of[unlocked] > entry["score"]:
            entry["score"], entry["unlocks"] = 0.9 * score_of[unlocked], unlocked
    unlocking = [
        {"id": prerequisite, "score": 0.9 * score_of[unlocked], "contributions": {"prerequisite": 1.0},
         "unlocks": unlocked}
        for prerequisite, unlocked in blocked_by.items() if prerequisite not in seen
    ]  # fmt: skip
    if unlocking:
        items.update(_items(organization_id, [e["id"] for e in unlocking if e["id"] not in items]))
        admitted, _ = _admit(unlocking, items, context, request)
        scored += admitted
        seen.update(entry["id"] for entry in admitted)

    if len(scored) < request.size:
        fill = _fill(context, request, seen | context.excluded | set(blocked_by.values()), request.size - len(scored))
        items.update(_items(organization_id, [item_id for item_id in fill if item_id not in items]))
        fill_entries = [
            {"id": item_id, "score": 1e-6 / (1 + rank), "contributions": {"popular": 1e-6}, "fill": True}
            for rank, item_id in enumerate(fill)
        ]
        admitted, _ = _admit(fill_entries, items, context, request)
        scored += admitted

    # Difficulty fit and hooks (issue 8 registers the personality fit here).
    level = _user_level(organization_id, context.completed) if any(
        items[e["id"]]["difficulty"] is not None for e in scored
    ) else None  # fmt: skip
    for entry in scored:
        entry["score"] *= difficulty_factor(items[entry["id"]]["difficulty"], level)
    hook_reasons: dict[int, str] = {}
    # Fit suffixes (", which suits your ...") are personal: kept apart from the reason (engine.hooks).
    fit_reasons: dict[int, str] = {}
    for hook in rerank_hooks():
        effects = hook(organization_id=organization_id, user_id=user_id, items=[items[e["id"]] for e in scored])
        for entry in scored:
            factor, reason = effects.get(entry["id"], (1.0, None))
            entry["score"] *= factor
            if reason and reason.startswith(", "):
                fit_reasons[entry["id"]] = reason
            elif reason:
                hook_reasons[entry["id"]] = reason
    scored.sort(key=lambda entry: -entry["score"])

    # Diversity (MMR) over content embeddings; the same vectors explain content-based picks.
    pool = scored[: max(3 * request.size, 60)] if request.diversity > 0 else scored[: request.size]
    wanted = ({e["id"] for e in pool} | set(context.history_items[:30])) - set(context.vectors)
    fetched, _, dims = embeddings_get(organization_id=organization_id, item_ids=wanted)
    vectors = {**context.vectors, **fetched}
    if request.diversity > 0:
        matrix = np.vstack([vectors.get(e["id"], np.zeros(dims, dtype=np.float32)) for e in pool]) if pool else None
        order = mmr(np.array([e["score"] for e in pool]), matrix, diversity=request.diversity, k=request.size)
        chosen = [pool[i] for i in order]
    else:
        chosen = pool

    out = []
    for entry in chosen:
        source, reason = explain(entry, context, items, results, vectors, hook_reasons.get(entry["id"]))
        item = items[entry["id"]]
        out.append(
            {
                "item": {name: item[name] for name in ITEM_FIELDS},
                "score": round(entry["score"], 6),
                "source": source,
                "reason": reason,
                "fit_reason": fit_reasons.get(entry["id"]),
                "sources": {name: round(float(v), 6) for name, v in entry["contributions"].items() if v > 0},
            }
        )
    return {
        "model_version": context.model.version if context.model else None,
        "cold": context.cold,
        "results": out,
    }


def explain(entry, context: UserContext, items, results, vectors, hook_reason) -> tuple[str, str]:
    """(main source, a sentence a person understands) for one recommended item. Never the personal
    fit suffix of a hook: that one travels apart as `fit_reason` (engine.hooks)."""
    if hook_reason:
        return "personality", hook_reason
    if "unlocks" in entry:
        return "prerequisite", f"Needed before {items[entry['unlocks']]['title']}"
    if entry.get("fill"):
        return "popular", "Popular in this catalog"
    contributions = entry["contributions"]
    source = max(contributions, key=contributions.get)
    if contributions.get("course", 0) > 0 and "course" in results:
        source = "course"  # the next item of a course the user is taking: the plainest reason there is
    evidence = results[source].evidence.get(entry["id"]) if source in results else None
    if source == "course" and evidence:
        return source, f"Next in {evidence}"
    if source in ("graph", "interests", "chat") and evidence:  # these sources' evidence is the sentence
        return source, str(evidence)
    if source == "cooccurrence" and evidence in items:
        return source, f"Popular with people who liked {items[evidence]['title']}"
    if source in ("ease", "rp3beta") and evidence in items:
        verb = VERBS.get(context.history_kinds[context.history_items.index(evidence)], "liked")
        return source, f"Chosen by people who also {verb} {items[evidence]['title']}"
    if source == "sequence" and evidence in items:
        return source, f"Often next after {items[evidence]['title']}"
    if source == "trending":
        return source, "Trending now" if evidence == "now" else "Trending when you were last here"
    if source == "content":
        anchor = _closest_history_item(entry["id"], context, vectors)
        if anchor is not None and anchor in items:
            verb = VERBS.get(context.history_kinds[context.history_items.index(anchor)], "liked")
            return source, f"Because you {verb} {items[anchor]['title']}"
        return source, "Similar to what you engaged with"
    if source == "cf":
        return source, "Liked by people with tastes like yours"
    if source == "popular" and evidence == "new":
        return source, "New in the catalog"
    return "popular", "Popular right now"


def _closest_history_item(item_id: int, context: UserContext, vectors) -> int | None:
    target = vectors.get(item_id)
    if target is None:
        return None
    best, best_score = None, -2.0
    for anchor in context.history_items[:30]:
        vector = vectors.get(anchor)
        if vector is not None and anchor != item_id:  # an item viewed and offered again is not its own reason
            score = float(vector @ target)
            if score > best_score:
                best, best_score = anchor, score
    return best


__all__ = ["LEARNT_SOURCES", "RankRequest", "recommendations_rank"]
