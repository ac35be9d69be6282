from django.conf import settings
from django.db import transaction
from django.http import Http404, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from apps.core.exceptions import error_body, error_response, request_error
from apps.core.health import health_details_allowed, health_report
from apps.core.middleware import is_api_path, not_found_body


@never_cache
@require_GET
@transaction.non_atomic_requests
def health(request):
    """200 when every required service answers, 503 otherwise. The report (failing checks,
    versions, workers, backlogs, latencies) only for staff or HEALTH_TOKEN; others get the status."""
    healthy, report = health_report()
    if not health_details_allowed(request):
        report = {"status": report["status"]}
    return JsonResponse(report, status=200 if healthy else 503)


@never_cache
@require_GET
@transaction.non_atomic_requests
def health_live(request):
    """Liveness: this process answers requests. No dependency is called (a database outage must not
    get every web container restarted); readiness is /health/ready (the same as /health/)."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
@transaction.non_atomic_requests
def metrics(request):
    """Prometheus exposition (apps.core.metrics) when METRICS_ENABLED, for the same callers as the
    health details: staff, or HEALTH_TOKEN as `Authorization: Bearer` or `X-Health-Token`."""
    if not settings.METRICS_ENABLED:
        raise Http404("Metrics are off (METRICS_ENABLED).")
    if not health_details_allowed(request):
        return HttpResponse(
            "Metrics need a staff user or HEALTH_TOKEN.\n", status=403, content_type="text/plain; charset=utf-8"
        )
    from apps.core.metrics import metrics_text

    body, content_type = metrics_text()
    return HttpResponse(body, content_type=content_type)


# Django's error handlers (config/urls.py), used with DEBUG=False; with DEBUG=True Django shows
# its technical pages instead and apps.core.middleware.ApiErrorEnvelopeMiddleware puts /api/ and
# visitor-API answers in the envelope.


def not_found(request, exception=None):
    if is_api_path(request.path):
        return JsonResponse(not_found_body(request.path), status=404)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def bad_request(request, exception=None):
    """Django-level 400s (e.g. a body over DATA_UPLOAD_MAX_MEMORY_SIZE) in the API's envelope."""
    if is_api_path(request.path):
        error = request_error(exception) if exception is not None else None
        if error is None:
            return JsonResponse(error_body("bad_request", "Bad request."), status=400)
        return error_response(error)
    from django.views.defaults import bad_request as default

    return default(request, exception)


def permission_denied(request, exception=None):
    if is_api_path(request.path):
        message = "You do not have permission to perform this action."
        return JsonResponse(error_body("permission_denied", message), status=403)
    from django.views.defaults import permission_denied as default

    return default(request, exception)


def server_error(request):
    if is_api_path(request.path):
        return JsonResponse(error_body("server_error", "Internal server error; it has been logged."), status=500)
    from django.views.defaults import server_error as default

    return default(request)
