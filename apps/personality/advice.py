"""Learning advice: concrete, trait-aware suggestions, each with real items from the catalog.

Every tip says what it is based on (the numbers of the learning-style indicators, or the trait
score and its confidence) and carries up to `limit` items the user has not completed or dismissed.
A tip without items is not given: advice must be actionable. Traits count only when their strength
(distance from average times confidence) reaches STRONG.
"""

from __future__ import annotations

from django.conf import settings
from django.db.models import Q

from apps.personality.behaviour import behaviour_features, behaviour_rows_load, learning_style
from apps.personality.selectors import deletion_since, profile_compact_get, trait_strength
from apps.progress.models import ContentItem, Interaction, Progress

STRONG = 0.15
ITEM_FIELDS = ["id", "title", "kind", "url", "duration_minutes", "difficulty"]


def _pct(value: float) -> str:
    return f"{round(100 * value)}%"


def _done_or_dismissed(organization_id: int, user_id: int):
    completed = Progress.objects.filter(
        organization_id=organization_id, user_id=user_id, status=Progress.Status.COMPLETED
    ).values("item_id")
    rejected = Interaction.objects.filter(
        organization_id=organization_id, user_id=user_id, kind__in=["complete", "dismiss"]
    ).values("item_id")
    return completed, rejected


def _engaged_categories(organization_id: int, user_id: int) -> set[str]:
    ids = set(
        Interaction.objects.filter(organization_id=organization_id, user_id=user_id).values_list("item_id", flat=True)
    ) | set(Progress.objects.filter(organization_id=organization_id, user_id=user_id).values_list("item_id", flat=True))
    categories = ContentItem.objects.filter(organization_id=organization_id, id__in=ids).values_list(
        "categories", flat=True
    )
    return {c for row in categories for c in (row or [])}


def _items(organization_id: int, user_id: int, condition: Q, *, limit: int, prefer: set[str] | None = None) -> list:
    completed, rejected = _done_or_dismissed(organization_id, user_id)
    queryset = (
        ContentItem.objects.filter(organization_id=organization_id, active=True)
        .filter(condition)
        .exclude(id__in=completed)
        .exclude(id__in=rejected)
    )
    if prefer:
        preferred = list(queryset.filter(categories__overlap=sorted(prefer)).values(*ITEM_FIELDS)[:limit])
        seen = {row["id"] for row in preferred}
        rest = [row for row in queryset.values(*ITEM_FIELDS)[: limit + len(seen)] if row["id"] not in seen]
        return (preferred + rest)[:limit]
    return list(queryset.values(*ITEM_FIELDS)[:limit])


def _next_lessons(organization_id: int, user_id: int, *, limit: int) -> list:
    """The first unfinished lesson of each course the user has started, in course order."""
    started_parents = (
        Progress.objects.filter(organization_id=organization_id, user_id=user_id, item__parent__isnull=False)
        .values_list("item__parent_id", flat=True)
        .distinct()
    )
    completed, rejected = _done_or_dismissed(organization_id, user_id)
    out = []
    for parent_id in list(started_parents)[:limit]:
        lesson = (
            ContentItem.objects.filter(organization_id=organization_id, parent_id=parent_id, active=True)
            .exclude(id__in=completed)
            .exclude(id__in=rejected)
            .order_by("position", "id")
            .values(*ITEM_FIELDS)
            .first()
        )
        if lesson:
            out.append(lesson)
    return out


def advice_for(*, organization_id: int, user_id: int, limit: int = 3) -> dict:
    """{"tips": [{"code", "message", "based_on", "items"}], "profile": bool}."""
    since = deletion_since(organization_id=organization_id, user_id=user_id)  # after a deletion: newer evidence only
    features = behaviour_features(behaviour_rows_load(organization_id=organization_id, user_id=user_id, since=since))
    style = learning_style(features)
    profile = profile_compact_get(organization_id=organization_id, user_id=user_id)
    if profile and profile.get("learning_style"):
        style = {**profile["learning_style"], **style}
    engaged = _engaged_categories(organization_id, user_id)
    short_max, long_min = settings.PERSONALITY_SHORT_ITEM_MINUTES, settings.PERSONALITY_LONG_ITEM_MINUTES
    tips = []

    def tip(code: str, message: str, based_on: dict, items: list) -> None:
        if items:
            tips.append({"code": code, "message": message, "based_on": based_on, "items": items})

    length = style.get("length")
    if length and length["preference"] == "short":
        tip(
            "short_items",
            f"You finish short items far more often than long ones ({_pct(length['short_completion_rate'])} vs "
            f"{_pct(length['long_completion_rate'])}): here are short ones (up to {short_max} minutes) to keep going.",
            {"learning_style": "length", **length},
            _items(organization_id, user_id, Q(duration_minutes__lte=short_max), limit=limit, prefer=engaged),
        )
    elif length and length["preference"] == "long":
        tip(
            "long_items",
            f"You complete long, in-depth items more often than short ones ({_pct(length['long_completion_rate'])} vs "
            f"{_pct(length['short_completion_rate'])}): here are in-depth items to dig into.",
            {"learning_style": "length", **length},
            _items(organization_id, user_id, Q(duration_minutes__gte=long_min), limit=limit, prefer=engaged),
        )

    conscientiousness = trait_strength(profile, "conscientiousness")
    structure = style.get("structure") or {}
    if conscientiousness >= STRONG or structure.get("preference") == "structured":
        tip(
            "continue_courses",
            "You do well with structured courses: continue where you left off, one lesson after the other.",
            {"trait": "conscientiousness", "strength": round(conscientiousness, 3), **structure},
            _next_lessons(organization_id, user_id, limit=limit),
        )
    elif conscientiousness <= -STRONG:
        tip(
            "steady_rhythm",
            f"A steady rhythm helps more than long sessions: pick one short item a day (your longest streak so far "
            f"is {features['longest_streak_days']} days).",
            {"trait": "conscientiousness", "strength": round(conscientiousness, 3),
             "completion_rate": features["completion_rate"]},
            _items(organization_id, user_id, Q(duration_minutes__lte=short_max), limit=limit, prefer=engaged),
        )  # fmt: skip

    openness = trait_strength(profile, "openness")
    if (openness >= STRONG or structure.get("preference") == "exploring") and engaged:
        tip(
            "new_topics",
            "You like exploring: here are topics you have not tried yet.",
            {"trait": "openness", "strength": round(openness, 3), "categories_engaged": len(engaged)},
            _items(organization_id, user_id, ~Q(categories__overlap=sorted(engaged)) & ~Q(categories=[]), limit=limit),
        )

    media = style.get("format")
    if media and media["preference"] in ("video", "text"):
        kinds = ["video", "podcast"] if media["preference"] == "video" else ["article"]
        word = "videos and podcasts" if media["preference"] == "video" else "articles"
        share = media["media_share"] if media["preference"] == "video" else 1 - media["media_share"]
        tip(
            "preferred_format",
            f"Most of what you engage with is {word} ({_pct(share)}): here are more {word} in your topics.",
            {"learning_style": "format", **media},
            _items(organization_id, user_id, Q(kind__in=kinds), limit=limit, prefer=engaged),
        )

    if trait_strength(profile, "neuroticism") >= STRONG:
        tip(
            "build_momentum",
            "Start with easier items to build momentum before the harder ones.",
            {"trait": "neuroticism", "strength": round(trait_strength(profile, "neuroticism"), 3)},
            _items(organization_id, user_id, Q(difficulty__lte=2), limit=limit, prefer=engaged),
        )
    if trait_strength(profile, "extraversion") >= STRONG:
        tip(
            "learn_with_others",
            "You draw energy from other people: join an event and learn with others.",
            {"trait": "extraversion", "strength": round(trait_strength(profile, "extraversion"), 3)},
            _items(organization_id, user_id, Q(kind="event"), limit=limit, prefer=engaged),
        )
    if not tips:
        tips.append(
            {
                "code": "more_evidence",
                "message": "Not enough to go on yet: answer the short questionnaire or keep learning, and advice "
                "tailored to you will appear here.",
                "based_on": {"engaged_items": features["engaged_items"], "profile": bool(profile)},
                "items": [],
            }
        )
    return {"profile": bool(profile), "tips": tips}
