"""Per-user cache of served recommendation lists (Django cache = Redis).

Keys carry the organization, an organization version (bumped when a new model is ready), a user
version (bumped by the user's new interactions and progress), the user's graph epoch (bumped when
fresh knowledge-graph candidates arrive from the background) and a hash of the request's filters.
Invalidation is therefore one INCR, never a key scan; stale entries expire by TTL.
A request costs one round trip to Redis (`list_lookup`: one script reads the versions, the list and
counts the hit or miss).

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

from apps.core.cache import cache_client, cache_keys_delete, cache_script_run
from apps.core.outages import outage_note, outage_pause, outage_paused, redis_outage_errors

logger = logging.getLogger(__name__)


def _org_key(organization_id: int) -> str:
    return f"rec:v:o:{organization_id}"


def _user_key(organization_id: int, user_id: int) -> str:
    return f"rec:v:u:{organization_id}:{user_id}"


def _graph_epoch_key(organization_id: int, user_id: int) -> str:
    return f"rec:v:g:{organization_id}:{user_id}"


def _graph_rows_key(organization_id: int, user_id: int) -> str:
    return f"rec:g:{organization_id}:{user_id}"


#: version keys bumped per round trip (`_versions_bump_strict`). A 5,000-event batch of a large organization
#: names about 4,400 users: bumped one by one (Django's incr is EXISTS + INCRBY) that was 8,800 round trips,
#: 0.55-1.0 s of the request after its commit (customer-size drill C). One script call of 1,000 keys runs
#: 2,000 commands, about a millisecond of Redis's time, so other clients never wait long behind a batch.
BUMP_KEYS_PER_ROUND_TRIP = 1000

#: KEYS: the version keys. ARGV[1]: the time in microseconds, the first value of a missing key (new, or
#: evicted): never used before, so no list cached under an older value can match. Then every key +1.
BUMP_SCRIPT = """
for _, key in ipairs(KEYS) do
  redis.call('SET', key, ARGV[1], 'NX')
  redis.call('INCR', key)
end
return #KEYS
"""


def _versions_bump_strict(keys: list[str]) -> None:
    """Bump version keys (BUMP_SCRIPT), one round trip per BUMP_KEYS_PER_ROUND_TRIP keys; raises on an outage.
    A script rather than a pipeline: the same single round trip, a third of the client's time (no command
    built per key)."""
    for start in range(0, len(keys), BUMP_KEYS_PER_ROUND_TRIP):
        chunk = [cache.make_and_validate_key(key) for key in keys[start : start + BUMP_KEYS_PER_ROUND_TRIP]]
        cache_script_run(BUMP_SCRIPT, keys=chunk, args=[time.time_ns() // 1000])


def _versions_bump(keys: list[str]) -> None:
    """`_versions_bump_strict`, failing open as the cache does (apps.core.cache): on an outage, or while paused
    after one, it is noted and skipped (the TTL bounds how long a list stays stale); any other Redis error
    is logged."""
    if not keys:
        return
    if outage_paused(cache.fail_open_target):
        outage_note("cache", None, what="recommendation cache invalidation")
        return
    try:
        _versions_bump_strict(keys)
    except redis_outage_errors() as exc:
        outage_pause(cache.fail_open_target)
        outage_note("cache", exc, what="recommendation cache invalidation")
    except RedisError:
        logger.warning("recommendation cache: could not invalidate %s key(s)", len(keys), exc_info=True)


def _bump(key: str) -> None:
    _versions_bump([key])


def recommendation_cache_invalidate_user(*, organization_id: int, user_id: int) -> None:
    _bump(_user_key(organization_id, user_id))


def recommendation_cache_invalidate_users(*, organization_id: int, user_ids) -> None:
    """Once the current transaction commits (at once outside one), the users' cached lists are stale
    (receivers: new interactions, progress, membership changes)."""
    keys = [_user_key(organization_id, user_id) for user_id in sorted(set(user_ids))]
    transaction.on_commit(lambda: _versions_bump(keys))


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
#: by an older release are never read (2: the personal fit suffix kept apart as `fit_reason`; 3: items carry
#: their catalog `external_id`, issue 18)
LIST_FORMAT = 3


def _version_keys(organization_id: int, user_id: int) -> list[str]:
    """The versions a user's list key carries, in its order: organization, user, graph epoch."""
    return [_org_key(organization_id), _user_key(organization_id, user_id), _graph_epoch_key(organization_id, user_id)]


def list_key(*, organization_id: int, user_id: int, params: dict) -> str | None:
    """The cache key of one user's list for these request parameters (reads the versions); None
    when Redis is unavailable (the list is then computed and not cached)."""
    keys = _version_keys(organization_id, user_id)
    try:
        versions = cache.get_many(keys)
    except RedisError:
        logger.warning("recommendation cache unavailable", exc_info=True)
        return None
    return _list_key(organization_id, user_id, [versions.get(key, 0) for key in keys], params)


def _list_key(organization_id: int, user_id: int, versions: list, params: dict) -> str:
    """The list key from its versions (organization, user, graph epoch; `_version_keys`' order)."""
    org, user, graph = versions
    digest = hashlib.sha1(json.dumps([LIST_FORMAT, params], sort_keys=True, default=str).encode()).hexdigest()[:16]
    return f"rec:l:{organization_id}:{org}:{user_id}:{user}:{graph}:{digest}"


#: One round trip for a served list: the three versions, the list under the key they make, and the hit or
#: miss counted (`list_lookup`). ARGV[1] is the full list key with @O@, @U@ and @G@ in place of the versions.
LOOKUP_SCRIPT = """
local key = ARGV[1]
key = string.gsub(key, '@O@', redis.call('GET', KEYS[1]) or '0')
key = string.gsub(key, '@U@', redis.call('GET', KEYS[2]) or '0')
key = string.gsub(key, '@G@', redis.call('GET', KEYS[3]) or '0')
local value = redis.call('GET', key)
if value then redis.call('INCR', KEYS[4]) else redis.call('INCR', KEYS[5]) end
redis.call('SET', KEYS[6], ARGV[2], 'NX')
return {key, value}
"""


def list_lookup(*, organization_id: int, user_id: int, params: dict) -> tuple[str | None, object]:
    """(the cache key of the user's list for these parameters, the cached list or None), counting the hit or
    miss for `cache_stats`, in one round trip; (None, None) when Redis is unavailable (the list is then
    computed and not cached). Same keys and values as `list_key`, `list_set` and Django's cache."""
    if outage_paused(cache.fail_open_target):
        return None, None
    template = cache.make_and_validate_key(_list_key(organization_id, user_id, ["@O@", "@U@", "@G@"], params))
    counters = [_stats_key(organization_id, name) for name in ("hits", "misses", "since")]
    keys = [cache.make_and_validate_key(key) for key in _version_keys(organization_id, user_id) + counters]
    try:
        key, value = cache_script_run(LOOKUP_SCRIPT, keys=keys, args=[template, int(time.time())])
    except redis_outage_errors() as exc:
        outage_pause(cache.fail_open_target)
        outage_note("cache", exc, what="recommendation cache lookup")
        return None, None
    key = key.decode() if isinstance(key, bytes) else key
    # Back from Redis' full key to Django's (list_set makes it full again): the prefix is the template's.
    prefix = template[: template.index("rec:l:")]
    return key[len(prefix) :], None if value is None else cache._cache._serializer.loads(value)


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


def list_set(key: str | None, value) -> None:
    if key is None:
        return
    try:
        cache.set(key, value, timeout=settings.REC_CACHE_TTL_SECONDS)
    except RedisError:
        logger.warning("recommendation cache unavailable", exc_info=True)


# --------------------------------------------------------------------------- management (issue 18)
#
# Hit and miss counters are counted by `list_lookup`'s script on the raw client, failing open like the
# rest of this module. Stats count the organization's list keys with a
# SCAN bounded by REC_CACHE_STATS_MAX_SCAN keys examined (never KEYS: it blocks Redis at scale), and
# estimate their memory from MEMORY USAGE of a small sample. Management calls (stats, clear) raise
# the Redis outage errors instead of failing open: the API answers 503 rather than a made-up figure
# or a clear that did not happen.

STATS_SAMPLE = 20
SCAN_BATCH = 1000


def _stats_key(organization_id: int, what: str) -> str:
    return f"rec:s:{organization_id}:{what}"


def _bump_strict(key: str) -> None:
    """`_bump` without failing open, in one round trip."""
    _versions_bump_strict([key])


def cache_clear(*, organization_id: int, user_id: int | None = None) -> None:
    """Make the cached lists of one user (or of the whole organization) unreachable at once; the
    entries expire by REC_CACHE_TTL_SECONDS. One version bump, no key scan. Raises on an outage."""
    if user_id is None:
        _bump_strict(_org_key(organization_id))
    else:
        _bump_strict(_user_key(organization_id, user_id))


def cache_stats(*, organization_id: int) -> dict:
    """The organization's cached lists and counters (module section above). Raises on an outage."""
    client = cache_client()
    prefix = cache.make_and_validate_key(f"rec:l:{organization_id}:")
    current = str(cache.get(_org_key(organization_id), 0))
    keys = current_keys = examined = 0
    users: set[str] = set()
    sample: list = []
    cursor, complete = 0, True
    while True:
        cursor, batch = client.scan(cursor, match=f"{prefix}*", count=SCAN_BATCH)
        examined += SCAN_BATCH
        for raw in batch:
            # rec:l:<org>:<org version>:<user>:<user version>:<graph epoch>:<digest> after the prefix
            parts = (raw.decode() if isinstance(raw, bytes) else raw)[len(prefix) :].split(":")
            keys += 1
            if parts[0] == current:
                current_keys += 1
                users.add(parts[1])
            if len(sample) < STATS_SAMPLE:
                sample.append(raw)
        if cursor == 0:
            break
        if examined >= settings.REC_CACHE_STATS_MAX_SCAN:
            complete = False
            break
    memory = None
    if sample:
        pipe = client.pipeline(transaction=False)
        for raw in sample:
            pipe.memory_usage(raw)
        sizes = [size for size in pipe.execute() if size is not None]
        memory = round(sum(sizes) / len(sizes) * keys) if sizes else 0
    counters = cache.get_many([_stats_key(organization_id, name) for name in ("hits", "misses", "since")])
    hits = int(counters.get(_stats_key(organization_id, "hits"), 0))
    misses = int(counters.get(_stats_key(organization_id, "misses"), 0))
    since = counters.get(_stats_key(organization_id, "since"))
    return {
        "keys": keys,
        "current_keys": current_keys,
        "users": len(users),
        "complete": complete,
        "memory_bytes": memory,
        "hits": hits,
        "misses": misses,
        "hit_rate": round(hits / (hits + misses), 4) if hits + misses else None,
        "counting_since": since,
        "organization_version": int(current),
    }


#: how long a "training queued" mark lives when no worker ever starts the run (a lost task must not
#: show "queued" forever; the hourly stale-model sweep trains anyway)
TRAIN_QUEUED_TTL_SECONDS = 6 * 3600


def _train_queued_key(organization_id: int) -> str:
    return f"rec:t:q:{organization_id}"


def training_queued_get(*, organization_id: int) -> dict | None:
    """The organization's "training queued" mark: {"at": epoch seconds, "after_version": the latest
    version when it was queued}; a run with a higher version has started since. Raises on an outage."""
    value = cache_client().get(cache.make_and_validate_key(_train_queued_key(organization_id)))
    return json.loads(value) if value else None


def training_queued_claim(*, organization_id: int, after_version: int) -> bool:
    """Mark a training queued unless a mark for a run not yet started exists (True: the caller
    enqueues). A mark left by an older run (a newer version started since) is replaced. Two racing
    callers may both win when a stale mark is replaced: the training task is idempotent and the
    organization's advisory lock makes the second run wait its turn or return at once."""
    raw = cache.make_and_validate_key(_train_queued_key(organization_id))
    value = json.dumps({"at": time.time(), "after_version": after_version})
    client = cache_client()
    if client.set(raw, value, nx=True, ex=TRAIN_QUEUED_TTL_SECONDS):
        return True
    existing = training_queued_get(organization_id=organization_id)
    if existing is not None and existing["after_version"] >= after_version:
        return False
    client.set(raw, value, ex=TRAIN_QUEUED_TTL_SECONDS)
    return True


def training_queued_release(*, organization_id: int) -> None:
    cache_client().delete(cache.make_and_validate_key(_train_queued_key(organization_id)))


def organization_forget(*, organization_id: int) -> int:
    """Delete every key the engine keeps for the organization (its lists, version keys, graph rows, counters, training
    mark): the organization is being deleted, nothing of it may stay behind. One SCAN of the keyspace per kind of key.
    Returns how many keys went. Raises on an outage."""
    singles = [cache.make_and_validate_key(_org_key(organization_id))]
    singles.append(cache.make_and_validate_key(_train_queued_key(organization_id)))
    return cache_client().delete(*singles) + cache_keys_delete(
        [f"rec:{kind}:{organization_id}:" for kind in ("l", "v:u", "v:g", "g", "s")]
    )
