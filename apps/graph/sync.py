"""Graph sync services: outbox writes, the drain, rebuild, backlog (issue 7; see docs/graph.md).

Lifecycle of a `GraphOutbox` row:

1. **Written** by the service that changes a user, membership, content item, progress or
   interaction, in the same transaction (`graph_outbox_*` helpers, one INSERT per call whatever
   the number of rows). A fresh row per entity is unique: a second change before the drain picks
   it up reuses it (`ON CONFLICT ... DO UPDATE`), which also row-locks it until that transaction
   commits. Nothing is written while the graph is off (`NEO4J_URI` unset): `graph_rebuild` catches
   up when it is turned on. On commit, a drain is kicked (debounced through the cache).
2. **Claimed** by a drain in a short statement: `FOR UPDATE SKIP LOCKED` (never a row a writer
   still holds), `claim_token` set and `next_attempt_at` moved to the end of a lease. Only one
   drain runs at a time (a PostgreSQL advisory lock), so an older state is never written after a
   newer one by a slower concurrent drain.
3. **Applied** outside any transaction: the drain reloads the current state of the claimed
   entities from PostgreSQL and writes it with idempotent Cypher (projection.py).
4. **Deleted** on success. When the graph is down (connection refused, timeout, a transient
   server error) the whole claim backs off: `attempts + 1`, `last_error` and
   `next_attempt_at = now + min(max, base * 2**attempts) * U(0.5, 1)`; nothing is dropped, and the
   drain ends. A drain that dies mid-batch leaves its rows claimed until the lease ends; then any
   drain retries them.
5. **Dead-lettered** (issue 12) when the graph *rejects* the data: the claim is split in halves
   until the rejected rows are found, every other row is applied and deleted, and each rejected row
   gets `dead_at`, `attempts + 1` and the server's error. Dead rows are never claimed again; they
   show in the GraphOutbox admin and in `/health/` (`dead`), and `graph_outbox_retry` (admin
   action, `manage.py graph_retry`) turns them back into fresh rows after a fix. When *no* row of a
   claim applies and a write known to be good (the organization's node) fails too, the fault is the
   server's, not the rows': the claim backs off instead.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from apps.core.graph import graph_enabled
from apps.core.purge import delete_batch
from apps.graph import projection
from apps.graph.models import GraphOutbox
from workers.tasks.graph_sync import graph_sync_drain as graph_sync_drain_task

logger = logging.getLogger(__name__)

Kind = GraphOutbox.Kind
#: pg advisory lock id held by the drain and by rebuild ("graph" in ASCII).
DRAIN_LOCK_ID = 0x6772617068
KICK_CACHE_KEY = "graph-sync:kick"

# --------------------------------------------------------------------------- outbox writes

# The key and the payload are built in SQL from id arrays (cheaper than sending JSON per row):
# "<user_id>", "<item_id>", "<user_id>:<item_id>", "<user_id>:<item_id>:<kind>" (concat_ws skips NULLs).
_INSERT = f"""
INSERT INTO {GraphOutbox._meta.db_table}
    (organization_id, kind, object_key, payload, created_at, attempts, next_attempt_at, last_error)
SELECT %s, %s, concat_ws(':', e.user_id, e.item_id, e.kind),
       jsonb_strip_nulls(jsonb_build_object('user_id', e.user_id, 'item_id', e.item_id, 'kind', e.kind)),
       now(), 0, now(), ''
FROM unnest(%s::bigint[], %s::bigint[], %s::text[]) AS e(user_id, item_id, kind)
ON CONFLICT (organization_id, kind, object_key) WHERE claim_token IS NULL AND attempts = 0
DO UPDATE SET next_attempt_at = LEAST({GraphOutbox._meta.db_table}.next_attempt_at, EXCLUDED.next_attempt_at)
"""


def _outbox_write(organization_id: int, kind: str, keys: Iterable[tuple[int | None, int | None, str | None]]) -> int:
    """One INSERT for all `(user_id, item_id, interaction kind)` keys of one entity kind."""
    if not graph_enabled():
        return 0
    # Sorted: concurrent writers lock shared fresh rows in the same order (no deadlock). Unique: one
    # INSERT ... ON CONFLICT DO UPDATE cannot touch the same row twice.
    unique = sorted(set(keys), key=lambda key: (key[0] or 0, key[1] or 0, key[2] or ""))
    if not unique:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT,
            [
                organization_id,
                kind,
                [key[0] for key in unique],
                [key[1] for key in unique],
                [key[2] for key in unique],
            ],
        )
    transaction.on_commit(graph_sync_kick)
    return len(unique)


def graph_outbox_users(*, organization_id: int, user_ids: Iterable[int]) -> int:
    """The users' membership, role or profile (interests) changed in this organization, or they left it."""
    return _outbox_write(organization_id, Kind.USER, ((user_id, None, None) for user_id in user_ids))


def graph_outbox_user_everywhere(*, user_id: int) -> int:
    """The user's profile changed: one row per organization they belong to."""
    from apps.organizations.models import Membership

    written = 0
    for organization_id in Membership.objects.filter(user_id=user_id).values_list("organization_id", flat=True):
        written += graph_outbox_users(organization_id=organization_id, user_ids=[user_id])
    return written


def graph_outbox_content(*, organization_id: int, item_ids: Iterable[int]) -> int:
    """Items created, changed (kind, difficulty, active, tags, categories, parent, prerequisites) or deleted."""
    return _outbox_write(organization_id, Kind.CONTENT, ((None, item_id, None) for item_id in item_ids))


def graph_outbox_progress(*, organization_id: int, pairs: Iterable[tuple[int, int]]) -> int:
    """Progress rows (user_id, item_id) changed: completed, reset, deleted."""
    return _outbox_write(organization_id, Kind.PROGRESS, ((user_id, item_id, None) for user_id, item_id in pairs))


def graph_outbox_interactions(*, organization_id: int, keys: Iterable[tuple[int, int, str]]) -> int:
    """Interactions were recorded (or deleted) for these (user_id, item_id, kind) keys. Batch
    ingestion calls this once per batch; repeated keys collapse into one row."""
    return _outbox_write(organization_id, Kind.INTERACTION, ((u, i, k) for u, i, k in keys))


def graph_sync_kick() -> None:
    """Enqueue a drain unless one was enqueued in the last GRAPH_SYNC_KICK_DEBOUNCE_SECONDS.

    Runs on commit. A broker or cache outage must not fail the caller's request: the rows are
    committed and the beat schedule drains them anyway (the cache fails open to "no kick", a failed
    publish is logged and counted by enqueue_now).
    """
    from apps.core.tasks import enqueue_now

    if cache.add(KICK_CACHE_KEY, 1, timeout=settings.GRAPH_SYNC_KICK_DEBOUNCE_SECONDS):
        enqueue_now(graph_sync_drain_task)


# --------------------------------------------------------------------------- drain


@dataclass
class DrainResult:
    applied: int = 0
    failed: int = 0
    dead: int = 0
    rounds: int = 0
    skipped: str = ""  # why nothing ran: "graph off", "busy"
    error: str = ""


@contextmanager
def _drain_lock(*, wait: bool):
    """Session-level advisory lock: one drain (or rebuild) at a time. Released on exit, and by
    PostgreSQL itself if the worker's connection dies."""
    with connection.cursor() as cursor:
        if wait:
            cursor.execute("SELECT pg_advisory_lock(%s)", [DRAIN_LOCK_ID])
            acquired = True
        else:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [DRAIN_LOCK_ID])
            acquired = cursor.fetchone()[0]
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [DRAIN_LOCK_ID])


def _claim(token: uuid.UUID, limit: int) -> list[tuple[int, int, str, dict]]:
    table = GraphOutbox._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            # A materialized CTE: `WHERE id IN (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED)` may be
            # re-evaluated by the planner and claim more than n rows.
            f"""
            WITH due AS MATERIALIZED (
                SELECT id FROM {table} WHERE next_attempt_at <= now() AND dead_at IS NULL
                ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED
            )
            UPDATE {table} AS o SET claim_token = %s, next_attempt_at = now() + make_interval(secs => %s)
            FROM due WHERE o.id = due.id
            RETURNING o.id, o.organization_id, o.kind, o.payload
            """,
            [limit, token, settings.GRAPH_SYNC_LEASE_SECONDS],
        )
        rows = cursor.fetchall()
    rows.sort(key=lambda row: row[0])
    # Django's psycopg setup leaves jsonb undecoded in raw cursors.
    return [
        (row_id, organization_id, kind, json.loads(payload) if isinstance(payload, str) else payload)
        for row_id, organization_id, kind, payload in rows
    ]


def _release_failed(token: uuid.UUID, error: str) -> int:
    """Back the claimed rows off: attempts + 1, next try after min(max, base * 2**attempts) * U(0.5, 1)."""
    table = GraphOutbox._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {table} SET
                claim_token = NULL,
                attempts = attempts + 1,
                last_error = %s,
                next_attempt_at = now() + make_interval(
                    secs => LEAST(%s, %s * power(2, attempts)) * (0.5 + random() / 2)
                )
            WHERE claim_token = %s
            """,
            [error[:2000], settings.GRAPH_SYNC_RETRY_MAX_SECONDS, settings.GRAPH_SYNC_RETRY_BASE_SECONDS, token],
        )
        return cursor.rowcount


def _dead_letter(token: uuid.UUID, rejected: list[tuple[int, str]]) -> int:
    """Park the rows the graph rejected: dead_at, attempts + 1, the server's error; claim released."""
    table = GraphOutbox._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {table} AS o SET
                claim_token = NULL, dead_at = now(), attempts = o.attempts + 1, last_error = r.error
            FROM unnest(%s::bigint[], %s::text[]) AS r(id, error)
            WHERE o.id = r.id AND o.claim_token = %s
            """,
            [[row_id for row_id, _ in rejected], [error[:2000] for _, error in rejected], token],
        )
        return cursor.rowcount


def _delete_claimed(token: uuid.UUID) -> int:
    deleted, _ = GraphOutbox.objects.filter(claim_token=token).delete()
    return deleted


def outbox_rows_apply(rows: Iterable[tuple[int, int, str, dict]]) -> int:
    """Reload the current state of the rows' entities from PostgreSQL and write it to the graph.

    Idempotent: applying the same rows again writes the same absolute values.
    """
    grouped: dict[int, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    count = 0
    for _row_id, organization_id, kind, payload in rows:
        grouped[organization_id][kind].append(payload)
        count += 1
    with projection.graph_session():
        for organization_id, kinds in grouped.items():
            state = projection.GraphState()
            projection.user_states(organization_id, [p["user_id"] for p in kinds.get(Kind.USER, [])], state)
            projection.content_states(organization_id, [p["item_id"] for p in kinds.get(Kind.CONTENT, [])], state)
            projection.progress_states(
                organization_id, [(p["user_id"], p["item_id"]) for p in kinds.get(Kind.PROGRESS, [])], state
            )
            projection.interaction_states(
                organization_id,
                [(p["user_id"], p["item_id"], p["kind"]) for p in kinds.get(Kind.INTERACTION, [])],
                state,
            )
            projection.state_apply(organization_id, state)
    return count


def _graph_down_errors() -> tuple[type[BaseException], ...]:
    """The graph is unreachable or busy: retry the whole batch later, blame no row."""
    from neo4j.exceptions import DriverError, TransientError

    return (DriverError, TransientError, OSError)


def _graph_data_errors() -> tuple[type[BaseException], ...]:
    """The server answered and refused the query (FalkorDB: always DatabaseError "UnknownError")."""
    from neo4j.exceptions import Neo4jError

    return (Neo4jError, projection.GraphRowTooLarge)


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _apply_isolating(rows: list[tuple[int, int, str, dict]]) -> tuple[int, list[tuple[int, str]]]:
    """Apply `rows`; when the graph rejects them, split in halves until the rejected rows are alone.

    Returns (rows applied, [(row id, error)] rejected). Graph-down errors propagate: the caller backs
    the whole claim off. Re-applying the halves is harmless (idempotent writes; FalkorDB does not
    roll back a failed query, so a rejected row may have left part of its state, which its retry
    overwrites).
    """
    try:
        outbox_rows_apply(rows)
        return len(rows), []
    except _graph_down_errors():
        raise
    except _graph_data_errors() as exc:
        if len(rows) == 1:
            return 0, [(rows[0][0], _error_text(exc))]
    middle = len(rows) // 2
    applied_left, rejected_left = _apply_isolating(rows[:middle])
    applied_right, rejected_right = _apply_isolating(rows[middle:])
    return applied_left + applied_right, rejected_left + rejected_right


def _graph_accepts_writes(organization_id: int) -> bool:
    """A probe after a claim whose every row was rejected: does an idempotent write known to be good
    (the organization's node) succeed? If not, the server is failing and no row is to blame."""
    try:
        with projection.graph_session():
            projection.run(projection.ORGANIZATION_MERGE, {"org": organization_id})
    except _graph_down_errors() + _graph_data_errors():
        return False
    return True


def graph_sync_drain(*, max_seconds: float | None = None, claim_size: int | None = None) -> DrainResult:
    """Apply due outbox rows until none is left or `max_seconds` (GRAPH_SYNC_DRAIN_MAX_SECONDS) passed.

    Must not run inside a transaction (it talks to the graph between its short statements). Rows the
    graph rejects are isolated and dead-lettered, the rest of their claim applies (module docstring).
    A graph-down error backs the current claim off and ends the drain; any other error backs the
    claim off too and is re-raised.
    """
    result = DrainResult()
    if not graph_enabled():
        result.skipped = "graph off"
        return result
    max_seconds = settings.GRAPH_SYNC_DRAIN_MAX_SECONDS if max_seconds is None else max_seconds
    claim_size = claim_size or settings.GRAPH_SYNC_CLAIM_SIZE
    deadline = time.monotonic() + max_seconds
    with _drain_lock(wait=False) as acquired:
        if not acquired:
            result.skipped = "busy"
            return result
        schema_ready = False
        while time.monotonic() < deadline:
            token = uuid.uuid4()
            rows = _claim(token, claim_size)
            if not rows:
                break
            result.rounds += 1
            try:
                if not schema_ready:
                    projection.graph_schema_ensure()
                    schema_ready = True
                with projection.graph_session():
                    applied, rejected = _apply_isolating(rows)
            except Exception as exc:  # every failure keeps the rows for a retry; non-graph errors are re-raised
                result.failed += _release_failed(token, _error_text(exc))
                result.error = _error_text(exc)[:500]
                if not isinstance(exc, _graph_down_errors() + _graph_data_errors()):
                    raise
                logger.warning("graph sync: %d rows wait for a retry (%s)", len(rows), result.error)
                break
            if rejected and not applied and not _graph_accepts_writes(rows[0][1]):
                # Every row failed, and so does a write known to be good: the server fails, not the rows.
                result.failed += _release_failed(token, rejected[0][1])
                result.error = rejected[0][1][:500]
                logger.warning("graph sync: the graph refused all %d claimed rows (%s)", len(rows), result.error)
                break
            if rejected:
                result.dead += _dead_letter(token, rejected)
                logger.error(
                    "graph sync: %d of %d rows rejected by the graph, dead-lettered (first: %s)",
                    len(rejected),
                    len(rows),
                    rejected[0][1][:300],
                )
            result.applied += _delete_claimed(token)
    return result


# --------------------------------------------------------------------------- rebuild


def _chunked(values: Iterable, size: int):
    chunk = []
    for value in values:
        chunk.append(value)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def graph_rebuild(*, organization, progress: Callable[[str], None] | None = None, chunk_size: int = 500) -> dict:
    """Delete the organization's subgraph and rebuild it from PostgreSQL, in batches.

    Holds the drain lock (waits for a running drain), so no drain interleaves with it; outbox rows
    written meanwhile are applied afterwards (harmless: they reload the same state).
    """
    from django.contrib.auth import get_user_model

    from apps.organizations.models import Membership
    from apps.progress.models import ContentItem, Interaction, Progress

    say = progress or (lambda message: None)
    org_id = organization.pk
    counts = {"deleted_nodes": 0, "users": 0, "content": 0, "completed": 0, "interactions": 0}
    with _drain_lock(wait=True), projection.graph_session():
        projection.graph_schema_ensure()
        counts["deleted_nodes"] = projection.organization_subgraph_delete(org_id)
        say(f"deleted {counts['deleted_nodes']} nodes of organization {organization.slug}")
        projection.run(projection.ORGANIZATION_MERGE, {"org": org_id})

        user_ids = set(Membership.objects.filter(organization_id=org_id).values_list("user_id", flat=True))
        user_ids |= set(
            Progress.objects.filter(organization_id=org_id, status=Progress.Status.COMPLETED)
            .values_list("user_id", flat=True)
            .distinct()
        )
        user_ids |= set(Interaction.objects.filter(organization_id=org_id).values_list("user_id", flat=True).distinct())
        user_ids &= set(get_user_model().objects.filter(id__in=user_ids).values_list("id", flat=True))
        for chunk in _chunked(sorted(user_ids), chunk_size):
            state = projection.GraphState()
            projection.user_states(org_id, chunk, state)
            projection.users_apply(org_id, state.users, fresh=True)
            counts["users"] += len(state.users)
            say(f"users {counts['users']}/{len(user_ids)}")

        item_ids = ContentItem.objects.filter(organization_id=org_id).order_by("id").values_list("id", flat=True)
        total = item_ids.count()
        for chunk in _chunked(item_ids.iterator(chunk_size=chunk_size), chunk_size):
            state = projection.GraphState()
            projection.content_states(org_id, chunk, state)
            projection.content_apply(org_id, state.content, fresh=True)
            counts["content"] += len(state.content)
            say(f"content {counts['content']}/{total}")

        completed = (
            Progress.objects.filter(organization_id=org_id, status=Progress.Status.COMPLETED)
            .order_by("id")
            .values_list("user_id", "item_id", "completed_at", "score")
        )
        for chunk in _chunked(completed.iterator(chunk_size=chunk_size), chunk_size):
            rows = [{"u": u, "i": i, "t": projection.epoch(t), "s": s} for u, i, t, s in chunk]
            counts["completed"] += projection.completed_apply(org_id, rows)
        say(f"completed {counts['completed']}")

        aggregates = projection.interaction_aggregates(Interaction.objects.filter(organization_id=org_id)).order_by(
            "user_id", "item_id", "kind"
        )
        for chunk in _chunked(aggregates.iterator(chunk_size=chunk_size * 4), chunk_size * 4):
            rows = [projection.interaction_row(row) for row in chunk]
            counts["interactions"] += projection.interactions_apply(org_id, rows)
            say(f"interactions {counts['interactions']}")
    return counts


# --------------------------------------------------------------------------- backlog (health, admin)


def graph_outbox_backlog() -> dict:
    """Outbox figures for /health/ and the admin: `pending` rows (waiting or being applied; dead rows
    excluded), `retrying` (pending rows that failed before), `dead` (rejected by the graph, waiting
    for graph_retry), and the age in seconds of the oldest pending row."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT count(*) FILTER (WHERE dead_at IS NULL),
                   count(*) FILTER (WHERE dead_at IS NULL AND attempts > 0),
                   count(*) FILTER (WHERE dead_at IS NOT NULL),
                   min(created_at) FILTER (WHERE dead_at IS NULL)
            FROM {GraphOutbox._meta.db_table}
            """
        )
        pending, retrying, dead, oldest = cursor.fetchone()
    age = round((timezone.now() - oldest).total_seconds(), 1) if oldest else 0.0
    return {"pending": pending, "retrying": retrying, "dead": dead, "oldest_age_seconds": max(age, 0.0)}


# --------------------------------------------------------------------------- dead letters


def graph_outbox_retry(*, organization_id: int | None = None, ids: Iterable[int] | None = None) -> int:
    """Requeue dead-lettered rows (all, one organization's, or the given ids); returns how many.

    Each dead row becomes a fresh pending row for its entity again (attempts 0, no error, due now),
    through the writers' own upsert, so it coalesces with a change already waiting for the same
    entity; the dead row is deleted. A drain is kicked on commit.
    """
    table = GraphOutbox._meta.db_table
    where, params = ["dead_at IS NOT NULL"], []
    if organization_id is not None:
        where.append("organization_id = %s")
        params.append(organization_id)
    if ids is not None:
        where.append("id = ANY(%s::bigint[])")
        params.append(list(ids))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH dead AS (
                DELETE FROM {table} WHERE {" AND ".join(where)}
                RETURNING organization_id, kind, object_key, payload
            ), requeued AS (
                INSERT INTO {table}
                    (organization_id, kind, object_key, payload, created_at, attempts, next_attempt_at, last_error)
                SELECT DISTINCT ON (organization_id, kind, object_key)
                       organization_id, kind, object_key, payload, now(), 0, now(), ''
                FROM dead
                ON CONFLICT (organization_id, kind, object_key) WHERE claim_token IS NULL AND attempts = 0
                DO UPDATE SET next_attempt_at = LEAST({table}.next_attempt_at, EXCLUDED.next_attempt_at)
                RETURNING 1
            )
            SELECT (SELECT count(*) FROM dead), (SELECT count(*) FROM requeued)
            """,
            params,
        )
        requeued, _fresh = cursor.fetchone()
        if requeued:
            transaction.on_commit(graph_sync_kick)
    return requeued


def organization_graph_purge_batch(*, organization_id: int, last: bool) -> int:
    """A batch of a deleted organization's outbox rows; in the last stage its nodes and their edges, under the drain's
    lock so that no drain running at the same time writes them back (`organization_purging`). Returns how many rows
    or nodes went (0: none left). Raises on a graph outage (the purge is published again by the recovery sweep)."""
    if not last:
        return delete_batch(
            GraphOutbox.objects.filter(organization_id=organization_id), limit=settings.ORGANIZATION_PURGE_BATCH_ROWS
        )
    if not graph_enabled():
        return 0
    with _drain_lock(wait=True), projection.graph_session():
        return projection.organization_subgraph_delete(organization_id)
