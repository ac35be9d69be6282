"""One error envelope for every 4xx/5xx: {"error": {"code", "message", "details"}}.

A dependency outage that reaches a DRF view (apps.core.outages.outage_dependency: Redis, the
broker, PostgreSQL, the graph) answers 503 `service_unavailable` with Retry-After; the middleware
apps.core.middleware does the same for other views and for errors raised after the view
(on-commit callbacks)."""

from __future__ import annotations

import logging

from django.core.exceptions import (
    BadRequest,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DatabaseError, IntegrityError, connections
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.views import exception_handler as drf_exception_handler

from apps.core.outages import outage_dependency, outage_note

logger = logging.getLogger(__name__)


class ApplicationError(exceptions.APIException):
    """A business rule was broken (not malformed input): last owner, plan limit, used token..."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "rule_violation"

    def __init__(self, message: str, *, code: str | None = None, status_code: int | None = None, extra=None):
        super().__init__(detail=message, code=code or self.default_code)
        if status_code is not None:
            self.status_code = status_code
        self.extra = extra or {}


class PlanLimitExceeded(ApplicationError):
    status_code = status.HTTP_403_FORBIDDEN
    default_code = "plan_limit_exceeded"


class ServiceUnavailable(ApplicationError):
    """A dependency the request needs (Redis, the broker, PostgreSQL, the graph) is down or too slow:
    503 with Retry-After (OUTAGE_RETRY_AFTER_SECONDS), never a 500."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "service_unavailable"


def service_unavailable(dependency: str) -> ServiceUnavailable:
    from django.conf import settings

    retry_after = settings.OUTAGE_RETRY_AFTER_SECONDS
    return ServiceUnavailable(
        f"A service this request needs is unavailable; try again in {retry_after} s.",
        extra={"retry_after": retry_after, "dependency": dependency},
    )


def _size(size: int) -> str:
    for unit, factor in (("MB", 1024 * 1024), ("KB", 1024)):
        if size >= factor:
            return f"{size / factor:.3g} {unit}"
    return f"{size} bytes"


def request_error(exc) -> ApplicationError | None:
    """Django's own request guards (raised while reading the body or the query string) as API
    errors naming the limit and the setting; None for other exceptions. Used by the DRF handler
    below, by apps.core.middleware for errors outside DRF and by the handler400 view."""
    from django.conf import settings

    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return ApplicationError(
            f"The request body is larger than the {_size(limit)} limit (DATA_UPLOAD_MAX_MEMORY_SIZE).",
            code="request_too_large",
            status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            extra={"limit_bytes": limit},
        )
    if isinstance(exc, TooManyFilesSent):
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FILES
        return ApplicationError(
            f"The request sends more than {limit} files (DATA_UPLOAD_MAX_NUMBER_FILES).",
            code="too_many_files",
            extra={"limit": limit},
        )
    if isinstance(exc, TooManyFieldsSent):
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        return ApplicationError(
            f"The request sends more than {limit} parameters or form fields (DATA_UPLOAD_MAX_NUMBER_FIELDS).",
            code="too_many_fields",
            extra={"limit": limit},
        )
    if isinstance(exc, (SuspiciousOperation, BadRequest)):
        return ApplicationError("Bad request.", code="bad_request")
    return None


#: PostgreSQL's codes for the rules another request's write can make this one break: unique key, reference, exclusion
RACE_SQLSTATES = {"23505", "23503", "23P01"}


def integrity_error(exc: IntegrityError) -> ApplicationError:
    """A write PostgreSQL refused by a rule of the data although the request's own checks passed: the net under
    what the services do not foresee, so that it is never a 500. The transaction is rolled back (nothing of the
    request is kept), the rule is named in `details`, and a warning with the traceback goes to the log, since a
    refusal no check foresaw may be a check missing.

    - A unique key, a reference or an exclusion (RACE_SQLSTATES): another request changed the same data between the
      check and the write (two organizations given one slug at the same moment): 409 `conflict`, send it again. The
      services turn the races they expect into answers of their own (two uploads of one file: a `duplicate`).
    - Another rule (a value a column refuses: NOT NULL, CHECK): 400 `invalid`."""
    cause = exc.__cause__
    diag = getattr(cause, "diag", None)
    rule = getattr(diag, "constraint_name", None) or getattr(diag, "column_name", None) or ""
    race = getattr(cause, "sqlstate", None) in RACE_SQLSTATES
    # A race is expected now and then (a warning); another rule broken means a check is missing (an error).
    logger.log(
        logging.WARNING if race else logging.ERROR,
        "Write refused by a data rule (%s): answered %s",
        rule or type(cause).__name__,
        409 if race else 400,
        exc_info=exc,
    )
    named = f" ({rule})" if rule else ""
    if race:
        return ApplicationError(
            "Another request changed the same data at the same time, and this one now breaks a rule of the data"
            f"{named}. Nothing of it was saved; send it again.",
            code="conflict",
            status_code=status.HTTP_409_CONFLICT,
            extra={"constraint": rule} if rule else {},
        )
    return ApplicationError(
        f"The request's data breaks a rule of the database{named}; nothing of it was saved.",
        code="invalid",
        extra={"constraint": rule} if rule else {},
    )


def error_messages_flatten(detail, prefix: str = "") -> list[str]:
    """A nested DRF ValidationError detail as readable lines: "field: message" (nested:
    "tags[2]: ...", "parent.name: ..."); the envelope's message and bulk rows' `errors` use it."""
    if isinstance(detail, dict):
        out = []
        for key, value in detail.items():
            if isinstance(key, int) or (isinstance(key, str) and key.isdigit()):  # a list position (ListField)
                out += error_messages_flatten(value, f"{prefix}[{key}]")
                continue
            name = key if key != "non_field_errors" else ""
            out += error_messages_flatten(value, f"{prefix}.{name}" if prefix and name else (name or prefix))
        return out
    if isinstance(detail, list):
        out = []
        for index, value in enumerate(detail):
            sub = f"{prefix}[{index}]" if isinstance(value, (dict, list)) else prefix
            out += error_messages_flatten(value, sub)
        return out
    return [f"{prefix}: {detail}" if prefix else str(detail)]


def _first_code(codes) -> str:
    if isinstance(codes, dict):
        codes = next(iter(codes.values()), "invalid")
    if isinstance(codes, list):
        codes = codes[0] if codes else "invalid"
    return _first_code(codes) if isinstance(codes, (dict, list)) else str(codes)


def error_body(code: str, message: str, details=None) -> dict:
    return {"error": {"code": code, "message": message, "details": details if details is not None else {}}}


def error_response(error: ApplicationError):
    """An ApplicationError as a plain Django JSON response, for layers outside DRF."""
    from django.http import JsonResponse

    return JsonResponse(error_body(error.get_codes(), str(error.detail), error.extra), status=error.status_code)


def validation_error_body(detail) -> dict:
    """The envelope of a ValidationError detail: a readable message naming each field, and the
    field errors themselves in `details`."""
    details = detail if isinstance(detail, dict) else {"non_field_errors": detail}
    lines = error_messages_flatten(detail)
    message = "Invalid input. " + "; ".join(lines) if lines else "Invalid input."
    return error_body("invalid", message, details)


def _keep_outer_transaction(exc, context) -> None:
    """DRF marks the request's transaction for rollback on any handled error. A view that opted
    out of ATOMIC_REQUESTS (e.g. chat: no model call inside a transaction) has no transaction of
    its own, so the only atomic block around it belongs to the caller (a test); leave it alone."""
    view = context.get("view")
    if isinstance(exc, DatabaseError) or not getattr(getattr(view, "dispatch", None), "_non_atomic_requests", None):
        return
    for connection in connections.all(initialized_only=True):
        if connection.in_atomic_block and connection.needs_rollback:
            connection.set_rollback(False)


def exception_handler(exc, context):
    original = exc
    dependency = outage_dependency(exc)
    if dependency is not None:
        view = context.get("view")
        outage_note("request", exc, what=f"{type(view).__name__ if view else '-'} ({dependency})")
        exc = service_unavailable(dependency)
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            detail=exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) if str(exc) and "No " not in str(exc) else "Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif (django_error := request_error(exc)) is not None:
        exc = django_error
    elif isinstance(exc, IntegrityError):
        exc = integrity_error(exc)

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    _keep_outer_transaction(original, context)

    if isinstance(exc, exceptions.ValidationError):
        response.data = validation_error_body(exc.detail)
    else:
        detail = exc.detail
        extra = getattr(exc, "extra", {}) or {}
        if isinstance(detail, dict):  # simplejwt: {"detail", "code", "messages"}
            message = str(detail.get("detail", "Request failed."))
            code = str(detail.get("code", "error"))
            extra = {k: v for k, v in detail.items() if k not in ("detail", "code")} | extra
        else:
            message = str(detail)
            code = _first_code(exc.get_codes())
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
            extra = {"retry_after": int(exc.wait + 0.999), **extra}
        if response.status_code in (429, 503) and "retry_after" in extra:
            response["Retry-After"] = str(extra["retry_after"])
        response.data = error_body(code, message, extra)
    return response
