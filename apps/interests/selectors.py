"""Reads of members' interests: the public API other apps call (docs/interests.md "For other apps").

Every selector is scoped by organization. Weights of decaying sources (inferred, chat) are decayed at
read time in SQL (`weight * 0.5 ^ (age / INTERESTS_DECAY_HALF_LIFE_DAYS)`), so nothing has to rewrite
rows on a schedule; stated and synced weights are read as given. Per value, the merged weight is the
strongest source's effective weight; every source is kept as evidence.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import connection

from apps.interests.models import DECAYING_SOURCES, InterestCategory, InterestValue, MemberInterest

TABLE = MemberInterest._meta.db_table


def effective_weight_sql(alias: str = "mi") -> str:
    """SQL for a row's weight now; takes one parameter, the half-life in seconds."""
    decaying = ", ".join(f"'{source}'" for source in DECAYING_SOURCES)
    return (
        f"CASE WHEN {alias}.source IN ({decaying}) "
        f"THEN {alias}.weight * power(0.5, extract(epoch FROM (now() - {alias}.updated_at)) / %s) "
        f"ELSE {alias}.weight END"
    )


def half_life_seconds() -> float:
    return settings.INTERESTS_DECAY_HALF_LIFE_DAYS * 86400.0


@dataclass
class InterestEvidence:
    source: str
    weight: float  # effective now
    stored_weight: float
    evidence_count: int
    first_seen: datetime
    last_seen: datetime
    item_ids: list[int] = field(default_factory=list)


@dataclass
class MemberInterestView:
    value_id: int
    category: str
    value: str
    weight: float  # the strongest source's effective weight
    evidence: list[InterestEvidence] = field(default_factory=list)

    @property
    def sources(self) -> list[str]:
        return [item.source for item in self.evidence]


_ROWS_SQL = f"""
SELECT mi.user_id, v.id, c.name, v.name, mi.source, {effective_weight_sql()}, mi.weight, mi.evidence_count,
       mi.created_at, mi.updated_at, mi.item_ids
FROM {TABLE} mi
JOIN {InterestValue._meta.db_table} v ON v.id = mi.value_id
JOIN {InterestCategory._meta.db_table} c ON c.id = v.category_id
WHERE mi.organization_id = %s AND mi.user_id = ANY(%s) {{extra}}
"""


def _rows(organization_id: int, user_ids: list[int], *, sources=None) -> list[tuple]:
    extra, params = "", [half_life_seconds(), organization_id, list(user_ids)]
    if sources is not None:
        extra = "AND mi.source = ANY(%s)"
        params.append([str(source) for source in sources])
    with connection.cursor() as cursor:
        cursor.execute(_ROWS_SQL.format(extra=extra), params)
        return cursor.fetchall()


def _merge(rows, min_weight: float) -> dict[int, list[MemberInterestView]]:
    by_user: dict[int, dict[int, MemberInterestView]] = {}
    for user_id, value_id, category, value, source, effective, stored, count, first, last, item_ids in rows:
        views = by_user.setdefault(user_id, {})
        view = views.get(value_id)
        if view is None:
            view = views[value_id] = MemberInterestView(value_id, category, value, 0.0)
        effective = round(float(effective), 6)
        if isinstance(item_ids, str):  # Django's psycopg setup leaves jsonb undecoded in raw cursors
            item_ids = json.loads(item_ids)
        view.weight = max(view.weight, effective)
        view.evidence.append(
            InterestEvidence(source, effective, float(stored), count, first, last, list(item_ids or []))
        )
    out = {}
    for user_id, views in by_user.items():
        kept = [view for view in views.values() if view.weight >= min_weight and view.weight > 0]
        for view in kept:
            view.evidence.sort(key=lambda item: (-item.weight, item.source))
        out[user_id] = sorted(kept, key=lambda view: (-view.weight, view.category, view.value))
    return out


def member_interest_list(
    *, organization, user_id: int, sources: Iterable[str] | None = None, min_weight: float | None = None
) -> list[MemberInterestView]:
    """One member's interests in the organization, strongest first, each with its evidence per source
    (effective weight now, stored weight, evidence count, first and last seen, chat-matched items).
    `min_weight` defaults to INTERESTS_MIN_WEIGHT (decayed evidence below it is not shown)."""
    floor = settings.INTERESTS_MIN_WEIGHT if min_weight is None else min_weight
    organization_id = getattr(organization, "pk", organization)
    return _merge(_rows(organization_id, [user_id], sources=sources), floor).get(user_id, [])


def member_interests_for_users(
    *, organization, user_ids: Iterable[int], sources: Iterable[str] | None = None, min_weight: float | None = None
) -> dict[int, list[MemberInterestView]]:
    """The same for many members in one query: {user_id: [MemberInterestView, ...]} (members without
    interests are absent). For segments and batch jobs (outreach, boards)."""
    floor = settings.INTERESTS_MIN_WEIGHT if min_weight is None else min_weight
    organization_id = getattr(organization, "pk", organization)
    ids = sorted(set(user_ids))
    return _merge(_rows(organization_id, ids, sources=sources), floor) if ids else {}


def member_interest_weights(
    *, organization_id: int, user_id: int, sources: Iterable[str] | None = None, limit: int = 50
) -> list[tuple[str, str, float, list[int]]]:
    """(value name, category name, merged effective weight, chat-matched item ids) of one member,
    strongest first, at most `limit` and none under INTERESTS_MIN_WEIGHT: the recommender's input
    (one indexed query)."""
    views = member_interest_list(organization=organization_id, user_id=user_id, sources=sources)
    return [
        (view.value, view.category, view.weight, [i for item in view.evidence for i in item.item_ids])
        for view in views[:limit]
    ]


def member_ids_interested_in(
    *, organization, values: Iterable[str], category: str | None = None, min_weight: float | None = None
) -> list[int]:
    """Ids of the members with any of these interest values (names, normalised here) at an effective
    weight of at least `min_weight` (default INTERESTS_MIN_WEIGHT): a segment filter."""
    from apps.interests.models import interest_name_normalise

    names = sorted({interest_name_normalise(value) for value in values} - {""})
    if not names:
        return []
    floor = settings.INTERESTS_MIN_WEIGHT if min_weight is None else min_weight
    organization_id = getattr(organization, "pk", organization)
    extra, params = "", [organization_id, names]
    if category is not None:
        extra = "AND c.name = %s"
        params.append(interest_name_normalise(category))
    sql = f"""
        SELECT DISTINCT mi.user_id FROM {TABLE} mi
        JOIN {InterestValue._meta.db_table} v ON v.id = mi.value_id
        JOIN {InterestCategory._meta.db_table} c ON c.id = v.category_id
        WHERE mi.organization_id = %s AND v.name = ANY(%s) {extra} AND {effective_weight_sql()} >= %s
        ORDER BY mi.user_id
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, half_life_seconds(), floor])
        return [user_id for (user_id,) in cursor.fetchall()]


def interest_category_list(*, organization):
    return InterestCategory.objects.filter(organization=organization).order_by("name")


def interest_value_list(*, organization, category: str | None = None):
    values = InterestValue.objects.filter(organization=organization).select_related("category")
    if category is not None:
        values = values.filter(category__name=category)
    return values.order_by("category__name", "name")
