"""E-mail shared by the apps (invitations, password resets): rendered in the request, delivered by a worker.

`mails_send_on_commit(mails)` publishes the rendered messages to the `mail.send` task (workers/tasks/mail.py) once
the transaction commits, `MAIL_BATCH_SIZE` to a task, each task sending its batch over one connection to the mail
server (`mails_deliver`). The request never waits for the mail server: a sync inviting 2,000 people does not hold
its response for one SMTP conversation each, and a password reset answers in the same time whether the address has
an account or not (sent in the request, the mail server's round trip told which). When the broker cannot take the
task (an outage, apps.core.tasks), the messages are delivered in the request as before rather than lost. A mail
failure never undoes the change that asked for it: it is logged; a connection failure is retried by the task.
"""

from __future__ import annotations

import functools
import logging
import smtplib
from dataclasses import asdict, dataclass

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.template.loader import render_to_string

logger = logging.getLogger(__name__)

#: messages per `mail.send` task (and per connection to the mail server)
MAIL_BATCH_SIZE = 50


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    body: str

    @classmethod
    def render(cls, *, to: str, subject: str, template: str, context: dict) -> Mail:
        return cls(to=to, subject=subject, body=render_to_string(template, context))


def mails_send_on_commit(mails: list[Mail]) -> None:
    """Deliver `mails` through the `mail.send` task once the transaction commits (module docstring)."""
    for start in range(0, len(mails), MAIL_BATCH_SIZE):
        batch = [asdict(mail) for mail in mails[start : start + MAIL_BATCH_SIZE]]
        transaction.on_commit(functools.partial(_publish, batch), robust=True)


def send_mail_on_commit(*, to: str, subject: str, template: str, context: dict) -> None:
    """One message, rendered now and delivered by a worker after commit."""
    mails_send_on_commit([Mail.render(to=to, subject=subject, template=template, context=context)])


def _publish(batch: list[dict]) -> None:
    from apps.core.tasks import enqueue_now
    from workers.tasks.mail import mail_send

    # The messages carry links with secrets (invitation and reset tokens): Flower and the logs show a summary.
    shown = f"[{len(batch)} message(s): {batch[0]['subject']!r}]"
    if not enqueue_now(mail_send, batch, argsrepr=shown):
        not_sent = mails_deliver(batch)
        if not_sent:
            logger.error("mail server unreachable: %d message(s) not sent (%r)", len(not_sent), not_sent[0]["subject"])


def mails_deliver(batch: list[dict]) -> list[dict]:
    """Send `batch` ([{to, subject, body}]) over one connection. Returns the messages not sent because the mail
    server could not be reached, dropped the connection or answered "try again later" (4xx): worth trying again.
    A message the server refuses for good (5xx: a bad recipient, a message it rejects) is logged and dropped."""
    connection = get_connection()
    try:
        connection.open()
    except OSError as exc:  # smtplib.SMTPException included
        logger.warning("cannot reach the mail server: %s: %s", type(exc).__name__, exc)
        return list(batch)
    try:
        for index, mail in enumerate(batch):
            message = EmailMessage(
                mail["subject"], mail["body"], settings.DEFAULT_FROM_EMAIL, [mail["to"]], connection=connection
            )
            try:
                message.send()
            except OSError as exc:  # smtplib's exceptions are OSErrors
                if _refused_for_good(exc):
                    logger.error("the mail server refused %r to %s: %s", mail["subject"], mail["to"], exc)
                    continue
                logger.warning("mail not sent, to be tried again: %s: %s", type(exc).__name__, exc)
                return list(batch[index:])
            except Exception:  # a message Django cannot build (an address it rejects) must not stop the others
                logger.exception("could not send %r to %s", mail["subject"], mail["to"])
    finally:
        try:
            connection.close()
        except OSError:
            pass
    return []


def _refused_for_good(exc: OSError) -> bool:
    """The server answered with a permanent (5xx) refusal; a 4xx answer or a network error is worth retrying."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _message in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code >= 500
    return False
