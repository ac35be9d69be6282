"""Analytics selectors (issue 6): every figure is computed by PostgreSQL in one statement per call.

Aggregates, `date_trunc`, `generate_series` (empty periods are rows with zeros, not gaps),
`percentile_cont` and `FILTER` clauses do the work; Python only passes parameters and names the
columns. The callers (the analytics API and the admin dashboard) validate the range first with
`analytics_range`.

Conventions shared by every selector:
- a range is whole calendar days `date_from`..`date_to` (both included) in the time zone `tz`
  (default UTC); periods are labelled by their first day (`week` = ISO week, from Monday), and the
  first and last period may be partial;
- *active user*: a user with at least one interaction (any kind) in the period;
- rates are floats in 0..1, or null when their denominator is 0; durations are seconds.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from rest_framework.exceptions import NotFound

from apps.bots.models import Bot
from apps.conversations.models import Conversation, Message
from apps.core.fields import time_zones
from apps.progress.models import ContentItem, ContentKind, Interaction, InteractionKind, Progress
from apps.recommendations.models import RecommendationLog

GROUPINGS = ("day", "week", "month")
FUNNEL_STEPS = (InteractionKind.VIEW, InteractionKind.START, InteractionKind.COMPLETE)
#: dates outside these bounds are refused: Python's datetime ends at year 9999 and "the day after"
#: must still exist.
MIN_DATE = dt.date(1970, 1, 1)
MAX_DATE = dt.date(9998, 12, 31)

INTERACTION = Interaction._meta.db_table
CONTENT = ContentItem._meta.db_table
PROGRESS = Progress._meta.db_table
BOT = Bot._meta.db_table
CONVERSATION = Conversation._meta.db_table
MESSAGE = Message._meta.db_table


@dataclass(frozen=True)
class AnalyticsRange:
    """Whole days `date_from`..`date_to` (inclusive) in time zone `tz`."""

    date_from: dt.date
    date_to: dt.date
    tz: str = "UTC"

    @property
    def start(self) -> dt.datetime:
        """The first instant of `date_from` in `tz` (aware)."""
        return dt.datetime.combine(self.date_from, dt.time.min, tzinfo=ZoneInfo(self.tz))

    @property
    def end(self) -> dt.datetime:
        """The first instant after `date_to` in `tz` (aware, excluded)."""
        return dt.datetime.combine(self.date_to + dt.timedelta(days=1), dt.time.min, tzinfo=ZoneInfo(self.tz))

    def params(self, organization, **extra) -> dict:
        return {
            "org": organization.pk,
            "start": self.start,
            "end": self.end,
            "tz": self.tz,
            "first_day": self.date_from,
            "last_day": self.date_to,
            **extra,
        }

    def as_dict(self) -> dict:
        return {"date_from": self.date_from, "date_to": self.date_to, "tz": self.tz}


def analytics_range(
    *, date_from: dt.date | None = None, date_to: dt.date | None = None, tz: str | None = None
) -> AnalyticsRange:
    """Validate and complete a date range: defaults to the last `ANALYTICS_DEFAULT_RANGE_DAYS` days up
    to today in `tz`. Raises ValidationError (per field) for an unknown time zone, dates out of bounds,
    `date_from` after `date_to`, or a range longer than `ANALYTICS_MAX_RANGE_DAYS`."""
    tz = tz or "UTC"
    if tz not in time_zones():
        raise ValidationError({"tz": [f"Unknown time zone '{tz}'; use an IANA name such as 'Europe/Paris' or 'UTC'."]})
    default_days = settings.ANALYTICS_DEFAULT_RANGE_DAYS
    max_days = settings.ANALYTICS_MAX_RANGE_DAYS
    for name, value in (("date_from", date_from), ("date_to", date_to)):
        if value is not None and not MIN_DATE <= value <= MAX_DATE:
            raise ValidationError({name: [f"Must be between {MIN_DATE.isoformat()} and {MAX_DATE.isoformat()}."]})
    to_today = date_to is None
    if date_to is None:
        today = dt.datetime.now(ZoneInfo(tz)).date()
        date_to = today if date_from is None else max(today, date_from)
    if date_from is None:
        date_from = max(MIN_DATE, date_to - dt.timedelta(days=default_days - 1))
    if date_from > date_to:
        raise ValidationError({"date_from": ["Must be on or before date_to."]})
    days = (date_to - date_from).days + 1
    if days > max_days and to_today:
        # Not shortened quietly to max_days from date_from: the answer would end long before today, which is what
        # the default promises (an outside drill's date_from=2024-01-01 got figures up to 2025-12-31 and none of 2026)
        raise ValidationError(
            {
                "date_from": [
                    f"From {date_from.isoformat()} to today ({date_to.isoformat()}) is {days} days; the most is "
                    f"{max_days}. Give a later date_from, or date_to too."
                ]
            }
        )
    if days > max_days:
        raise ValidationError({"date_to": [f"The range covers {days} days; the most is {max_days}."]})
    return AnalyticsRange(date_from=date_from, date_to=date_to, tz=tz)


def _rows(sql: str, params: dict, *, hash_aggregates: bool = True) -> list[dict]:
    """Run one analytics statement with `ANALYTICS_WORK_MEM` for its sorts and hashes, so grouping a
    million events stays in memory instead of spilling to temporary files; `hash_aggregates=False`
    turns hash aggregation off for it (see analytics_active_users). Both are `SET LOCAL`
    (`set_config(..., true)`) and put back right after the statement: they would otherwise last
    until the end of the caller's transaction (e.g. the dashboard's other statements)."""
    change = "SELECT set_config('work_mem', %s, true), set_config('enable_hashagg', %s, true)"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('work_mem'), current_setting('enable_hashagg')")
        previous = list(cursor.fetchone())
        cursor.execute(change, [settings.ANALYTICS_WORK_MEM, "on" if hash_aggregates else "off"])
        cursor.execute(sql, params)
        columns = [column.name for column in cursor.description]
        rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        cursor.execute(change, previous)
    return rows


# A calendar of periods `date_from`..`date_to` in the range's time zone, as local timestamps.
PERIODS = """
    SELECT generate_series(
        date_trunc(%(grouping)s, %(first_day)s::timestamp),
        %(last_day)s::timestamp,
        ('1 ' || %(grouping)s)::interval
    ) AS period
"""


# --------------------------------------------------------------------------- active users


def analytics_active_users(*, organization, period: AnalyticsRange, grouping: str) -> dict:
    """Distinct users with at least one interaction per day/week/month, and over the whole range.

    The (user, period) pairs are found by reading the `(organization, user, occurred_at)` index in
    order (an index-only scan: the events come sorted by user, then time) and sorting each user's
    few events by period (an incremental sort): about twice as fast at a million events as hashing
    every (period, user) pair, which the planner prefers unless hash aggregation is off."""
    sql = f"""
        WITH activity AS MATERIALIZED (
            SELECT DISTINCT i.user_id, date_trunc(%(grouping)s, i.occurred_at AT TIME ZONE %(tz)s) AS period
            FROM {INTERACTION} i
            WHERE i.organization_id = %(org)s AND i.occurred_at >= %(start)s AND i.occurred_at < %(end)s
        ),
        per_period AS (SELECT period, count(*) AS active_users FROM activity GROUP BY period)
        SELECT p.period::date AS period,
               coalesce(a.active_users, 0) AS active_users,
               (SELECT count(*) FROM (SELECT DISTINCT user_id FROM activity) u) AS total_active_users
        FROM ({PERIODS}) p
        LEFT JOIN per_period a ON a.period = p.period
        ORDER BY p.period
    """
    rows = _rows(sql, period.params(organization, grouping=grouping), hash_aggregates=False)
    total = rows[0]["total_active_users"] if rows else 0
    return {
        **period.as_dict(),
        "grouping": grouping,
        "total_active_users": total,
        "results": [{"period": row["period"], "active_users": row["active_users"]} for row in rows],
    }


# --------------------------------------------------------------------------- completion

COMPLETION_FIGURES = """
    count(*) AS started,
    count(*) FILTER (WHERE p.status = 'completed') AS completed,
    count(*) FILTER (WHERE p.status = 'completed')::float / nullif(count(*), 0) AS completion_rate,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM p.completed_at - p.started_at))
        FILTER (WHERE p.status = 'completed') AS median_time_to_complete_seconds,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY p.time_spent_seconds)
        FILTER (WHERE p.status = 'completed') AS median_time_spent_seconds
"""


def analytics_completion(
    *, organization, period: AnalyticsRange, group: str = "item", kind: str | None = None, limit: int = 50
) -> dict:
    """Completion rate and median time to complete, per item or per course, for the progress
    started in the range (the cohort): `started` = progress rows with `started_at` in the range,
    `completed` = those of them completed (at any time up to now).

    Two durations, both over the completed rows: `median_time_to_complete_seconds` is the elapsed
    time `completed_at - started_at` (calendar time, pauses included); `median_time_spent_seconds`
    is the reported active time (`time_spent_seconds`).

    `group="item"`: one row per item (optionally of one content `kind`). `group="course"`: one row
    per course (items of kind `course`; a course's progress rolls up from its lessons, so its own
    rows are the course's figures). Every row also gives `children` (its direct children, e.g. a
    course's lessons) and `children_completion_rate` (completed / started over the children's
    progress started in the range). `totals` covers the whole cohort; rows are ordered by `started`
    (descending), at most `limit` of them; `count` is the number of rows before the limit.
    """
    if group == "course":
        kind = ContentKind.COURSE
    sql = f"""
        WITH cohort AS MATERIALIZED (
            SELECT p.item_id, p.status, p.started_at, p.completed_at, p.time_spent_seconds
            FROM {PROGRESS} p
            JOIN {CONTENT} c ON c.id = p.item_id
            WHERE p.organization_id = %(org)s AND p.started_at >= %(start)s AND p.started_at < %(end)s
              AND (%(kind)s::text IS NULL OR c.kind = %(kind)s::text)
        ),
        per_item AS (
            SELECT p.item_id, {COMPLETION_FIGURES}, count(*) OVER () AS row_count
            FROM cohort p GROUP BY p.item_id
            ORDER BY started DESC, p.item_id LIMIT %(limit)s
        ),
        children AS (
            SELECT ch.parent_id, count(DISTINCT ch.id) AS children,
                   count(cp.id) FILTER (WHERE cp.status = 'completed')::float
                       / nullif(count(cp.id), 0) AS children_completion_rate
            FROM {CONTENT} ch
            LEFT JOIN {PROGRESS} cp ON cp.item_id = ch.id AND cp.organization_id = %(org)s
                 AND cp.started_at >= %(start)s AND cp.started_at < %(end)s
            WHERE ch.organization_id = %(org)s AND ch.parent_id IN (SELECT item_id FROM per_item)
            GROUP BY ch.parent_id
        ),
        totals AS (SELECT {COMPLETION_FIGURES} FROM cohort p)
        SELECT 'item' AS row_type, c.id, c.external_id, c.title, c.kind, r.started, r.completed, r.completion_rate,
               r.median_time_to_complete_seconds, r.median_time_spent_seconds, r.row_count,
               coalesce(ch.children, 0) AS children, ch.children_completion_rate
        FROM per_item r
        JOIN {CONTENT} c ON c.id = r.item_id
        LEFT JOIN children ch ON ch.parent_id = r.item_id
        UNION ALL
        SELECT 'totals', NULL, NULL, NULL, NULL, t.started, t.completed, t.completion_rate,
               t.median_time_to_complete_seconds, t.median_time_spent_seconds, NULL, NULL, NULL
        FROM totals t
        ORDER BY row_type, started DESC, id
    """
    rows = _rows(sql, period.params(organization, kind=kind, limit=limit))
    *results, totals = rows
    figures = ("started", "completed", "completion_rate", "median_time_to_complete_seconds",
               "median_time_spent_seconds")  # fmt: skip
    item_fields = ("id", "external_id", "title", "kind", *figures, "children", "children_completion_rate")
    return {
        **period.as_dict(),
        "group": group,
        "kind": kind,
        "count": results[0]["row_count"] if results else 0,
        "totals": {name: totals[name] for name in figures},
        "results": [{name: row[name] for name in item_fields} for row in results],
    }


# --------------------------------------------------------------------------- funnel


def analytics_funnel(
    *, organization, period: AnalyticsRange, item_id: int | None = None, kind: str | None = None
) -> dict:
    """The view -> start -> complete funnel in the range, optionally for one item or one content kind.

    Per step: `users` = distinct users with at least one event of that kind; `converted` = distinct
    users who did this step and every earlier one *on the same item* (the order of the events is not
    checked: an import may deliver a `complete` before its `view`); `conversion_rate` = converted /
    users of the first step. An `item_id` outside the organization is NotFound (authorizes).
    """
    sql = f"""
        WITH pairs AS (
            -- the steps each user took on each item, as bits: view 1, start 2, complete 4 (one
            -- integer aggregate per row is cheaper than three boolean ones at a million events)
            SELECT i.user_id, bit_or(CASE i.kind WHEN 'view' THEN 1 WHEN 'start' THEN 2 ELSE 4 END) AS steps
            FROM {INTERACTION} i
            {"JOIN " + CONTENT + " c ON c.id = i.item_id AND c.kind = %(kind)s" if kind else ""}
            WHERE i.organization_id = %(org)s AND i.occurred_at >= %(start)s AND i.occurred_at < %(end)s
              AND i.kind IN ('view', 'start', 'complete')
              AND (%(item)s::bigint IS NULL OR i.item_id = %(item)s::bigint)
            GROUP BY i.user_id, i.item_id
        ),
        users AS (
            SELECT user_id, bit_or(steps) AS steps,
                   bool_or(steps & 3 = 3) AS viewed_started,
                   bool_or(steps = 7) AS viewed_started_completed
            FROM pairs GROUP BY user_id
        )
        SELECT count(*) FILTER (WHERE steps & 1 <> 0) AS view_users,
               count(*) FILTER (WHERE steps & 2 <> 0) AS start_users,
               count(*) FILTER (WHERE steps & 4 <> 0) AS complete_users,
               count(*) FILTER (WHERE viewed_started) AS start_converted,
               count(*) FILTER (WHERE viewed_started_completed) AS complete_converted
        FROM users
    """
    if item_id is not None and not ContentItem.objects.filter(organization=organization, pk=item_id).exists():
        raise NotFound("Item not found.")
    row = _rows(sql, period.params(organization, item=item_id, kind=kind))[0]
    first = row["view_users"]
    converted = {"view": first, "start": row["start_converted"], "complete": row["complete_converted"]}
    steps = [
        {
            "step": str(step),
            "users": row[f"{step}_users"],
            "converted": converted[step],
            "conversion_rate": converted[step] / first if first else None,
        }
        for step in FUNNEL_STEPS
    ]
    return {**period.as_dict(), "item": item_id, "kind": kind, "steps": steps}


# --------------------------------------------------------------------------- top items


def analytics_top_items(
    *,
    organization,
    period: AnalyticsRange,
    interaction_kind: str | None = None,
    kind: str | None = None,
    limit: int = 10,
) -> dict:
    """Items ranked by `score` = the sum of the weights of their interactions in the range (only of
    `interaction_kind` when given; items of content `kind` when given), then by the number of
    interactions. Distinct users are counted for the returned items only (index lookups), so the
    ranking is one pass over the events."""
    sql = f"""
        WITH ranked AS (
            SELECT i.item_id, sum(i.weight) AS score, count(*) AS interactions
            FROM {INTERACTION} i
            {"JOIN " + CONTENT + " c ON c.id = i.item_id AND c.kind = %(kind)s" if kind else ""}
            WHERE i.organization_id = %(org)s AND i.occurred_at >= %(start)s AND i.occurred_at < %(end)s
              AND (%(ikind)s::text IS NULL OR i.kind = %(ikind)s::text)
            GROUP BY i.item_id
            ORDER BY score DESC, interactions DESC, i.item_id
            LIMIT %(limit)s
        )
        SELECT c.id, c.external_id, c.title, c.kind, r.score, r.interactions,
               (SELECT count(DISTINCT u.user_id) FROM {INTERACTION} u
                WHERE u.organization_id = %(org)s AND u.item_id = r.item_id
                  AND u.occurred_at >= %(start)s AND u.occurred_at < %(end)s
                  AND (%(ikind)s::text IS NULL OR u.kind = %(ikind)s::text)) AS users
        FROM ranked r JOIN {CONTENT} c ON c.id = r.item_id
        ORDER BY r.score DESC, r.interactions DESC, r.item_id
    """
    rows = _rows(sql, period.params(organization, ikind=interaction_kind, kind=kind, limit=limit))
    return {**period.as_dict(), "interaction_kind": interaction_kind, "kind": kind, "results": rows}


# --------------------------------------------------------------------------- bots

BOT_FIGURES = """
    count(*) FILTER (WHERE m.role = 'user') AS questions,
    count(*) FILTER (WHERE m.role = 'assistant') AS answers,
    count(*) FILTER (WHERE m.role = 'assistant' AND m.status = 'unanswered') AS unanswered,
    count(*) FILTER (WHERE m.role = 'assistant' AND m.status = 'error') AS errors,
    count(*) FILTER (WHERE m.feedback = 1) AS feedback_positive,
    count(*) FILTER (WHERE m.feedback = -1) AS feedback_negative
"""
BOT_COLUMNS = """
    coalesce(cv.conversations, 0) AS conversations,
    coalesce(ms.questions, 0) + coalesce(ms.answers, 0) AS messages,
    coalesce(ms.questions, 0) AS questions,
    coalesce(ms.answers, 0) AS answers,
    coalesce(ms.unanswered, 0) AS unanswered,
    coalesce(ms.errors, 0) AS errors,
    ms.unanswered::float / nullif(ms.answers, 0) AS unanswered_rate,
    coalesce(ms.feedback_positive, 0) AS feedback_positive,
    coalesce(ms.feedback_negative, 0) AS feedback_negative
"""


def analytics_bot_usage(*, organization, period: AnalyticsRange, grouping: str, bot_id: int | None = None) -> dict:
    """Per bot and per period: conversations started, messages (`questions` from people, `answers`
    from the bot), unanswered answers (the bot's fallback: nothing relevant found), errors (the
    language model failed), `unanswered_rate` = unanswered / answers, and feedback counts (+1/-1 on
    answers) — messages and conversations created in the range. `totals` covers every bot (or the
    one `bot_id`); `series` is zero-filled per period. A `bot_id` outside the organization is NotFound
    (authorizes)."""
    if bot_id is not None and not Bot.objects.filter(organization=organization, pk=bot_id).exists():
        raise NotFound("Bot not found.")
    params = period.params(organization, grouping=grouping, bot=bot_id)
    in_range = "{t}.organization_id = %(org)s AND {t}.created_at >= %(start)s AND {t}.created_at < %(end)s"
    # A deleted bot (its purge under way) counts nowhere: not listed, not in the totals or the series.
    one_bot = (
        "(%(bot)s::bigint IS NULL OR {column} = %(bot)s::bigint) AND {column} NOT IN "
        f"(SELECT id FROM {BOT} WHERE organization_id = %(org)s AND deleted_at IS NOT NULL)"
    )
    messages = f"""
        SELECT c.bot_id, date_trunc(%(grouping)s, m.created_at AT TIME ZONE %(tz)s) AS period, m.role, m.status,
               m.feedback
        FROM {MESSAGE} m JOIN {CONVERSATION} c ON c.id = m.conversation_id
        WHERE {in_range.format(t="m")} AND {one_bot.format(column="c.bot_id")}
    """
    conversations = f"""
        SELECT bot_id, date_trunc(%(grouping)s, created_at AT TIME ZONE %(tz)s) AS period
        FROM {CONVERSATION} cv WHERE {in_range.format(t="cv")} AND {one_bot.format(column="bot_id")}
    """
    sql = f"""
        WITH m AS MATERIALIZED ({messages}),
        cv_rows AS MATERIALIZED ({conversations}),
        ms_bot AS (SELECT m.bot_id, {BOT_FIGURES} FROM m GROUP BY GROUPING SETS ((m.bot_id), ())),
        cv_bot AS (SELECT bot_id, count(*) AS conversations FROM cv_rows GROUP BY GROUPING SETS ((bot_id), ())),
        ms_period AS (SELECT m.period, {BOT_FIGURES} FROM m GROUP BY m.period),
        cv_period AS (SELECT period, count(*) AS conversations FROM cv_rows GROUP BY period)
        SELECT 'bot' AS row_type, b.id, b.name, NULL::date AS period, {BOT_COLUMNS}
        FROM {BOT} b
        LEFT JOIN ms_bot ms ON ms.bot_id = b.id
        LEFT JOIN cv_bot cv ON cv.bot_id = b.id
        WHERE b.organization_id = %(org)s AND {one_bot.format(column="b.id")}
        UNION ALL
        SELECT 'totals', NULL, NULL, NULL, {BOT_COLUMNS}
        FROM (SELECT 1) one
        LEFT JOIN ms_bot ms ON ms.bot_id IS NULL
        LEFT JOIN cv_bot cv ON cv.bot_id IS NULL
        UNION ALL
        SELECT 'series', NULL, NULL, p.period::date, {BOT_COLUMNS}
        FROM ({PERIODS}) p
        LEFT JOIN ms_period ms ON ms.period = p.period
        LEFT JOIN cv_period cv ON cv.period = p.period
        ORDER BY row_type, name, id, period
    """
    rows = _rows(sql, params)
    figures = ("conversations", "messages", "questions", "answers", "unanswered", "errors", "unanswered_rate",
               "feedback_positive", "feedback_negative")  # fmt: skip
    return {
        **period.as_dict(),
        "grouping": grouping,
        "bot": bot_id,
        "totals": next({k: row[k] for k in figures} for row in rows if row["row_type"] == "totals"),
        "bots": [
            {"id": r["id"], "name": r["name"]} | {k: r[k] for k in figures} for r in rows if r["row_type"] == "bot"
        ],
        "series": [{"period": r["period"]} | {k: r[k] for k in figures} for r in rows if r["row_type"] == "series"],
    }


# --------------------------------------------------------------------------- recommendations

#: positions after this one are counted together in one bucket (labelled "<n+1>+")
RECOMMENDATION_POSITIONS = 10
RATES = """
    coalesce(sum(impressions), 0) AS impressions,
    coalesce(sum(clicks), 0) AS clicks,
    coalesce(sum(dismissals), 0) AS dismissals,
    sum(clicks)::float / nullif(sum(impressions), 0) AS click_through_rate,
    sum(dismissals)::float / nullif(sum(impressions), 0) AS dismissal_rate
"""


RECOMMENDATIONS_SQL = f"""
    WITH agg AS MATERIALIZED (
        SELECT date_trunc(%(grouping)s, l.created_at AT TIME ZONE %(tz)s) AS period, l.source,
               least(l.position, %(positions)s + 1) AS position,
               count(*) AS impressions, count(l.clicked_at) AS clicks, count(l.dismissed_at) AS dismissals
        FROM {RecommendationLog._meta.db_table} l
        WHERE l.organization_id = %(org)s AND l.created_at >= %(start)s AND l.created_at < %(end)s
        GROUP BY 1, 2, 3
    ),
    periods AS ({PERIODS}),
    sources AS (SELECT DISTINCT source FROM agg),
    positions AS (SELECT DISTINCT position FROM agg)
    SELECT 'total' AS dimension, NULL AS key, NULL::date AS period, {RATES} FROM agg
    UNION ALL
    SELECT 'source', source, NULL, {RATES} FROM agg GROUP BY source
    UNION ALL
    SELECT 'position', position::text, NULL, {RATES} FROM agg GROUP BY position
    UNION ALL
    SELECT 'source', s.source, p.period::date, {RATES}
    FROM periods p CROSS JOIN sources s LEFT JOIN agg a ON a.period = p.period AND a.source = s.source
    GROUP BY s.source, p.period
    UNION ALL
    SELECT 'position', q.position::text, p.period::date, {RATES}
    FROM periods p CROSS JOIN positions q LEFT JOIN agg a ON a.period = p.period AND a.position = q.position
    GROUP BY q.position, p.period
    ORDER BY dimension, key, period NULLS FIRST
"""


def recommendations_params(*, organization, period: AnalyticsRange, grouping: str) -> dict:
    return period.params(organization, grouping=grouping, positions=RECOMMENDATION_POSITIONS)


def analytics_recommendations(*, organization, period: AnalyticsRange, grouping: str) -> dict:
    """Click-through and dismissal rates of served recommendations (issue 18), from RecommendationLog:
    each row is one item shown in one response (an impression) and carries its feedback (`clicked_at`,
    `dismissed_at`, set by .../recommendations/{log_id}/feedback/; a dismissal also records a `dismiss`
    interaction). Rates are clicks / impressions and dismissals / impressions of the items *shown* in
    the range, whenever the feedback came.

    Per source and per position (1..RECOMMENDATION_POSITIONS, then one bucket for the rest), overall
    and per period (zero-filled for every source and position that appears in the range).

    One statement: the log rows of the range are read once through the `(organization, created_at)`
    index and grouped by (period, source, position) — at most periods x sources x positions rows,
    whatever the traffic — and everything else rolls those up."""
    rows = _rows(
        RECOMMENDATIONS_SQL, recommendations_params(organization=organization, period=period, grouping=grouping)
    )
    figures = ("impressions", "clicks", "dismissals", "click_through_rate", "dismissal_rate")

    def breakdown(dimension: str) -> list[dict]:
        out: dict[str, dict] = {}
        for row in rows:
            if row["dimension"] != dimension:
                continue
            if row["period"] is None:
                out[row["key"]] = {k: row[k] for k in figures} | {"series": []}
            else:
                out[row["key"]]["series"].append({"period": row["period"]} | {k: row[k] for k in figures})
        return [{"key": key} | value for key, value in out.items()]

    by_position = sorted(breakdown("position"), key=lambda entry: int(entry["key"]))
    for entry in by_position:
        position = int(entry.pop("key"))
        entry["position"] = position
        entry["label"] = str(position) if position <= RECOMMENDATION_POSITIONS else f"{position}+"
    by_source = breakdown("source")
    for entry in by_source:
        entry["source"] = entry.pop("key")
    return {
        **period.as_dict(),
        "grouping": grouping,
        "totals": next({k: row[k] for k in figures} for row in rows if row["dimension"] == "total"),
        "sources": by_source,
        "positions": by_position,
    }
