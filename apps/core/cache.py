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
"""

from __future__ import annotations

import functools

from django.core.cache.backends.redis import RedisCache

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


class FailOpenRedisCache(RedisCache):
    """RedisCache whose calls never raise on a Redis outage (module docstring)."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self.fail_open_target = "redis:" + ",".join(self._servers)

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
