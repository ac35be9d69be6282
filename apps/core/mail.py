"""E-mail shared by the apps (invitations, password resets): made and delivered by a worker, never in the request.

A service that sends mail publishes a task with ids or an address (`mail.invitations` on commit,
`mail.password_reset` at once; workers/tasks/mail.py, on the `mail` queue and its own worker); the task
calls the app's service, which makes the secret the message carries (an invitation token derived from the row and
the SECRET_KEY, a reset token), renders it and delivers it with `mails_deliver`. So the request never waits for the
mail server (a sync inviting 2,000 people does not hold its response for 2,000 SMTP conversations), a password
reset does the same work in the request whether the address has an account or not (its response time tells
nothing), and no secret travels through the broker or lies in Redis. When the broker cannot take the task, an
invitation waits for the hourly recovery sweep (`invitations_mail_recover`: pending and not yet mailed) and a
reset answers 503 (nothing was written; the person asks again). A mail failure never undoes the change that asked
for it: it is logged; what the server could not take now is retried by the task.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
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


def mails_deliver(mails: list[Mail], *, still_wanted: Callable[[int], bool] | None = None) -> list[int]:
    """Send `mails` over one connection. Returns the positions of those not sent because the mail server could not
    be reached, dropped the connection, refused the sender or answered "try again later" (4xx): worth trying
    again. A message the server refuses for good (5xx for its recipient or its content) is logged and dropped.
    `still_wanted(position)`, when given, is asked right before each message goes (False: skipped)."""
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
            if still_wanted is not None and not still_wanted(index):
                continue
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
    """The server answered with a permanent (5xx) refusal of this message; a 4xx answer, a network error or a
    refusal of the sender or of the session (authentication, relaying: every message would meet it) is worth
    retrying with the rest of the batch."""
    import smtplib

    if isinstance(exc, (smtplib.SMTPSenderRefused, smtplib.SMTPAuthenticationError, smtplib.SMTPHeloError)):
        return False
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _message in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code >= 500
    return False
