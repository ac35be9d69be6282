"""The Django cache backend (settings CACHES["default"]): Django's RedisCache, failing open.

Every use of the cache in a request is an optimisation or a limit that may lapse for the seconds
of an outage: DRF throttles, the widget's rate limits, the recommendation list cache and its
version counters, the personality profile cache, the graph-kick and personality debounces. With
short client timeouts (REDIS_CLIENT_TIMEOUT) a slow or unreachable Redis costs each call at most
that long, and the call then behaves as if Redis held nothing and accepted nothing:

- reads (get, get_many, has_key) are misses: the caller computes the value;
- writes (set, set_many, touch, delete, delete_many) are skipped;
- add answers False ("not stored"): debounces and claims skip their work, which their periodic
  sweeps do instead (docs/operations.md);
- incr answers `delta`, as for a new counter: a rate limit or throttle counts the request as the
  first of its window, so it is allowed.

After a failure the process leaves that Redis alone for FAIL_OPEN_PAUSE_SECONDS: calls fail
open at once instead of each waiting out the timeout, so a request making ten cache calls during an
outage is slowed by one timeout, not ten. Each failure and each skipped call is counted, failures
are logged at WARNING, rate-limited (apps.core.outages). Errors Redis answers itself
(ResponseError) are bugs and still raise. `clear` is not covered (maintenance).

Django's client builds a new `redis.Redis` for every call (its constructor fills a table of about
170 response callbacks, about 0.1 ms); ours keeps one per connection pool, which redis-py makes
safe to share between threads (connections come from the pool per command). A cached
recommendation list made five such calls: 0.4 ms of a 5 ms request.

The client, and so its connection pool, is shared by every instance of the backend in the process
for the same servers and options. Django keeps cache objects per async context, and under ASGI each
request runs in a context of its own: every request built a new backend, a new pool and a new TCP
connection to Redis (one connect per request, counted in the web server) and dropped it after.
redis-py's pools are thread-safe and start afresh in a forked child.
"""

from __future__ import annotations

import functools
import secrets
import threading

from django.core.cache.backends.redis import RedisCache, RedisCacheClient

from apps.core.outages import outage_note, outage_pause, outage_paused, redis_outage_errors


def _fail_open(fallback):
    """Wrap a RedisCache method: on a Redis outage, or while paused after one, note it and return
    fallback(*args, **kwargs)."""

    def decorate(method):
        @functools.wraps(method)
        def wrapper(self, *args, **kwargs):
            what = f"cache.{method.__name__}"
            if outage_paused(self.fail_open_target):
                outage_note("cache", None, what=what)
                return fallback(*args, **kwargs)
            try:
                return method(self, *args, **kwargs)
            except redis_outage_errors() as exc:
                outage_pause(self.fail_open_target)
                outage_note("cache", exc, what=what)
                return fallback(*args, **kwargs)

        return wrapper

    return decorate


def _default(key, default=None, version=None):
    return default


def _nothing(*args, **kwargs):
    return None


def _false(*args, **kwargs):
    return False


def _no_keys(keys, version=None):
    return {}


def _all_failed(data, timeout=None, version=None):
    return list(data)


def _as_new_counter(key, delta=1, version=None):
    return delta


def _log_unavailable(key, **kwargs):
    return None


def cache_client():
    """The default cache's raw redis-py client (writes), for what Django's cache API cannot say (scripts, SCAN).
    It bypasses the fail-open wrappers: the caller handles `redis_outage_errors()` its own way."""
    from django.core.cache import cache

    return cache._cache.get_client(write=True)


_scripts: dict[str, object] = {}


def cache_script_run(source: str, *, keys: list[str], args: list):
    """Run the Lua script `source` on the default cache's Redis with `cache_client()`, in one round trip: registered
    once per process (redis-py's Script: EVALSHA, the source again after a Redis restart). `keys` are Redis keys
    (`cache.make_and_validate_key`). Raises what the client raises."""
    client = cache_client()
    script = _scripts.get(source)
    if script is None:
        script = _scripts[source] = client.register_script(source)
    return script(keys=keys, args=args, client=client)


# A sliding-log rate limit in one round trip (apps.core.throttling): the bucket is a sorted set of
# its requests' times; times older than the window are dropped, and the request is added only when
# fewer than the limit remain. Atomic, so concurrent requests cannot both take the last slot.
# Answers (allowed, requests in the window, time of the oldest when refused).
RATE_LOG_SCRIPT = """
local now = tonumber(ARGV[1])
local seconds = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - seconds)
local count = redis.call('ZCARD', KEYS[1])
if count >= tonumber(ARGV[3]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, count, oldest[2] or ''}
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], math.ceil(seconds * 1000))
return {1, count + 1, ''}
"""


class SharedClientRedisCacheClient(RedisCacheClient):
    """Django's Redis cache client, keeping one `redis.Redis` per connection pool (module docstring)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            # A race between threads builds two clients of the same pool; either is fine to keep.
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class FailOpenRedisCache(RedisCache):
    """RedisCache whose calls never raise on a Redis outage (module docstring)."""

    #: the process's clients, by servers and options (module docstring)
    _clients: dict[str, SharedClientRedisCacheClient] = {}
    _clients_lock = threading.Lock()

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = SharedClientRedisCacheClient
        self.fail_open_target = "redis:" + ",".join(self._servers)

    @functools.cached_property
    def _cache(self) -> SharedClientRedisCacheClient:
        key = repr((self._servers, sorted(self._options.items())))
        client = self._clients.get(key)
        if client is None:
            with self._clients_lock:
                client = self._clients.get(key)
                if client is None:
                    client = self._clients[key] = self._class(self._servers, **self._options)
        return client

    get = _fail_open(_default)(RedisCache.get)
    get_many = _fail_open(_no_keys)(RedisCache.get_many)
    has_key = _fail_open(_false)(RedisCache.has_key)
    set = _fail_open(_nothing)(RedisCache.set)
    set_many = _fail_open(_all_failed)(RedisCache.set_many)
    touch = _fail_open(_false)(RedisCache.touch)
    delete = _fail_open(_false)(RedisCache.delete)
    delete_many = _fail_open(_nothing)(RedisCache.delete_many)
    add = _fail_open(_false)(RedisCache.add)
    # decr is BaseCache's incr(key, -delta): covered here.
    incr = _fail_open(_as_new_counter)(RedisCache.incr)

    @_fail_open(_log_unavailable)
    def rate_log_add(self, key, *, now: float, seconds: float, limit: int):
        """Add a request at `now` to the rate log `key` unless `limit` requests remain in the last
        `seconds` (RATE_LOG_SCRIPT): (allowed, requests in the window, time of the oldest or None),
        or None when Redis is unavailable (the caller allows: fail open)."""
        client = self._cache.get_client(key, write=True)
        script = self.__dict__.get("_rate_log_script")
        if script is None:
            script = self._rate_log_script = client.register_script(RATE_LOG_SCRIPT)
        # Unique (two requests in one clock tick both count) and short: the score holds the time. A busy bucket holds
        # `limit` of them, about 90 bytes each in Redis (260 KB measured for an API key at 3000/min).
        member = secrets.token_hex(6)
        args = [repr(now), repr(float(seconds)), int(limit), member]
        allowed, count, oldest = script(keys=[self.make_and_validate_key(key)], args=args, client=client)
        return bool(allowed), int(count), float(oldest) if oldest else None


#: keys per SCAN step and per DEL of `cache_keys_delete`
SCAN_DELETE_BATCH = 1000


def cache_keys_delete(prefixes: list[str]) -> int:
    """Delete every cache key that starts with one of `prefixes` (the cache's own key prefix and version added), one
    SCAN of the keyspace per prefix: for a tenant's keys when it is deleted, not for a request path. Returns how many
    went. Raises on an outage."""
    from django.core.cache import cache

    client, deleted = cache_client(), 0
    for prefix in prefixes:
        batch: list = []
        for raw in client.scan_iter(match=cache.make_and_validate_key(prefix) + "*", count=SCAN_DELETE_BATCH):
            batch.append(raw)
            if len(batch) >= SCAN_DELETE_BATCH:
                deleted += client.delete(*batch)
                batch = []
        if batch:
            deleted += client.delete(*batch)
    return deleted
