"""Throttles: anonymous by IP, users by id, API keys by key, and the account endpoints' own buckets.
Counters live in Redis (the cache), which fails open: during a Redis outage every throttle allows.

Rates are read from REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] when a throttle is built (per request),
not when this module is imported, so a rate changed in settings (or a test's `settings`) applies.

Account endpoints (issue 13) use one bucket per purpose, so that traffic of one kind never
exhausts another's: login attempts per client address (`IpThrottle.scoped("login_ip")`) and per
account (`AccountThrottle.scoped("login_account")`), token refresh, verify, logout, registration,
password reset and invitations each per address. A login flood from an office address then costs
that office its logins for a minute, not its token refreshes.

Counting: an atomic sliding log in Redis (`AtomicSlidingLog`), DRF's own rule -- at most `rate`
requests in the last period, Retry-After when the oldest of them leaves it -- in one round trip.
DRF's throttles keep the timestamps in a pickled list that each request reads and writes back
whole: at the API key rate (3000/min) that is up to 27 KB each way, and concurrent requests all
read the same list, so all but one go uncounted (a parallel login guesser got more than the limit).
Here the log is a sorted set that one script trims, counts and appends to.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping

from django.core.exceptions import ImproperlyConfigured
from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle


def client_ip(request) -> str:
    """The client's address: REMOTE_ADDR, or behind BEACON_TRUSTED_PROXIES reverse proxies the
    address that many hops from the right of X-Forwarded-For. The one source of client addresses:
    the throttles here and the widget's per-IP limits."""
    from django.conf import settings

    proxies = settings.TRUSTED_PROXIES
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies and forwarded:
        addresses = [part.strip() for part in forwarded.split(",") if part.strip()]
        if addresses:
            return addresses[-min(proxies, len(addresses))]
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def request_by_api_key(request) -> bool:
    """Whether the caller authenticated with an organization API key. Duck-typed on the
    credential's `is_api_key` marker (organizations' ApiKey sets it): core imports no app."""
    return getattr(request.auth, "is_api_key", False) is True


class AtomicSlidingLog:
    """Counts requests in the cache's atomic sliding log (module docstring) instead of DRF's pickled
    timestamp list: the same rates, keys, refusals and Retry-After. With a cache other than Redis,
    DRF's own counting."""

    def allow_request(self, request, view):
        rate_log_add = getattr(self.cache, "rate_log_add", None)
        if rate_log_add is None:
            return super().allow_request(request, view)
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        # A key of its own: DRF's pickled lists (a string value) may still sit under the bare key after an upgrade.
        counted = rate_log_add(f"{self.key}:log", now=self.now, seconds=self.duration, limit=self.num_requests)
        if counted is None or counted[0]:  # allowed, or Redis unavailable: fail open
            return True
        _allowed, count, oldest = counted
        # DRF's wait(): the oldest request leaves the period, shared by the requests still needed.
        remaining = self.duration - (self.now - oldest) if oldest is not None else self.duration
        available = self.num_requests - count + 1
        self._wait = remaining / available if available > 0 else None
        return False

    def wait(self):
        return self._wait if hasattr(self, "_wait") else super().wait()


class RateFromSettings:
    """The rate of `scope` from the current settings (DRF binds THROTTLE_RATES at import)."""

    def get_rate(self):
        from rest_framework.settings import api_settings

        if not getattr(self, "scope", None):
            raise ImproperlyConfigured(f"{type(self).__name__} has no throttle scope.")
        try:
            return api_settings.DEFAULT_THROTTLE_RATES[self.scope]
        except KeyError as exc:
            raise ImproperlyConfigured(
                f"No rate for the throttle scope {self.scope!r} in REST_FRAMEWORK['DEFAULT_THROTTLE_RATES']."
            ) from exc

    @classmethod
    def scoped(cls, scope: str, **attributes):
        """This throttle counting in its own bucket `scope` (a subclass, as DRF instantiates classes)."""
        return type(f"{cls.__name__}_{scope}", (cls,), {"scope": scope, **attributes})


class ClientIpIdent:
    """DRF identifies anonymous callers by `get_ident`; use client_ip (BEACON_TRUSTED_PROXIES)."""

    def get_ident(self, request):
        return client_ip(request)


class AnonThrottle(AtomicSlidingLog, RateFromSettings, ClientIpIdent, AnonRateThrottle):
    scope = "anon"


class UserThrottle(AtomicSlidingLog, RateFromSettings, SimpleRateThrottle):
    scope = "user"

    def get_cache_key(self, request, view):
        if not request.user or not request.user.is_authenticated or request_by_api_key(request):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}


class ApiKeyThrottle(AtomicSlidingLog, RateFromSettings, SimpleRateThrottle):
    scope = "api_key"

    def get_cache_key(self, request, view):
        if not request_by_api_key(request):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}


class IpThrottle(AtomicSlidingLog, RateFromSettings, ClientIpIdent, SimpleRateThrottle):
    """Every request counted per client address in the bucket `scope`: `IpThrottle.scoped("logout")`."""

    scope = "anon"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


def account_ident(value) -> str | None:
    """A bucket name for the account a request names: the identifier trimmed and case-folded (as
    logins match e-mails case-insensitively), hashed so that no address is stored in Redis. None
    for a missing or non-text identifier (the view's validation refuses those)."""
    if not isinstance(value, str) or not value.strip():
        return None
    return hashlib.sha256(value.strip().casefold().encode("utf-8", "surrogatepass")).hexdigest()[:32]


class AccountThrottle(AtomicSlidingLog, RateFromSettings, SimpleRateThrottle):
    """Every request counted per account identifier (the body's `field`, e.g. the login e-mail),
    whether or not such an account exists: the count, the refusal and its Retry-After are the
    same for a known and an unknown address, so a lockout tells nothing about existence. Built
    with `account=` outside DRF (the admin's login form)."""

    scope = "login_account"
    field = "email"

    def __init__(self, account: str | None = None):
        self.account = account
        super().__init__()

    def get_cache_key(self, request, view):
        account = self.account
        if account is None and view is not None:
            data = request.data
            account = data.get(self.field) if isinstance(data, Mapping) else None
        ident = account_ident(account)
        return None if ident is None else self.cache_format % {"scope": self.scope, "ident": ident}


class PersonThrottle(AtomicSlidingLog, RateFromSettings, SimpleRateThrottle):
    """Every request counted per signed-in user in the bucket `scope` (password change: guesses of
    the current password with a stolen session or access token)."""

    scope = "password_change"

    def get_cache_key(self, request, view):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": user.pk}


def throttle_wait(request, throttles: Iterable[SimpleRateThrottle]) -> int | None:
    """Apply throttles outside a DRF view (the admin's forms), as a view does: each one that
    allows counts the attempt. None when all allow, else the whole seconds to wait (at least 1)."""
    waits = [throttle.wait() for throttle in throttles if not throttle.allow_request(request, None)]
    if not waits:
        return None
    return max([1, *(math.ceil(wait) for wait in waits if wait is not None)])
