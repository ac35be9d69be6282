"""Throttle counting (apps.core.throttling.AtomicSlidingLog) on the real Redis behind the cache.

Coverage: exactly `limit` requests of concurrent callers are allowed (the trim, count and append are
one atomic script, where DRF's pickled timestamp list loses concurrent updates); a refused request is
not counted; a request counts for exactly one period after it was made, and Retry-After is the time
until the oldest counted request leaves the period (DRF's rule); each bucket is its own; the log of a
busy bucket holds only the period's requests. The fail-open behaviour during a Redis outage is tested
with the other fail-open paths (test_failsoft.py).
"""

from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
from django.core.cache import cache
from django.db import close_old_connections
from rest_framework.throttling import SimpleRateThrottle

from apps.core.throttling import IpThrottle

START = 1_800_000_000.0


@pytest.fixture
def rate(settings):
    def set_rate(value):
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "logout": value},
        }

    return set_rate


@pytest.fixture
def clock(monkeypatch):
    now = {"t": START}
    monkeypatch.setattr(SimpleRateThrottle, "timer", staticmethod(lambda: now["t"]))
    return now


def request_from(address="198.51.100.7"):
    return SimpleNamespace(META={"REMOTE_ADDR": address})


def attempt(address="198.51.100.7"):
    """(allowed, wait) of one request through a fresh throttle, as DRF builds one per request."""
    throttle = IpThrottle.scoped("logout")()
    allowed = throttle.allow_request(request_from(address), None)
    return allowed, None if allowed else throttle.wait()


def test_concurrent_requests_get_exactly_the_limit(rate):
    """40 requests from 8 threads against 10/min: exactly 10 are allowed."""
    rate("10/min")

    def one(_):
        try:
            return attempt()[0]
        finally:
            close_old_connections()

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(one, range(40)))
    assert outcomes.count(True) == 10


def test_refusals_are_not_counted_and_buckets_are_separate(rate, clock):
    rate("3/min")
    assert [attempt()[0] for _ in range(3)] == [True, True, True]
    refused = [attempt() for _ in range(5)]
    assert [allowed for allowed, _ in refused] == [False] * 5
    assert refused[0][1] == 60.0  # all three made just now: the first leaves the minute in 60 s
    assert attempt("198.51.100.8")[0] is True  # another address, another bucket
    # A minute later the three have left the period, and the five refusals were never counted.
    clock["t"] = START + 60
    assert [attempt()[0] for _ in range(4)] == [True, True, True, False]


def test_each_request_counts_for_one_period(rate, clock):
    """3/min with requests at 0, 20 and 40 s: at 50 s the next waits 10 s (until the one of 0 s leaves
    the minute), at 60 s one is allowed, then at 70 s the next waits until 80 s."""
    rate("3/min")
    for second in (0, 20, 40):
        clock["t"] = START + second
        assert attempt()[0] is True
    clock["t"] = START + 50
    assert attempt() == (False, pytest.approx(10.0))
    clock["t"] = START + 60
    assert attempt()[0] is True
    clock["t"] = START + 70
    assert attempt() == (False, pytest.approx(10.0))


def test_a_busy_bucket_keeps_only_the_periods_requests(rate, clock):
    """The log is trimmed on every request: after 1,000 requests spread over 10 minutes at 200/min,
    the bucket holds the last minute's, not all of them."""
    rate("200/min")
    for n in range(1000):
        clock["t"] = START + n * 0.6
        assert attempt()[0] is True
    key = cache.make_and_validate_key(IpThrottle.scoped("logout")().get_cache_key(request_from(), None) + ":log")
    size = cache._cache.get_client(key).zcard(key)
    assert size == 100  # 0.6 s apart: the requests of the last 60 s


def test_a_list_left_by_drfs_counting_is_no_obstacle(rate):
    """After an upgrade, DRF's pickled timestamp list may still sit under the bucket's bare key: the log has a key
    of its own, so the request is counted, not a 500 (WRONGTYPE)."""
    rate("3/min")
    cache.set(IpThrottle.scoped("logout")().get_cache_key(request_from(), None), [1.0, 2.0], 60)
    assert [attempt()[0] for _ in range(4)] == [True, True, True, False]


def test_a_rate_of_zero_refuses_everything(rate, clock):
    """`0/min` (an operator closing an endpoint): every request refused, Retry-After the whole period."""
    rate("0/min")
    assert [attempt() for _ in range(2)] == [(False, 60.0), (False, 60.0)]
