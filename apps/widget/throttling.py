"""The widget's rate limits as DRF throttle classes: visitor tokens per IP on the session endpoint,
and per visitor, per IP and per organization on a new conversation or message (the buckets,
fixed windows counted in Redis and the 429 are apps/widget/services.py's, settings WIDGET_RATE_*).

A refusal is the widget's own 429 (`throttled`, "Too many messages; try again in N s.", the bucket
as `scope`, Retry-After), raised by the throttle itself rather than DRF's generic message: the first
bucket that refuses ends the check, so later buckets do not count a refused request. Only POST
counts (a CORS preflight never does). The views keep DRF's default throttles in front of these.
"""

from __future__ import annotations

from django.conf import settings
from rest_framework.throttling import BaseThrottle

from apps.core.throttling import ClientIpIdent
from apps.widget import services as widget


class WidgetThrottle(ClientIpIdent, BaseThrottle):
    """Counts POST requests; `count` raises the widget's 429 past a bucket's limit."""

    def allow_request(self, request, view) -> bool:
        if request.method == "POST":
            self.count(request, view)
        return True

    def count(self, request, view) -> None:
        raise NotImplementedError


class SessionIpThrottle(WidgetThrottle):
    """Visitor tokens issued per client address (WIDGET_RATE_TOKEN_IP): protects the token endpoint."""

    def count(self, request, view) -> None:
        widget.rate_limit_hit(key=f"token-ip:{self.get_ident(request)}", rate=settings.WIDGET_RATE_TOKEN_IP)


class VisitorThrottle(WidgetThrottle):
    """Per visitor, per client address and per organization (WIDGET_RATE_VISITOR, _IP, _ORGANIZATION),
    for the authenticated visitor (`request.auth`) of the view's bot."""

    def count(self, request, view) -> None:
        widget.widget_rate_limits(
            visitor=request.auth, ip=self.get_ident(request), organization_id=view.bot.organization_id
        )
