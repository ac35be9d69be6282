"""E-mail shared by the apps (invitations, password resets)."""

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string

logger = logging.getLogger(__name__)


def send_mail_on_commit(*, to: str, subject: str, template: str, context: dict) -> None:
    """Send after the transaction commits; a mail failure is logged, never loses the row."""
    body = render_to_string(template, context)

    def send():
        try:
            send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [to])
        except Exception:
            logger.exception("could not send %r to %s", subject, to)

    transaction.on_commit(send)
