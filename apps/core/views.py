from django.db import transaction
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from apps.core.exceptions import error_body
from apps.core.health import health_details_allowed, health_report


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


def _is_api(request) -> bool:
    """JSON errors for the API and the widget's visitor API (not for its pages or loader script)."""
    path = request.path
    if path.startswith("/widget/"):
        return not (path.endswith(".js") or path.endswith("/frame/") or path.endswith("/preview/"))
    return path.startswith("/api/")


def not_found(request, exception=None):
    if _is_api(request):
        return JsonResponse(error_body("not_found", f"No API endpoint at {request.path}."), status=404)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def bad_request(request, exception=None):
    """Django-level 400s (e.g. a body over DATA_UPLOAD_MAX_MEMORY_SIZE) in the API's envelope."""
    if _is_api(request):
        message = "The request is too large." if "exceeded" in str(exception or "") else "Bad request."
        return JsonResponse(error_body("bad_request", message), status=400)
    from django.views.defaults import bad_request as default

    return default(request, exception)


def server_error(request):
    if _is_api(request):
        return JsonResponse(error_body("server_error", "Internal server error; it has been logged."), status=500)
    from django.views.defaults import server_error as default

    return default(request)
