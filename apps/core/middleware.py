"""Dependency outages outside DRF's exception handler answer 503 with Retry-After, not 500.

DRF renders errors raised inside an API view (apps.core.exceptions). Two paths escape it: plain
Django views (the widget's pages, the admin) and everything that runs after the view returned but
before the response leaves, above all on-commit callbacks, which run when ATOMIC_REQUESTS commits
the view's transaction. Django hands an exception from either to `process_exception`; an outage
(apps.core.outages.outage_dependency) becomes a 503: the error envelope under /api/ and for
visitor API calls, a short plain-text page elsewhere. Other exceptions keep Django's 500 path.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse, JsonResponse

from apps.core.exceptions import error_body, service_unavailable
from apps.core.outages import outage_dependency, outage_note


class DependencyOutageMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        dependency = outage_dependency(exception)
        if dependency is None:
            return None
        outage_note("request", exception, what=f"{request.path} ({dependency})")
        error = service_unavailable(dependency)
        wants_json = request.path.startswith("/api/") or "json" in request.headers.get("Accept", "")
        if wants_json:
            response = JsonResponse(error_body(error.default_code, str(error.detail), error.extra), status=503)
        else:
            response = HttpResponse(str(error.detail), status=503, content_type="text/plain; charset=utf-8")
        response["Retry-After"] = str(settings.OUTAGE_RETRY_AFTER_SECONDS)
        return response
