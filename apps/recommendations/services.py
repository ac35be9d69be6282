"""Recommendation writes: training an organization's engine, serving (with logs), feedback.

Training (`recommender_train`, Celery "recommendations.train"): load the organization's events,
learn every source's settings, the recency half-lives and the blend (a linear ranker, JSON) on a
validation split (engine.offline), fit ALS, co-occurrence, EASE, RP3beta and popularity on all
events, and store factors in pgvector, each item-item source's top-k neighbours and the popularity
snapshot under a new `RecommenderModel` version; once it is ready the older versions
are deleted and the organization's cached lists are invalidated.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from apps.core.exceptions import ApplicationError
from apps.core.leases import attempts_exhausted, interrupted_message
from apps.core.purge import delete_in_order
from apps.core.tasks import enqueue_now, enqueue_on_commit
from apps.core.vector_index import hnsw_index_ensure
from apps.organizations.models import Organization
from apps.recommendations.engine import cache as rec_cache
from apps.recommendations.engine.blend import LEARNT_SOURCES
from apps.recommendations.engine.data import Catalog, Events
from apps.recommendations.engine.offline import EngineParams, OfflineModel, blend_learn
from apps.recommendations.engine.ranking import RankRequest, recommendations_rank
from apps.recommendations.engine.sources import signal_rules
from apps.recommendations.models import (
    ItemFactor,
    ItemNeighbors,
    RecommendationLog,
    RecommenderModel,
    TrendingChart,
    UserFactor,
)

logger = logging.getLogger(__name__)

POPULAR_SNAPSHOT = 500


def engine_params() -> EngineParams:
    return EngineParams(
        factors=settings.REC_CF_FACTORS,
        regularization=settings.REC_CF_REGULARIZATION,
        alpha=settings.REC_CF_ALPHA,
        iterations=settings.REC_CF_ITERATIONS,
        cooccurrence_neighbors=settings.REC_COOCCURRENCE_NEIGHBORS,
        ease_max_items=settings.REC_EASE_MAX_ITEMS,
        history_limit=settings.REC_HISTORY_LIMIT,
        per_source=settings.REC_CANDIDATES_PER_SOURCE,
        threads=settings.REC_TRAIN_THREADS,
    )


# --------------------------------------------------------------------------- training data

EVENTS_SQL = """
SELECT i.user_id, i.item_id, i.kind, i.weight, i.value, extract(epoch FROM i.occurred_at)
FROM progress_interaction i
WHERE i.organization_id = %s
"""


def training_events_load(*, organization_id: int) -> tuple[Events, int]:
    """All events of the organization, on the axis of its active items; and the highest event id."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM progress_contentitem WHERE organization_id = %s AND active", [organization_id])
        item_ids = np.array(sorted(row[0] for row in cursor.fetchall()), dtype=np.int64)
        cursor.execute(EVENTS_SQL, [organization_id])
        rows = cursor.fetchall()
        cursor.execute("SELECT max(id) FROM progress_interaction WHERE organization_id = %s", [organization_id])
        last_id = cursor.fetchone()[0] or 0
    events = Events.from_rows(rows, signal_rules())
    return events.indexed(item_ids), last_id


def item_vectors_load(*, organization_id: int, item_ids: np.ndarray) -> np.ndarray | None:
    """Content embeddings (current model) on the items axis; zero rows where missing; None if none."""
    from apps.recommendations.engine.sources import embeddings_get

    vectors, _, dims = embeddings_get(organization_id=organization_id, item_ids=[int(i) for i in item_ids])
    if not vectors:
        return None
    matrix = np.zeros((len(item_ids), dims), dtype=np.float32)
    for row, item in enumerate(item_ids):
        vector = vectors.get(int(item))
        if vector is not None:
            matrix[row] = vector / (np.linalg.norm(vector) or 1.0)
    return matrix


CATALOG_SQL = """
SELECT id, parent_id, position, tags, categories FROM progress_contentitem WHERE organization_id = %s
"""


def catalog_load(*, organization_id: int, item_ids: np.ndarray) -> Catalog:
    """Courses, prerequisites and labels of the catalog on the items axis (offline course and graph)."""
    import scipy.sparse as sp

    index = {int(item): row for row, item in enumerate(item_ids)}
    n = len(item_ids)
    parent, position = np.full(n, -1, dtype=np.int64), np.zeros(n, dtype=np.int64)
    label_of: dict[str, int] = {}
    label_rows, label_cols = [], []
    with connection.cursor() as cursor:
        cursor.execute(CATALOG_SQL, [organization_id])
        for item, parent_id, order, tags, categories in cursor.fetchall():
            row = index.get(item)
            if row is None:
                continue
            parent[row] = index.get(parent_id, -1) if parent_id is not None else -1
            position[row] = order or 0
            for label in {*(f"t:{t}" for t in tags or ()), *(f"c:{c}" for c in categories or ())}:
                label_rows.append(row)
                label_cols.append(label_of.setdefault(label, len(label_of)))
        cursor.execute(
            "SELECT prerequisite_id, item_id FROM progress_contentprerequisite WHERE organization_id = %s",
            [organization_id],
        )
        pairs = [(index[a], index[b]) for a, b in cursor.fetchall() if a in index and b in index]
    prerequisites = sp.csr_matrix(
        (np.ones(len(pairs), dtype=np.float32), ([a for a, _ in pairs], [b for _, b in pairs])), shape=(n, n)
    )
    labels = sp.csr_matrix(
        (np.ones(len(label_rows), dtype=np.float32), (label_rows, label_cols)), shape=(n, max(len(label_of), 1))
    )
    return Catalog(parent, position, prerequisites, labels)


# --------------------------------------------------------------------------- factor indexes


def factor_indexes_ensure(*, dims: int) -> None:
    """Partial HNSW indexes for `dims`-dimensional factors: items by inner product (ALS scores are
    dot products), users by cosine (similar users). Created once (apps/core/vector_index.py)."""
    specs = [
        (f"itemfactor_hnsw_{dims}", "recommendations_itemfactor", "vector_ip_ops"),
        (f"userfactor_hnsw_{dims}", "recommendations_userfactor", "vector_cosine_ops"),
    ]
    # Inside a transaction that already wrote factor rows (a caller's atomic block, a test), PostgreSQL
    # refuses CREATE INDEX while their deferred foreign-key checks are pending: run those checks now,
    # then restore Django's default (its foreign keys are DEFERRABLE INITIALLY DEFERRED).
    nested = connection.in_atomic_block
    if nested:
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    try:
        for name, table, ops in specs:
            hnsw_index_ensure(
                name=name, table=table, column="factors", dimensions=dims, ops=ops, where=f"dims = {int(dims)}"
            )
    finally:
        if nested:
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")


# --------------------------------------------------------------------------- training


def _lock_key(organization_id: int) -> int:
    return 7_000_000_000 + organization_id


def recommender_train(*, organization_id: int, token: str = "", interruptions: int = 0) -> RecommenderModel | None:
    """Train a new model version of the organization and make it the serving one.

    Idempotent in effect (a retry trains again from the same events and replaces the model);
    concurrent runs for one organization are prevented by a PostgreSQL advisory lock (the second
    returns None at once). No network call; the database writes are one short transaction.

    Recovery (docs/recovery.md): holding the lock, any row of the organization still `training`
    lost its worker; it is closed `failed` with the reason. `token` identifies the task delivery
    (`apps.core.leases.task_lease_token`): finding it on such a row means this delivery was
    redelivered after its worker died, one more interruption; `interruptions` is the count a
    recovery sweep carries over. Past RECOVERY_MAX_ATTEMPTS the run gives up (returns None) and the
    next scheduled training starts a fresh count. An organization being deleted is not trained (None).
    """
    if not Organization.objects.filter(pk=organization_id).exists():
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [_lock_key(organization_id)])
        if not cursor.fetchone()[0]:
            return None
    try:
        for dead in _trainings_close_interrupted(organization_id, action="a new training started"):
            if token and dead.lease_owner == token:
                interruptions = max(interruptions, dead.interruptions)
        if attempts_exhausted(interruptions):
            logger.error(
                "recommender training of organization %s given up after %s interruptions; the next scheduled "
                "training tries again",
                organization_id, interruptions,
            )  # fmt: skip
            return None
        return _train(organization_id, token=token, interruptions=interruptions)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [_lock_key(organization_id)])


def _trainings_close_interrupted(organization_id: int, *, action: str) -> list[RecommenderModel]:
    """Close the organization's rows still `training` (the caller holds its advisory lock, so their
    run is dead): `failed`, one more interruption, a readable error. Returns them as updated."""
    dead = list(
        RecommenderModel.objects.filter(organization_id=organization_id, status=RecommenderModel.Status.TRAINING)
    )
    for record in dead:
        record.interruptions += 1
        gave_up = attempts_exhausted(record.interruptions)
        record.status = RecommenderModel.Status.FAILED
        record.error = interrupted_message(
            what=f"Training of version {record.version}",
            interruptions=record.interruptions,
            last_seen=record.heartbeat_at or record.created_at,
            action="the next scheduled training tries again" if gave_up else action,
        )
        logger.warning("organization %s: %s", organization_id, record.error)
        record.save(update_fields=["status", "error", "interruptions", "updated_at"])
    return dead


def _heartbeat(record: RecommenderModel) -> None:
    RecommenderModel.objects.filter(pk=record.pk).update(heartbeat_at=timezone.now())


def _train(organization_id: int, *, token: str = "", interruptions: int = 0) -> RecommenderModel:
    started = time.perf_counter()
    version = (
        RecommenderModel.objects.filter(organization_id=organization_id).aggregate(v=Max("version"))["v"] or 0
    ) + 1
    record = RecommenderModel.objects.create(
        organization_id=organization_id, version=version, lease_owner=token, heartbeat_at=timezone.now(),
        interruptions=interruptions,
    )  # fmt: skip
    try:
        events, last_id = training_events_load(organization_id=organization_id)
        _heartbeat(record)
        n_users, n_items = len(events.user_ids), len(events.item_ids)
        params = engine_params()
        positives = int(events.positive.sum())
        use_cf = positives >= settings.REC_MIN_POSITIVES_TO_TRAIN and n_users > 1 and n_items > 1
        sources = LEARNT_SOURCES if use_cf else tuple(s for s in LEARNT_SOURCES if s != "cf")
        vectors = item_vectors_load(organization_id=organization_id, item_ids=events.item_ids) if n_items else None
        if vectors is None:
            sources = tuple(s for s in sources if s != "content")
        catalog = catalog_load(organization_id=organization_id, item_ids=events.item_ids)
        if use_cf:
            choice = blend_learn(
                events, n_users=n_users, n_items=n_items, params=params, item_vectors=vectors, catalog=catalog,
                max_users=settings.REC_VALIDATION_USERS, sources=sources,
            )  # fmt: skip
            params, validation = choice.params, choice.validation
            _heartbeat(record)
        else:
            validation = {"note": f"{positives} positive events: too few to learn from; default weights"}
            params.weights = {name: (1.0 if name in sources else 0.0) for name in LEARNT_SOURCES}
            params.weights["popular"] = 0.3
        model = OfflineModel(events, n_users=n_users, n_items=n_items, params=params, item_vectors=vectors)
        model.fit(cf=use_cf, sources=sources)
        _heartbeat(record)
        dims = params.factors if use_cf else 0
        if dims:
            factor_indexes_ensure(dims=dims)
        popular_order = np.argsort(-model.popularity, kind="stable")[:POPULAR_SNAPSHOT]
        popular = [
            [int(events.item_ids[i]), round(float(model.popularity[i]), 6)]
            for i in popular_order
            if model.popularity[i] > 0
        ]
        with transaction.atomic():
            if dims:
                _store_factors(record, model, events, dims)
            _store_neighbors(record, model, events)
            trending = _store_trending(record, model, events)
            record.status = RecommenderModel.Status.READY
            record.lease_owner = ""
            record.heartbeat_at = timezone.now()
            record.dims = dims
            record.params = {**params.as_dict(), "last_interaction_id": last_id, "trending": trending}
            record.validation = validation
            record.popular = popular
            record.users_count, record.items_count, record.interactions_count = n_users, n_items, len(events)
            record.data_until = datetime.fromtimestamp(float(events.times.max()), tz=UTC) if len(events) else None
            record.trained_at = timezone.now()
            record.duration_seconds = round(time.perf_counter() - started, 3)
            record.save()
            RecommenderModel.objects.filter(organization_id=organization_id, version__lt=version).delete()
            transaction.on_commit(
                lambda: rec_cache.recommendation_cache_invalidate_organization(organization_id=organization_id)
            )
        return record
    except Exception as exc:
        logger.exception("recommender training failed for organization %s", organization_id)
        RecommenderModel.objects.filter(pk=record.pk).update(
            status=RecommenderModel.Status.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000],
            duration_seconds=round(time.perf_counter() - started, 3),
        )  # fmt: skip
        raise


def _erased_users(organization_id: int, user_ids: list[int]) -> set[int]:
    """Of these users, those who are no longer members and have no interaction left in the organization."""
    from apps.organizations.models import Membership
    from apps.progress.models import Interaction

    gone = set(user_ids) - set(
        Membership.objects.filter(organization_id=organization_id, user_id__in=user_ids).values_list(
            "user_id", flat=True
        )
    )
    if not gone:
        return set()
    active = Interaction.objects.filter(organization_id=organization_id, user_id__in=gone)
    return gone - set(active.values_list("user_id", flat=True).distinct())


def _store_factors(record: RecommenderModel, model: OfflineModel, events: Events, dims: int) -> None:
    org = record.organization_id
    users = model.user_factors
    # Users with no positive event have all-zero rows in ALS: nothing to serve from, not stored. Nor are people erased
    # while this run trained on their events (docs/api.md#erasing-a-member): no longer members, no event left.
    keep_users = np.flatnonzero(np.abs(users).sum(axis=1) > 0)
    erased = _erased_users(org, [int(events.user_ids[u]) for u in keep_users])
    keep_users = [u for u in keep_users if int(events.user_ids[u]) not in erased]
    UserFactor.objects.bulk_create(
        [
            UserFactor(organization_id=org, model=record, user_id=int(events.user_ids[u]), dims=dims, factors=users[u])
            for u in keep_users
        ],
        batch_size=2000,
    )
    items = model.item_factors
    keep_items = np.flatnonzero(np.abs(items).sum(axis=1) > 0)
    ItemFactor.objects.bulk_create(
        [
            ItemFactor(organization_id=org, model=record, item_id=int(events.item_ids[i]), dims=dims, factors=items[i])
            for i in keep_items
        ],
        batch_size=2000,
    )


def _store_neighbors(record: RecommenderModel, model: OfflineModel, events: Events) -> None:
    """Each item-item source's top-k neighbours, one row per item and kind."""
    rows = []
    for kind, matrix in model.neighbors.items():
        matrix = matrix.tocsr()
        for item in range(matrix.shape[0]):
            start, end = matrix.indptr[item], matrix.indptr[item + 1]
            if start == end:
                continue
            order = np.argsort(-matrix.data[start:end], kind="stable")
            rows.append(
                ItemNeighbors(
                    organization_id=record.organization_id,
                    model=record,
                    item_id=int(events.item_ids[item]),
                    kind=kind,
                    neighbors=[int(events.item_ids[j]) for j in matrix.indices[start:end][order]],
                    scores=[round(float(s), 6) for s in matrix.data[start:end][order]],
                )
            )
    ItemNeighbors.objects.bulk_create(rows, batch_size=2000)


def _store_trending(record: RecommenderModel, model: OfflineModel, events: Events) -> dict | None:
    """The run's trending charts, one row per time bucket; returns their grid (start epoch, bucket
    seconds, count) for `params["trending"]`, or None when the source was not fitted."""
    if not model.trending or not model.trending[2]:
        return None
    start, width, charts = model.trending
    TrendingChart.objects.bulk_create(
        [
            TrendingChart(
                organization_id=record.organization_id,
                model=record,
                bucket=bucket,
                items=[int(events.item_ids[i]) for i in items],
                scores=[round(float(v), 6) for v in scores],
            )
            for bucket, (items, scores) in enumerate(charts)
            if len(items)
        ],
        batch_size=500,
    )
    return {"start": start, "width": width, "buckets": len(charts)}


STALE_SQL = """
SELECT o.id FROM organizations_organization o
LEFT JOIN LATERAL (
    SELECT (m.params ->> 'last_interaction_id')::bigint AS last_id FROM recommendations_recommendermodel m
    WHERE m.organization_id = o.id AND m.status = 'ready' ORDER BY m.version DESC LIMIT 1
) m ON true
WHERE o.deleted_at IS NULL AND EXISTS (
    SELECT 1 FROM progress_interaction i WHERE i.organization_id = o.id AND i.id > COALESCE(m.last_id, 0)
)
ORDER BY o.id
"""


def recommender_trainings_recover_stuck() -> dict[str, list[int]]:
    """Beat: close training rows whose worker died and queue a new training (never left `training`).

    A row is dead when its organization's advisory lock is free (the lock is held for the whole run,
    and released by PostgreSQL when the worker's connection dies). Each closed run counts one
    interruption, carried into the queued training; past RECOVERY_MAX_ATTEMPTS nothing is queued (the
    next scheduled training tries again). An organization whose lock is taken is left alone, so two
    sweeps never close a run twice.
    """
    from workers.tasks.recommendations import recommender_train_task

    report: dict[str, list[int]] = {"requeued": [], "failed": []}
    organization_ids = (
        RecommenderModel.objects.filter(status=RecommenderModel.Status.TRAINING)
        .values_list("organization_id", flat=True)
        .distinct()
        .order_by("organization_id")
    )
    for organization_id in list(organization_ids):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [_lock_key(organization_id)])
            if not cursor.fetchone()[0]:
                continue  # a live run (or another sweep) holds it
        try:
            dead = _trainings_close_interrupted(organization_id, action="a new training was queued")
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [_lock_key(organization_id)])
        count = max((record.interruptions for record in dead), default=0)
        if not dead:
            continue
        if attempts_exhausted(count):
            report["failed"].append(organization_id)
            continue
        enqueue_now(recommender_train_task, kwargs={"organization_id": organization_id, "interruptions": count})
        report["requeued"].append(organization_id)
    return report


def recommender_train_stale() -> list[int]:
    """Enqueue training for every organization with events newer than its serving model."""
    from workers.tasks.recommendations import recommender_train_task

    with connection.cursor() as cursor:
        cursor.execute(STALE_SQL)
        organization_ids = [row[0] for row in cursor.fetchall()]
    for organization_id in organization_ids:
        enqueue_on_commit(recommender_train_task, organization_id)
    return organization_ids


# --------------------------------------------------------------------------- serving


# `asynchronous_commit` is SET LOCAL synchronous_commit TO OFF inside the statement (one round trip, not two):
# the transaction's commit then does not wait for the WAL flush (recommendations_serve).
LOG_SQL = """
WITH asynchronous_commit AS MATERIALIZED (SELECT set_config('synchronous_commit', 'off', true))
INSERT INTO recommendations_recommendationlog
    (id, organization_id, user_id, request_id, model_version, item_id, position, source, reason, score, created_at)
SELECT t.id, %s, %s, %s, %s, t.item, t.position, t.source, t.reason, t.score, %s
FROM unnest(%s::bigint[], %s::bigint[], %s::int[], %s::text[], %s::text[], %s::float8[])
        AS t(id, item, position, source, reason, score),
    asynchronous_commit
"""

#: log ids one process takes from the table's sequence at a time (one round trip per this many shown items)
LOG_ID_BLOCK = 1000


class LogIds:
    """Ids for RecommendationLog rows, taken from the table's own sequence in blocks, so a served list knows
    its log ids before its rows are written (recommendations_serve writes them after the response).

    The sequence hands every block out once, whichever process asks, so ids never collide with each other
    or with rows inserted without an id; ids a process did not use before it exited are gaps, as rolled
    back inserts leave. A forked child starts its own block (the parent's is keyed by its pid)."""

    SQL = (
        "SELECT nextval(pg_get_serial_sequence('recommendations_recommendationlog', 'id')) FROM generate_series(1, %s)"
    )

    def __init__(self, block: int = LOG_ID_BLOCK):
        self.block = block
        self._ids: list[int] = []
        self._pid = os.getpid()
        self._lock = threading.Lock()

    def take(self, count: int) -> list[int]:
        with self._lock:
            if self._pid != os.getpid():
                self._ids, self._pid = [], os.getpid()
            if len(self._ids) < count:
                with connection.cursor() as cursor:
                    cursor.execute(self.SQL, [max(self.block, count - len(self._ids))])
                    # Kept in descending order: the next ids come off the end.
                    self._ids = sorted((row[0] for row in cursor.fetchall()), reverse=True) + self._ids
            taken = self._ids[-count:][::-1]
            del self._ids[len(self._ids) - count :]
            return taken


log_ids = LogIds()


def recommendations_serve(
    *,
    organization,
    user_id: int,
    request: RankRequest,
    offset: int,
    limit: int,
    verify_member: bool = True,
    personal_reasons: bool = False,
    log_after: Callable[[Callable[[], None]], None] | None = None,
) -> dict:
    """The user's recommendations `offset:offset+limit`, from the per-user cache or computed; every
    shown item is logged (RecommendationLog) with the request id, position, source and reason.
    `user_id` must be a member of the organization (404 otherwise, checked unless the caller knows).

    The log rows' ids are taken before they are written (`LogIds`), so the list carries them either way.
    By default the rows are written before this returns. With `log_after` (the API view passes
    `AfterResponse`'s list: `after.append`) the write is handed over to run later, once the response is
    sent: a cached list then makes no PostgreSQL round trip on the client's time. A failed later write is
    logged; its rows are lost (feedback on those ids gets 404), the response already sent is unchanged.

    The personality fit of an item (", which suits your preference for videos", issue 8) is personal:
    the ranked and cached lists keep it apart (`fit_reason`), the log never stores it, and it is joined
    to the reason only with `personal_reasons=True` (the API decides: the user themself, or an admin of
    an organization that enabled `personality_admin_access`; never an API key). Scores are the same
    for every caller."""
    key, ranked = rec_cache.list_lookup(organization_id=organization.pk, user_id=user_id, params=request.cache_params())
    cached = ranked is not None
    if not cached:
        if verify_member:
            # Only on a miss: a list is cached only after this check passed, and leaving the organization
            # invalidates the user's lists (receivers.on_members_changed), so a hit implies membership.
            from apps.recommendations.selectors import member_get

            member_get(organization=organization, user_id=user_id)
        ranked = recommendations_rank(organization_id=organization.pk, user_id=user_id, request=request)
        rec_cache.list_set(key, ranked)
    page = ranked["results"][offset : offset + limit]
    request_id = uuid.uuid4()
    positions = [offset + index + 1 for index in range(len(page))]
    ids = log_ids.take(len(page)) if page else []
    if page:
        write = partial(
            _log_write,
            # Logs are analytics: their transaction's commit need not wait for the WAL flush (a crash may
            # lose the last few ms of logs, never corrupt anything); it saves an fsync per request. The
            # setting applies to the transaction the INSERT runs in: the caller's, or in autocommit (the
            # API view) the statement's own, without BEGIN and COMMIT round trips. One INSERT ... SELECT
            # FROM unnest for the page.
            [organization.pk, user_id, request_id, ranked["model_version"], timezone.now(),
             ids, [entry["item"]["id"] for entry in page], positions, [entry["source"] for entry in page],
             [entry["reason"][:300] for entry in page], [entry["score"] for entry in page]],
        )  # fmt: skip
        if log_after is None:
            write()
        else:
            log_after(partial(_log_write_later, write))
    results = [
        {"log_id": log_id, "position": position, **_public_entry(entry, personal_reasons)}
        for log_id, position, entry in zip(ids, positions, page, strict=True)
    ]
    return {
        "request_id": str(request_id),
        "user": user_id,
        "model_version": ranked["model_version"],
        "cached": cached,
        "total": len(ranked["results"]),
        "offset": offset,
        "limit": limit,
        "results": results,
    }


def _log_write(params: list) -> None:
    with connection.cursor() as cursor:
        cursor.execute(LOG_SQL, params)


def _log_write_later(write: Callable[[], None]) -> None:
    """`write` after the response: in autocommit, as the API's request is by then (no extra round trip); inside
    a transaction (a caller's, a test's) in a savepoint of its own, so a failed write cannot break it."""
    if connection.in_atomic_block:
        with transaction.atomic():
            write()
    else:
        write()


def _public_entry(entry: dict, personal_reasons: bool) -> dict:
    """A ranked entry as the caller sees it: without `fit_reason`; its text joined to the reason only
    for callers allowed to see personality-derived facts."""
    out = {name: value for name, value in entry.items() if name != "fit_reason"}
    fit_reason = entry.get("fit_reason")
    if personal_reasons and fit_reason:
        out["reason"] = entry["reason"] + fit_reason
    return out


@transaction.atomic
def recommendation_feedback(*, organization, log: RecommendationLog, action: str) -> RecommendationLog:
    """Record a click or a dismissal on a shown recommendation (the first time counts).

    A dismissal is also a `dismiss` interaction (idempotent per log row), so the item is never
    recommended to that user again and the user's cached lists are invalidated.
    """
    from apps.progress.models import InteractionKind
    from apps.progress.services import interaction_create

    assert log.organization_id == organization.pk
    now = timezone.now()
    if action == "clicked":
        if log.clicked_at is None:
            log.clicked_at = now
            log.save(update_fields=["clicked_at"])
    elif action == "dismissed":
        if log.dismissed_at is None:
            log.dismissed_at = now
            log.save(update_fields=["dismissed_at"])
        interaction_create(
            organization=organization, user=log.user, item=log.item, kind=InteractionKind.DISMISS,
            occurred_at=now, idempotency_key=f"recommendation-dismiss-{log.pk}",
        )  # fmt: skip
        transaction.on_commit(
            lambda: rec_cache.recommendation_cache_invalidate_user(organization_id=organization.pk, user_id=log.user_id)
        )
    else:
        raise ApplicationError(f"Unknown feedback action {action!r}.", code="invalid")
    return log


def organization_recommendations_purge_batch(*, organization_id: int, last: bool) -> int:
    """A batch of a deleted organization's recommendation data (`organization_purging`): the log, then the models
    (factors, neighbours and charts before the model rows); in the last stage, its cached lists, counters and version
    keys in Redis. Returns how many rows or keys went (0: none left)."""
    if last:
        return rec_cache.organization_forget(organization_id=organization_id)
    scoped = {"organization_id": organization_id}
    deleted = delete_in_order(
        [
            model.objects.filter(**scoped)
            for model in (RecommendationLog, UserFactor, ItemFactor, ItemNeighbors, TrendingChart, RecommenderModel)
        ],
        limit=settings.ORGANIZATION_PURGE_BATCH_ROWS,
    )
    return deleted
