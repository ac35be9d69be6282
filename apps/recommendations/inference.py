"""Interests inferred from behaviour (issue 19 item 1, docs/interests.md "Inferred interests").

A background job, per organization: the members' positive interactions of the last
INTERESTS_INFER_WINDOW_DAYS are grouped per (member, catalog tag) in one SQL statement (recency-weighted
with the decay half-life), each member's tags scaled to 0..1 by their strongest, the weakest dropped
(under INTERESTS_MIN_WEIGHT) and at most INTERESTS_INFER_MAX_PER_MEMBER kept, then written as the
members' `inferred` interests (category "general") in one replace. The last interaction is the
interest's last-seen time, so it decays from there when the behaviour stops.
"""

from __future__ import annotations

from django.conf import settings
from django.db import connection

from apps.interests.services import DEFAULT_CATEGORY, member_inferred_interests_replace

INFER_SQL = """
SELECT i.user_id, lower(t.tag) AS tag,
       sum(i.weight * power(0.5, extract(epoch FROM (now() - i.occurred_at)) / %(half_life)s)) AS strength,
       max(i.occurred_at) AS last_seen, count(*) AS n, (array_agg(DISTINCT i.item_id))[1:10] AS items
FROM progress_interaction i
JOIN progress_contentitem c ON c.id = i.item_id AND c.organization_id = i.organization_id
CROSS JOIN LATERAL unnest(c.tags) AS t(tag)
JOIN organizations_membership m ON m.organization_id = i.organization_id AND m.user_id = i.user_id
WHERE i.organization_id = %(org)s AND i.weight > 0 AND i.kind <> 'dismiss'
  AND i.occurred_at > now() - make_interval(days => %(days)s)
GROUP BY i.user_id, lower(t.tag)
"""

ACTIVE_ORGANIZATIONS_SQL = """
SELECT DISTINCT organization_id FROM progress_interaction
WHERE occurred_at > now() - make_interval(days => %s) ORDER BY organization_id
"""


def interests_infer(*, organization_id: int) -> int:
    """Recompute the organization's inferred interests; returns the rows written."""
    with connection.cursor() as cursor:
        cursor.execute(
            INFER_SQL,
            {
                "org": organization_id,
                "days": settings.INTERESTS_INFER_WINDOW_DAYS,
                "half_life": settings.INTERESTS_DECAY_HALF_LIFE_DAYS * 86400.0,
            },
        )
        found = cursor.fetchall()
    by_user: dict[int, list[tuple]] = {}
    for user_id, tag, strength, last_seen, count, items in found:
        if strength and strength > 0:
            by_user.setdefault(user_id, []).append((tag, float(strength), last_seen, count, items))
    rows = []
    for user_id, tags in by_user.items():
        top = max(strength for _tag, strength, *_ in tags)
        tags.sort(key=lambda row: (-row[1], row[0]))
        for tag, strength, last_seen, count, items in tags[: settings.INTERESTS_INFER_MAX_PER_MEMBER]:
            weight = strength / top
            if weight >= settings.INTERESTS_MIN_WEIGHT:
                rows.append((user_id, DEFAULT_CATEGORY, tag, round(weight, 4), last_seen, count, list(items or [])))
    return member_inferred_interests_replace(organization_id=organization_id, rows=rows)


def interests_infer_all() -> dict[int, int]:
    """Every organization with interactions in the window (the beat task)."""
    with connection.cursor() as cursor:
        cursor.execute(ACTIVE_ORGANIZATIONS_SQL, [settings.INTERESTS_INFER_WINDOW_DAYS])
        organizations = [organization_id for (organization_id,) in cursor.fetchall()]
    return {organization_id: interests_infer(organization_id=organization_id) for organization_id in organizations}
