"""The personality fit of the recommendation engine (an engine re-ranking hook, registered in
PersonalityConfig.ready()).

For each candidate item, fits in -1..1 from the user's profile (trait strength = distance from
average times confidence, selectors.trait_strength) and learning style:
- structured items (courses, modules, lessons, items inside a course): + conscientiousness, and the
  "structured" / "exploring" learning style;
- items in a category the user has not engaged with yet: + openness (and - for low openness);
- short items (<= PERSONALITY_SHORT_ITEM_MINUTES): - conscientiousness / 2 and the "short" length
  preference; long items (>= PERSONALITY_LONG_ITEM_MINUTES) the opposite;
- videos and podcasts vs articles: the format preference;
- events: + extraversion.
The item's factor is 1 + PERSONALITY_RERANK_STRENGTH * (sum of fits, clipped to -1..1); the largest
positive fit becomes a fit suffix (", which suits your preference for structured courses"). The suffix
is personal: the engine keeps it apart from the item's own reason (`fit_reason`, engine.hooks) and only
the API joins them, for the user themself or admins with `personality_admin_access`; never in
RecommendationLog, never for API keys. No profile, or an average one: every factor is 1 and no reason
is added.
"""

from __future__ import annotations

from django.conf import settings
from django.db import connection

from apps.personality.selectors import profile_compact_get, trait_strength

STRUCTURED_KINDS = {"course", "module", "lesson"}
MEDIA_KINDS = {"video", "podcast"}
REASONS = {
    "structured": ", which suits your preference for structured courses",
    "new_topic": ", which suits your curiosity for new topics",
    "short": ", which suits your preference for short items",
    "long": ", which suits your preference for longer, in-depth items",
    "video": ", which suits your preference for videos",
    "text": ", which suits your preference for reading",
    "event": ", which suits your sociable side",
}
MIN_REASON_FIT = 0.1


def _item_facts(organization_id: int, ids: list[int]) -> dict[int, tuple[int | None, bool]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, duration_minutes, parent_id IS NOT NULL FROM progress_contentitem "
            "WHERE organization_id = %s AND id = ANY(%s)",
            [organization_id, ids],
        )
        return {row[0]: (row[1], row[2]) for row in cursor.fetchall()}


def _engaged_categories(organization_id: int, user_id: int) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT DISTINCT unnest(i.categories) FROM progress_contentitem i
            WHERE i.organization_id = %(org)s AND i.id IN (
                SELECT item_id FROM progress_interaction WHERE organization_id = %(org)s AND user_id = %(user)s
                UNION SELECT item_id FROM progress_progress WHERE organization_id = %(org)s AND user_id = %(user)s
            )
            """,
            {"org": organization_id, "user": user_id},
        )
        return {row[0] for row in cursor.fetchall()}


def item_fits(item: dict, *, facts: tuple[int | None, bool], profile: dict, engaged: set[str]) -> dict[str, float]:
    """{fit name: -1..1} of one item for this profile (pure; tested on its own)."""
    style = profile.get("learning_style") or {}
    conscientiousness = trait_strength(profile, "conscientiousness")
    fits: dict[str, float] = {}
    duration, in_course = facts
    if item["kind"] in STRUCTURED_KINDS or in_course:
        preference = (style.get("structure") or {}).get("preference")
        fits["structured"] = conscientiousness + {"structured": 0.3, "exploring": -0.3}.get(preference, 0.0)
    categories = set(item.get("categories") or [])
    if engaged and categories and not categories & engaged:
        fits["new_topic"] = trait_strength(profile, "openness")
    length = (style.get("length") or {}).get("preference")
    if duration is not None and duration <= settings.PERSONALITY_SHORT_ITEM_MINUTES:
        fits["short"] = -conscientiousness / 2 + {"short": 0.4, "long": -0.4}.get(length, 0.0)
    elif duration is not None and duration >= settings.PERSONALITY_LONG_ITEM_MINUTES:
        fits["long"] = conscientiousness / 2 + {"long": 0.4, "short": -0.4}.get(length, 0.0)
    media = (style.get("format") or {}).get("preference")
    if item["kind"] in MEDIA_KINDS:
        fits["video"] = {"video": 0.3, "text": -0.3}.get(media, 0.0)
    elif item["kind"] == "article":
        fits["text"] = {"text": 0.3, "video": -0.3}.get(media, 0.0)
    if item["kind"] == "event":
        fits["event"] = trait_strength(profile, "extraversion")
    return {name: value for name, value in fits.items() if value}


def personality_fit(*, organization_id: int, user_id: int, items: list[dict]) -> dict[int, tuple[float, str | None]]:
    strength = settings.PERSONALITY_RERANK_STRENGTH
    if strength <= 0 or not items:
        return {}
    profile = profile_compact_get(organization_id=organization_id, user_id=user_id)
    if not profile:
        return {}
    facts = _item_facts(organization_id, [item["id"] for item in items])
    engaged = _engaged_categories(organization_id, user_id)
    effects: dict[int, tuple[float, str | None]] = {}
    for item in items:
        fits = item_fits(item, facts=facts.get(item["id"], (None, False)), profile=profile, engaged=engaged)
        if not fits:
            continue
        total = max(-1.0, min(1.0, sum(fits.values())))
        best = max(fits, key=fits.get)
        reason = REASONS[best] if fits[best] >= MIN_REASON_FIT and total > 0 else None
        effects[item["id"]] = (1 + strength * total, reason)
    return effects
