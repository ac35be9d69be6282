"""Throttles: anonymous by IP, users by id, API keys by key. Counters live in Redis (the cache)."""

from rest_framework.throttling import AnonRateThrottle, ScopedRateThrottle, SimpleRateThrottle


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


class ClientIpIdent:
    """DRF identifies anonymous callers by `get_ident`; use client_ip (BEACON_TRUSTED_PROXIES)."""

    def get_ident(self, request):
        return client_ip(request)


class AnonThrottle(ClientIpIdent, AnonRateThrottle):
    scope = "anon"


class UserThrottle(SimpleRateThrottle):
    scope = "user"

    def get_cache_key(self, request, view):
        if not request.user or not request.user.is_authenticated or request_by_api_key(request):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}


class ApiKeyThrottle(SimpleRateThrottle):
    scope = "api_key"

    def get_cache_key(self, request, view):
        if not request_by_api_key(request):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}


class AuthThrottle(ClientIpIdent, ScopedRateThrottle):
    """Stricter per-IP limit on login, registration and password-reset endpoints."""

    scope_attr = "throttle_scope"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
