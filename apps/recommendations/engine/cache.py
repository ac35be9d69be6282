"""Per-user cache of served recommendation lists (Django cache = Redis).

Keys carry the organization, an organization version (bumped when a new model is ready), a user
version (bumped by the user's new interactions and progress), the user's graph epoch (bumped when
fresh knowledge-graph candidates arrive from the background) and a hash of the request's filters.
Invalidation is therefore one INCR, never a key scan; stale entries expire by TTL.
A hit costs one MGET (the versions) and one GET.

The cache is an optimisation: when Redis errors (down, or busy with a long module command), reads
are misses, writes are skipped and the list is computed; a failed invalidation is logged (the TTL
bounds how long a list can stay stale).

Knowledge-graph candidates are never fetched in the request: Bolt round trips cost more than the
whole request budget. They are computed by a Celery task per user and kept here (`graph_rows_*`),
tagged with the user version they were computed for; a request that finds none, or stale ones,
enqueues a refresh (at most one per user per minute) and serves without them or with the stale ones.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)


def _org_key(organization_id: int) -> str:
    return f"rec:v:o:{organization_id}"


def _user_key(organization_id: int, user_id: int) -> str:
    return f"rec:v:u:{organization_id}:{user_id}"


def _graph_epoch_key(organization_id: int, user_id: int) -> str:
    return f"rec:v:g:{organization_id}:{user_id}"


def _graph_rows_key(organization_id: int, user_id: int) -> str:
    return f"rec:g:{organization_id}:{user_id}"


def _bump(key: str) -> None:
    try:
        try:
            cache.incr(key)
        except ValueError:  # not there yet (or evicted): a value never used before, so no old key can match
            cache.set(key, time.time_ns() // 1000, timeout=None)
    except RedisError:
        logger.warning("recommendation cache: could not invalidate %s", key, exc_info=True)


def recommendation_cache_invalidate_user(*, organization_id: int, user_id: int) -> None:
    _bump(_user_key(organization_id, user_id))


def recommendation_cache_invalidate_users(*, organization_id: int, user_ids) -> None:
    """Once the current transaction commits (at once outside one), the users' cached lists are stale
    (receivers: new interactions, progress, membership changes)."""
    users = sorted(set(user_ids))

    def bump():
        for user_id in users:
            _bump(_user_key(organization_id, user_id))

    transaction.on_commit(bump)


def recommendation_cache_invalidate_organization(*, organization_id: int) -> None:
    _bump(_org_key(organization_id))


def organization_version(*, organization_id: int) -> int:
    try:
        return cache.get(_org_key(organization_id), 0)
    except RedisError:
        return 0


def user_version(*, organization_id: int, user_id: int) -> int:
    try:
        return cache.get(_user_key(organization_id, user_id), 0)
    except RedisError:
        return 0


#: shape of a cached list, part of its key's digest: bumped when entries change shape, so lists cached
#: by an older release are never read (2: the personal fit suffix kept apart as `fit_reason`)
LIST_FORMAT = 2


def list_key(*, organization_id: int, user_id: int, params: dict) -> str | None:
    """The cache key of one user's list for these request parameters (reads the versions); None
    when Redis is unavailable (the list is then computed and not cached)."""
    keys = [_org_key(organization_id), _user_key(organization_id, user_id), _graph_epoch_key(organization_id, user_id)]
    try:
        versions = cache.get_many(keys)
    except RedisError:
        logger.warning("recommendation cache unavailable", exc_info=True)
        return None
    org, user, graph = (versions.get(key, 0) for key in keys)
    digest = hashlib.sha1(json.dumps([LIST_FORMAT, params], sort_keys=True, default=str).encode()).hexdigest()[:16]
    return f"rec:l:{organization_id}:{org}:{user_id}:{user}:{graph}:{digest}"


def graph_rows_get(*, organization_id: int, user_id: int) -> tuple[list, bool]:
    """(cached graph candidates, whether they were computed for the user's current version); with
    Redis unavailable: none, and "fresh" so that no refresh is enqueued."""
    keys = [_graph_rows_key(organization_id, user_id), _user_key(organization_id, user_id)]
    try:
        found = cache.get_many(keys)
    except RedisError:
        return [], True
    value = found.get(keys[0])
    if value is None:
        return [], False
    return value["rows"], value["version"] == found.get(keys[1], 0)


def graph_rows_set(*, organization_id: int, user_id: int, rows: list, version: int) -> None:
    """Store fresh graph candidates and make the user's cached lists stale (they lacked them)."""
    cache.set(_graph_rows_key(organization_id, user_id), {"rows": rows, "version": version}, timeout=24 * 3600)
    _bump(_graph_epoch_key(organization_id, user_id))


def graph_refresh_claim(*, organization_id: int, user_id: int) -> bool:
    """True for the first caller in a minute: it enqueues the refresh (no storm of duplicate tasks)."""
    try:
        return cache.add(f"rec:g:claim:{organization_id}:{user_id}", 1, timeout=60)
    except RedisError:
        return False


def list_get(key: str | None):
    if key is None:
        return None
    try:
        return cache.get(key)
    except RedisError:
        logger.warning("recommendation cache unavailable", exc_info=True)
        return None


def list_set(key: str | None, value) -> None:
    if key is None:
        return
    try:
        cache.set(key, value, timeout=settings.REC_CACHE_TTL_SECONDS)
    except RedisError:
        logger.warning("recommendation cache unavailable", exc_info=True)
