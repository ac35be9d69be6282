"""Optional error reporting to Sentry (or a Sentry-compatible server), on when SENTRY_DSN is set.

Called from the settings, so the web, the workers and beat all report: the Django integration
(request errors, with the user id only: send_default_pii stays off) and the Celery integration
(task failures; it also links a task's events to the request that published it). Each event carries
the request id as the `request_id` tag (apps/core/logcontext.py). No DSN: nothing is imported or sent.
"""

from __future__ import annotations


def sentry_init(*, dsn: str, environment: str, release: str, traces_sample_rate: float, transport=None) -> bool:
    """Initialise the SDK when `dsn` is set; returns whether it did. `transport` is for tests."""
    if not dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    options = {"transport": transport} if transport is not None else {}
    sentry_sdk.init(
        dsn=dsn,
        environment=environment or None,
        release=release or None,
        traces_sample_rate=traces_sample_rate,
        send_default_pii=False,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        before_send=_tag_request_id,
        **options,
    )
    return True


def _tag_request_id(event: dict, hint: dict) -> dict:
    from apps.core.logcontext import request_id_current

    request_id = request_id_current()
    if request_id:
        event.setdefault("tags", {})["request_id"] = request_id
    return event
