"""Trait estimates and learning-style indicators from what a user does (progress and interactions).

Features (plain functions over plain rows, so the benchmark and the tests feed them directly):
- completion rate: items completed / items started;
- regularity: 1 / (1 + coefficient of variation of the gaps between active days), and the longest
  run of consecutive active days (streak);
- pace: median days from start to completion;
- breadth: distinct categories engaged / distinct categories in the catalog; kinds tried;
- novelty seeking: how far from the catalog's most popular items the user goes (1 - popularity share);
- time of day: share of events in the morning (05-12 h) and at night (22-05 h), UTC;
- social: shares per engaged item.

Mapping (hand-set, modest, documented in docs/personality.md; each signal s is in -1..1 and a trait
is 0.5 + 0.5 * the weighted mean of its signals):
- conscientiousness: completion 0.45, regularity 0.30, streak 0.15, morning-over-night 0.10;
  confidence at most 0.30 (completion and regularity are the best documented behavioural correlates
  of conscientiousness in learning data, and they are still weak, r around .2-.3);
- openness: breadth 0.45, novelty 0.35, kinds tried 0.20; confidence at most 0.25;
- extraversion: sharing 1.0; confidence at most 0.10;
- agreeableness and neuroticism: no behavioural marker here we would trust: no estimate.
Confidence scales with the amount of evidence (engaged items / PERSONALITY_BEHAVIOUR_FULL_ITEMS);
below PERSONALITY_BEHAVIOUR_MIN_ITEMS engaged items there is no estimate at all.
"""

from __future__ import annotations

import itertools
import statistics
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings

from apps.personality.combine import Estimate

MEDIA_KINDS = {"video", "podcast"}
TEXT_KINDS = {"article"}
STRUCTURED_KINDS = {"course", "module", "lesson"}
WEIGHTS = {
    "conscientiousness": {"completion": 0.45, "regularity": 0.30, "streak": 0.15, "morning": 0.10},
    "openness": {"breadth": 0.45, "novelty": 0.35, "kinds": 0.20},
    "extraversion": {"social": 1.0},
}
MAX_CONFIDENCE = {"conscientiousness": 0.30, "openness": 0.25, "extraversion": 0.10}


@dataclass
class ItemInfo:
    kind: str
    categories: list[str]
    in_course: bool
    duration_minutes: int | None
    #: share of the organization's active users who engaged with the item (0..1)
    popularity: float
    #: a course or module with items of its own: its progress rolls up from them, so it is not counted
    container: bool = False


@dataclass
class BehaviourRows:
    #: (item_id, status, started_at, completed_at)
    progress: list[tuple[int, str, datetime | None, datetime | None]]
    #: (item_id, kind, occurred_at)
    interactions: list[tuple[int, str, datetime]]
    items: dict[int, ItemInfo]
    catalog_categories: int
    catalog_kinds: int


def _rate(done: int, started: int) -> float | None:
    return done / started if started else None


def behaviour_features(rows: BehaviourRows) -> dict:
    started: set[int] = set()
    completed: set[int] = set()
    for item_id, status, started_at, _completed_at in rows.progress:
        if status != "not_started" or started_at:
            started.add(item_id)
        if status == "completed":
            completed.add(item_id)
    engaged: set[int] = set()
    kinds = Counter()
    for item_id, kind, _ in rows.interactions:
        engaged.add(item_id)
        kinds[kind] += 1
        if kind == "start":
            started.add(item_id)
        elif kind == "complete":
            completed.add(item_id)
    started |= completed
    engaged |= started
    # A course's progress rolls up from its lessons: counting it too would read a finished lesson of
    # an unfinished course as a dropped item.
    containers = {i for i in engaged if i in rows.items and rows.items[i].container}
    started, completed, engaged = started - containers, completed - containers, engaged - containers

    days = sorted({occurred.date() for _, _, occurred in rows.interactions})
    gaps = [(b - a).days for a, b in itertools.pairwise(days)]
    regularity = None
    if len(gaps) >= 2:
        mean = statistics.fmean(gaps)
        cv = statistics.pstdev(gaps) / mean if mean else 0.0
        regularity = 1 / (1 + cv)
    streak = best = 0
    for index, day in enumerate(days):
        streak = streak + 1 if index and (day - days[index - 1]).days == 1 else 1
        best = max(best, streak)

    paces = [
        (completed_at - started_at).total_seconds() / 86400
        for _, status, started_at, completed_at in rows.progress
        if status == "completed" and started_at and completed_at and completed_at >= started_at
    ]
    hours = [occurred.hour for _, _, occurred in rows.interactions]
    morning = sum(1 for h in hours if 5 <= h < 12) / len(hours) if hours else None
    night = sum(1 for h in hours if h >= 22 or h < 5) / len(hours) if hours else None

    info = [rows.items[i] for i in engaged if i in rows.items]
    categories = {c for item in info for c in item.categories}
    breadth = min(1.0, len(categories) / rows.catalog_categories) if rows.catalog_categories and info else None
    kinds_tried = (
        min(1.0, len({item.kind for item in info}) / rows.catalog_kinds) if rows.catalog_kinds and info else None
    )
    novelty = 1 - statistics.fmean(item.popularity for item in info) if info else None

    short_max, long_min = settings.PERSONALITY_SHORT_ITEM_MINUTES, settings.PERSONALITY_LONG_ITEM_MINUTES

    def group_rate(predicate) -> tuple[float | None, int]:
        group = [i for i in started if i in rows.items and predicate(rows.items[i])]
        return _rate(sum(1 for i in group if i in completed), len(group)), len(group)

    short_rate, short_n = group_rate(lambda x: x.duration_minutes is not None and x.duration_minutes <= short_max)
    long_rate, long_n = group_rate(lambda x: x.duration_minutes is not None and x.duration_minutes >= long_min)
    media_n = sum(1 for item in info if item.kind in MEDIA_KINDS)
    text_n = sum(1 for item in info if item.kind in TEXT_KINDS)
    structured_n = sum(1 for item in info if item.in_course or item.kind in STRUCTURED_KINDS)
    return {
        "engaged_items": len(engaged),
        "started": len(started),
        "completed": len(completed & started),
        "completion_rate": _rate(len(completed & started), len(started)),
        "active_days": len(days),
        "regularity": regularity,
        "longest_streak_days": best,
        "median_days_to_complete": statistics.median(paces) if paces else None,
        "morning_share": morning,
        "night_share": night,
        "categories_engaged": len(categories),
        "breadth": breadth,
        "kinds_tried": kinds_tried,
        "novelty": novelty,
        "share_rate": kinds["share"] / len(engaged) if engaged else None,
        "short_completion_rate": short_rate,
        "short_started": short_n,
        "long_completion_rate": long_rate,
        "long_started": long_n,
        "media_share": media_n / (media_n + text_n) if media_n + text_n else None,
        "structured_share": structured_n / len(info) if info else None,
    }


def learning_style(features: dict) -> dict:
    """Indicators with the numbers behind them: short vs long items, video vs text, structured vs exploring."""
    style: dict[str, dict] = {}
    short, long = features["short_completion_rate"], features["long_completion_rate"]
    if short is not None and long is not None and features["short_started"] >= 2 and features["long_started"] >= 2:
        preference = "short" if short - long >= 0.2 else "long" if long - short >= 0.2 else "either"
        style["length"] = {
            "preference": preference, "short_completion_rate": round(short, 3), "long_completion_rate": round(long, 3),
            "short_started": features["short_started"], "long_started": features["long_started"],
        }  # fmt: skip
    if features["media_share"] is not None:
        share = features["media_share"]
        style["format"] = {
            "preference": "video" if share >= 0.65 else "text" if share <= 0.35 else "mixed",
            "media_share": round(share, 3),
        }
    if features["structured_share"] is not None and features["engaged_items"] >= 3:
        share = features["structured_share"]
        style["structure"] = {
            "preference": "structured" if share >= 0.6 else "exploring" if share <= 0.3 else "mixed",
            "structured_share": round(share, 3),
            "breadth": round(features["breadth"], 3) if features["breadth"] is not None else None,
        }
    return style


def _signal(value: float | None) -> float | None:
    """0..1 -> -1..1."""
    return None if value is None else max(-1.0, min(1.0, 2 * value - 1))


def behaviour_estimate(features: dict) -> Estimate | None:
    """Trait estimates from the features; None below the minimum of evidence."""
    if features["engaged_items"] < settings.PERSONALITY_BEHAVIOUR_MIN_ITEMS:
        return None
    signals = {
        "completion": _signal(features["completion_rate"]) if features["started"] >= 3 else None,
        "regularity": _signal(features["regularity"]),
        "streak": _signal(min(1.0, features["longest_streak_days"] / 7)) if features["active_days"] >= 3 else None,
        "morning": (features["morning_share"] - features["night_share"]) if features["morning_share"] is not None
        else None,
        "breadth": _signal(features["breadth"]),
        "novelty": _signal(features["novelty"]),
        "kinds": _signal(features["kinds_tried"]),
        "social": _signal(min(1.0, 5 * features["share_rate"])) if features["share_rate"] is not None else None,
    }  # fmt: skip
    amount = min(1.0, features["engaged_items"] / settings.PERSONALITY_BEHAVIOUR_FULL_ITEMS)
    estimate = Estimate(
        source="behaviour",
        summary=f"{features['engaged_items']} items engaged, {features['active_days']} active days",
    )
    for trait, weights in WEIGHTS.items():
        present = {name: w for name, w in weights.items() if signals[name] is not None}
        if not present:
            continue
        total = sum(present.values())
        value = sum(w * signals[name] for name, w in present.items()) / total
        estimate.scores[trait] = round(0.5 + 0.5 * value, 4)
        # Missing signals lower the confidence in proportion to their weight.
        estimate.confidence[trait] = round(MAX_CONFIDENCE[trait] * amount * total / sum(weights.values()), 4)
        estimate.evidence[trait] = [
            {"feature": name, "signal": round(signals[name], 3), "weight": w} for name, w in present.items()
        ]
    return estimate if estimate.scores else None


# --------------------------------------------------------------------------- loading from the database


def behaviour_rows_load(*, organization_id: int, user_id: int, since: datetime | None = None) -> BehaviourRows:
    """The user's progress and latest interactions, and what the estimate needs to know about the items.

    `since` (the user's last deletion of their personality data): only what happened after it.
    Interactions that occurred and were recorded after it; progress rows with activity after it
    (started, completed or last active after it), their earlier timestamps dropped, and a completion
    from before it not counted (the row reads as started again)."""
    from django.db import connection
    from django.db.models import Q

    from apps.progress.models import Interaction, Progress

    limit = settings.PERSONALITY_BEHAVIOUR_MAX_EVENTS
    progress_rows = Progress.objects.filter(organization_id=organization_id, user_id=user_id)
    interaction_rows = Interaction.objects.filter(organization_id=organization_id, user_id=user_id)
    if since is not None:
        progress_rows = progress_rows.filter(
            Q(started_at__gt=since) | Q(completed_at__gt=since) | Q(last_activity_at__gt=since)
        )
        interaction_rows = interaction_rows.filter(occurred_at__gt=since, created_at__gt=since)
    progress = list(progress_rows.values_list("item_id", "status", "started_at", "completed_at"))
    if since is not None:
        progress = [_after(row, since) for row in progress]
    interactions = list(interaction_rows.order_by("-occurred_at").values_list("item_id", "kind", "occurred_at")[:limit])
    item_ids = sorted({row[0] for row in progress} | {row[0] for row in interactions})
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT count(DISTINCT c), count(DISTINCT kind)
            FROM progress_contentitem LEFT JOIN LATERAL unnest(categories) AS c ON true
            WHERE organization_id = %s AND active
            """,
            [organization_id],
        )
        catalog_categories, catalog_kinds = cursor.fetchone()
        cursor.execute(
            """
            WITH users AS (
                SELECT count(DISTINCT user_id) AS n FROM progress_interaction WHERE organization_id = %(org)s
            ), reach AS (
                SELECT item_id, count(DISTINCT user_id) AS n FROM progress_interaction
                WHERE organization_id = %(org)s AND item_id = ANY(%(ids)s) GROUP BY item_id
            )
            SELECT i.id, i.kind, i.categories, i.parent_id IS NOT NULL, i.duration_minutes,
                   coalesce(reach.n, 0)::float / greatest((SELECT n FROM users), 1),
                   EXISTS (SELECT 1 FROM progress_contentitem child WHERE child.parent_id = i.id)
            FROM progress_contentitem i LEFT JOIN reach ON reach.item_id = i.id
            WHERE i.organization_id = %(org)s AND i.id = ANY(%(ids)s)
            """,
            {"org": organization_id, "ids": item_ids},
        )
        items = {
            row[0]: ItemInfo(kind=row[1], categories=list(row[2] or []), in_course=row[3], duration_minutes=row[4],
                             popularity=float(row[5]), container=row[6])
            for row in cursor.fetchall()
        }  # fmt: skip
    return BehaviourRows(
        progress=progress,
        interactions=interactions,
        items=items,
        catalog_categories=catalog_categories or 0,
        catalog_kinds=catalog_kinds or 0,
    )


def _after(row: tuple, since: datetime) -> tuple:
    """A progress row as seen from `since`: earlier timestamps dropped, an earlier completion not counted."""
    item_id, status, started_at, completed_at = row
    started_at = started_at if started_at and started_at > since else None
    if completed_at and completed_at <= since:
        completed_at = None
        if status == "completed":
            status = "in_progress"
    return item_id, status, started_at, completed_at


def features_digest(features: dict) -> dict:
    """The features rounded for the input hash (tiny float noise must not make a new profile)."""
    return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in sorted(features.items())}
