"""E-mail shared by the apps (invitations, password resets): made and delivered by a worker, never in the request.

A service that sends mail publishes a task with ids or an address on commit (`mail_enqueue_on_commit`); the task
(workers/tasks/mail.py: `mail.invitations`, `mail.password_reset`, served first on the `ingestion` queue) calls
the app's service, which mints the secret the message carries (an invitation token, a reset token), renders it and
delivers it with `mails_deliver`. So the request never waits for the mail server (a sync inviting 2,000 people
does not hold its response for 2,000 SMTP conversations), a password reset does the same work in the request
whether the address has an account or not (its response time tells nothing), and no secret travels through the
broker or lies in Redis. When the broker cannot take the task (an outage, apps.core.tasks), the service runs in the
request instead, as before, rather than losing the mail. A mail failure never undoes the change that asked for
it: it is logged; what the server could not take now is retried by the task.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.template.loader import render_to_string

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    body: str

    @classmethod
    def render(cls, *, to: str, subject: str, template: str, context: dict) -> Mail:
        return cls(to=to, subject=subject, body=render_to_string(template, context))


def mail_enqueue_on_commit(task, *args, fallback: Callable[[], object]) -> None:
    """Publish `task(*args)` once the transaction commits; when the broker cannot take it, run `fallback` (the
    task's service, one attempt) in the request instead of losing the mail."""
    from apps.core.tasks import enqueue_now

    def publish():
        if not enqueue_now(task, *args):
            fallback()

    transaction.on_commit(publish, robust=True)


def mails_deliver(mails: list[Mail]) -> list[int]:
    """Send `mails` over one connection. Returns the positions of those not sent because the mail server could not
    be reached, dropped the connection or answered "try again later" (4xx): worth trying again. A message the
    server refuses for good (5xx: a bad recipient, a message it rejects) is logged and dropped."""
    if not mails:
        return []
    connection = get_connection()
    try:
        connection.open()
    except OSError as exc:  # smtplib.SMTPException included
        logger.warning("cannot reach the mail server: %s: %s", type(exc).__name__, exc)
        return list(range(len(mails)))
    try:
        for index, mail in enumerate(mails):
            message = EmailMessage(
                mail.subject, mail.body, settings.DEFAULT_FROM_EMAIL, [mail.to], connection=connection
            )
            try:
                message.send()
            except OSError as exc:  # smtplib's exceptions are OSErrors
                if _refused_for_good(exc):
                    logger.error("the mail server refused %r to %s: %s", mail.subject, mail.to, exc)
                    continue
                logger.warning("mail not sent, to be tried again: %s: %s", type(exc).__name__, exc)
                return list(range(index, len(mails)))
            except Exception:  # a message Django cannot build (an address it rejects) must not stop the others
                logger.exception("could not send %r to %s", mail.subject, mail.to)
    finally:
        try:
            connection.close()
        except OSError:
            pass
    return []


def _refused_for_good(exc: OSError) -> bool:
    """The server answered with a permanent (5xx) refusal; a 4xx answer or a network error is worth retrying."""
    import smtplib

    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _message in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code >= 500
    return False
