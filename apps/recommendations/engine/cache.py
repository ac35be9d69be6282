"""Per-user cache of served recommendation lists (Django cache = Redis).

Keys carry the organization, an organization version (bumped when a new model is ready), a user
version (bumped by the user's new interactions and progress) and a hash of the request's
filters. Invalidation is therefore one INCR, never a key scan; stale entries expire by TTL.
A hit costs one MGET (both versions) and one GET.
"""

from __future__ import annotations

import hashlib
import json

from django.conf import settings
from django.core.cache import cache


def _org_key(organization_id: int) -> str:
    return f"rec:v:o:{organization_id}"


def _user_key(organization_id: int, user_id: int) -> str:
    return f"rec:v:u:{organization_id}:{user_id}"


def _bump(key: str) -> None:
    try:
        cache.incr(key)
    except ValueError:  # not there yet (or expired): any new value changes the derived keys
        cache.set(key, 1, timeout=None)


def recommendation_cache_invalidate_user(*, organization_id: int, user_id: int) -> None:
    _bump(_user_key(organization_id, user_id))


def recommendation_cache_invalidate_users(*, organization_id: int, user_ids) -> None:
    for user_id in set(user_ids):
        _bump(_user_key(organization_id, user_id))


def recommendation_cache_invalidate_organization(*, organization_id: int) -> None:
    _bump(_org_key(organization_id))


def list_key(*, organization_id: int, user_id: int, params: dict) -> str:
    """The cache key of one user's list for these request parameters (reads both versions)."""
    org_key, user_key = _org_key(organization_id), _user_key(organization_id, user_id)
    versions = cache.get_many([org_key, user_key])
    digest = hashlib.sha1(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return f"rec:l:{organization_id}:{versions.get(org_key, 0)}:{user_id}:{versions.get(user_key, 0)}:{digest}"


def list_get(key: str):
    return cache.get(key)


def list_set(key: str, value) -> None:
    cache.set(key, value, timeout=settings.REC_CACHE_TTL_SECONDS)
