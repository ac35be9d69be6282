"""Three middlewares: every /api/ and /widget/ answer in the error envelope, dependency outages
outside DRF as 503s, and the request id of logs and tasks (RequestIdMiddleware, at the end).

ApiErrorEnvelopeMiddleware (issue 13): DRF renders its own errors in the envelope
(apps.core.exceptions), but other layers answer too: URL resolution (unknown paths, non-integer
ids), Django's request guards (a body over DATA_UPLOAD_MAX_MEMORY_SIZE, too many files or
fields), CSRF, and with DEBUG=True Django's technical 404/500 pages, which ignore handler404 and
handler500. Under /api/ and for the widget's visitor API it
- checks query parameters for NUL characters and lone surrogates (apps.core.parsers, the same
  check as JSON and form bodies) before any view runs: a 400 naming the parameter;
- answers a POST/PUT/PATCH/DELETE to a path missing its trailing slash with a 404 saying so
  (CommonMiddleware would redirect, losing the body, or raise a 500 with DEBUG on);
- turns Django's request guards raised in a view into 413/400 naming the limit;
- replaces any other error answer that is not JSON by the envelope for its status (the
  technical pages are still logged by Django before they reach it).
The widget's pages and loader script are HTML/JavaScript by design and are left alone.

Dependency outages outside DRF's exception handler answer 503 with Retry-After, not 500.

DRF renders errors raised inside an API view (apps.core.exceptions). Two paths escape it: plain
Django views (the widget's pages, the admin) and everything that runs after the view returned but
before the response leaves, above all on-commit callbacks, which run when ATOMIC_REQUESTS commits
the view's transaction. Django hands an exception from either to `process_exception`; an outage
(apps.core.outages.outage_dependency) becomes a 503: the error envelope under /api/ and for
visitor API calls, a short plain-text page elsewhere. Other exceptions keep Django's 500 path.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.db import IntegrityError
from django.http import HttpResponse, JsonResponse
from django.urls import is_valid_path

from apps.core.exceptions import (
    error_body,
    error_response,
    integrity_error,
    request_error,
    service_unavailable,
    validation_error_body,
)
from apps.core.logcontext import HEADER as REQUEST_ID_HEADER
from apps.core.logcontext import request_id_accept, request_id_set
from apps.core.outages import outage_dependency, outage_note
from apps.core.parsers import safe_text, string_problem

# Headers of a replaced answer that describe its body; the others (Allow, Retry-After, CORS,
# security headers, cookies) are kept.
_BODY_HEADERS = {"content-type", "content-length", "content-disposition", "content-encoding", "content-language"}
_STATUS_CODES = {
    400: ("bad_request", "Bad request."),
    401: ("not_authenticated", "Authentication credentials were not provided."),
    403: ("permission_denied", "You do not have permission to perform this action."),
    405: ("method_not_allowed", "Method {method} is not allowed at {path}."),
    413: ("request_too_large", "The request is too large."),
    500: ("server_error", "Internal server error; it has been logged."),
}


def is_api_path(path: str) -> bool:
    """JSON errors for the API and the widget's visitor API (not for its pages or loader script)."""
    if path.startswith("/widget/"):
        return not (path.endswith(".js") or path.endswith("/frame/") or path.endswith("/preview/"))
    return path.startswith("/api/")


def not_found_body(path: str) -> dict:
    return error_body("not_found", f"No API endpoint at {path}.")


def query_errors(request) -> dict:
    """Field errors for query parameters (names or values) holding a NUL or a lone surrogate."""
    errors: dict = {}
    for key, values in request.GET.lists():
        problem = string_problem(key)
        if problem:
            errors.setdefault(safe_text(key), []).append(f"The parameter name: {problem}")
            continue
        for value in values:
            problem = string_problem(value)
            if problem:
                errors.setdefault(key, []).append(problem)
                break
    return errors


def _needs_slash(request) -> bool:
    path = request.path_info
    if not settings.APPEND_SLASH or path.endswith("/"):
        return False
    urlconf = getattr(request, "urlconf", None)
    return not is_valid_path(path, urlconf) and bool(is_valid_path(f"{path}/", urlconf))


def _in_envelope(response) -> bool:
    """JSON already, or a DRF answer whose data is the envelope (rendered as HTML by the browsable
    API in development when a browser asks for it: content negotiation, kept)."""
    if response.get("Content-Type", "").startswith("application/json"):
        return True
    data = getattr(response, "data", None)
    return isinstance(data, dict) and set(data) == {"error"}


def _envelope(request, response):
    """The envelope for an error answer produced outside DRF, keeping the non-body headers."""
    if response.status_code == 404:
        body = not_found_body(request.path)
    else:
        code, message = _STATUS_CODES.get(response.status_code, ("error", response.reason_phrase + "."))
        body = error_body(code, message.format(method=request.method, path=request.path))
    replacement = JsonResponse(body, status=response.status_code)
    for name, value in response.items():
        if name.lower() not in _BODY_HEADERS:
            replacement[name] = value
    replacement.cookies = response.cookies
    return replacement


class ApiErrorEnvelopeMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not is_api_path(request.path):
            return self.get_response(request)
        try:
            errors = query_errors(request)
        except SuspiciousOperation as exc:  # more than DATA_UPLOAD_MAX_NUMBER_FIELDS parameters
            return error_response(request_error(exc))
        if errors:
            return JsonResponse(validation_error_body(errors), status=400)
        if request.method not in ("GET", "HEAD") and _needs_slash(request):
            # CommonMiddleware would redirect (the body lost) or, with DEBUG on, raise a 500.
            message = f"No API endpoint at {request.path}; did you mean {request.path}/ (with the trailing slash)?"
            return JsonResponse(error_body("not_found", message), status=404)
        response = self.get_response(request)
        if response.status_code >= 400 and not _in_envelope(response):
            response = _envelope(request, response)
        return response

    def process_exception(self, request, exception):
        if not is_api_path(request.path):
            return None
        if isinstance(exception, IntegrityError):
            # Raised at COMMIT, after the view (ATOMIC_REQUESTS): a deferred rule, as Django makes every foreign key
            # (a row the request references deleted meanwhile). The same answer as during the view.
            return error_response(integrity_error(exception))
        error = request_error(exception)
        return error_response(error) if error is not None else None


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


class RequestIdMiddleware:
    """First in the chain (issue 16): the request's id, a sane incoming X-Request-ID or a new one
    (apps.core.logcontext), is set for every log line and task published while the request runs,
    and returned as the X-Request-ID header. It is cleared when the response is closed
    (`request_finished`, after Django logged the answer and after a stream's last event;
    apps.core.logcontext.signals_connect)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = request_id_accept(request.headers.get(REQUEST_ID_HEADER))
        request_id_set(request_id)
        request.request_id = request_id
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        return response
