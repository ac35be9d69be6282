"""Two candidate sources from the member's interests (issues 19 and 18 item 6; docs/interests.md).

- `interests`: the member's stated, synced and inferred interests (apps.interests, decayed at read time)
  matched to catalog items whose tags or categories carry the interest's name; the score is the sum of
  the matching interests' weights. Reason: "Because you are interested in X".
- `chat`: the topics the member asked the bots about (source chat, written by
  apps.recommendations.learner from each question): the catalog items a question matched by embedding,
  then items tagged with the topic. Reason: "Because you asked about X".

Both read one indexed query of apps.interests plus one catalog query (a BitmapOr of the GIN indexes on tags and
on `content_categories_lower(categories)`, progress migration 0003: never a scan of the whole catalog); they work
for members without any history (cold start), which is where interests matter most.
"""

from __future__ import annotations

from django.db import connection

from apps.interests.models import InterestSource
from apps.interests.selectors import member_interest_weights

#: non-chat sources the interests source reads
INTEREST_SOURCES = (InterestSource.STATED, InterestSource.SYNCED, InterestSource.INFERRED)

MATCH_SQL = """
SELECT c.id, sum(w.weight) AS score, (array_agg(w.name ORDER BY w.weight DESC, w.name))[1] AS label
FROM progress_contentitem c
CROSS JOIN LATERAL (
    SELECT u.name, u.weight FROM unnest(%(names)s::text[], %(weights)s::float8[]) AS u(name, weight)
    WHERE u.name = ANY(c.tags) OR u.name = ANY(content_categories_lower(c.categories))
) w
WHERE c.organization_id = %(org)s AND c.active
  AND (c.tags && %(names)s::varchar[] OR content_categories_lower(c.categories) && %(names)s::text[])
GROUP BY c.id
ORDER BY score DESC, c.id
LIMIT %(n)s
"""


def _label_matches(organization_id: int, weights: dict[str, float], n: int) -> list[tuple[int, float, str]]:
    if not weights:
        return []
    names = sorted(weights)
    with connection.cursor() as cursor:
        cursor.execute(
            MATCH_SQL,
            {"names": names, "weights": [weights[name] for name in names], "org": organization_id, "n": n},
        )
        return [(item, float(score), label) for item, score, label in cursor.fetchall()]


def source_interests(context, *, limit: int):
    """Items tagged (or categorised) with the member's interests; evidence: the reason sentence."""
    from apps.recommendations.engine.sources import SourceResult, _result

    rows = member_interest_weights(
        organization_id=context.organization_id, user_id=context.user_id, sources=INTEREST_SOURCES
    )
    weights: dict[str, float] = {}
    for value, _category, weight, _items in rows:
        weights[value] = max(weights.get(value, 0.0), weight)
    if not weights:
        from apps.recommendations.engine.blend import Candidates

        return SourceResult(Candidates.empty())
    n = limit + min(len(context.excluded), limit)
    matches = _label_matches(context.organization_id, weights, n)
    evidence = {item: f"Because you are interested in {label}" for item, _score, label in matches}
    return _result([(item, score) for item, score, _ in matches], context.excluded, limit, evidence)


def source_chat(context, *, limit: int):
    """Items the member's questions matched (by embedding), then items tagged with those topics."""
    from apps.recommendations.engine.blend import Candidates
    from apps.recommendations.engine.sources import SourceResult, _result

    rows = member_interest_weights(
        organization_id=context.organization_id, user_id=context.user_id, sources=[InterestSource.CHAT]
    )
    if not rows:
        return SourceResult(Candidates.empty())
    scores: dict[int, float] = {}
    labels: dict[int, tuple[float, str]] = {}

    def add(item: int, score: float, label: str) -> None:
        scores[item] = scores.get(item, 0.0) + score
        if item not in labels or score > labels[item][0]:
            labels[item] = (score, label)

    for value, _category, weight, item_ids in rows:
        for item in item_ids:  # the very items the questions matched count double
            add(int(item), 2 * weight, value)
    n = limit + min(len(context.excluded), limit)
    for item, score, label in _label_matches(context.organization_id, {value: w for value, _c, w, _i in rows}, n):
        add(item, score, label)
    if not scores:
        return SourceResult(Candidates.empty())
    active = _active(context.organization_id, list(scores))
    ranked = sorted((item for item in scores if item in active), key=lambda item: (-scores[item], item))
    evidence = {item: f"Because you asked about {labels[item][1]}" for item in ranked}
    return _result([(item, scores[item]) for item in ranked], context.excluded, limit, evidence)


def _active(organization_id: int, item_ids: list[int]) -> set[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM progress_contentitem WHERE organization_id = %s AND active AND id = ANY(%s)",
            [organization_id, item_ids],
        )
        return {item for (item,) in cursor.fetchall()}
