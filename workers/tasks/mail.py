"""Celery task: delivering the e-mails services rendered (apps/core/mail.py). On the default `celery` queue."""

from celery import shared_task

#: a mail server that cannot be reached is tried again after 30 s, 60 s, ... up to 10 minutes apart, 8 times
#: (about half an hour in all); what is still unsent then is logged as lost.
MAIL_RETRIES = 8


@shared_task(name="mail.send", bind=True, ignore_result=True, max_retries=MAIL_RETRIES)
def mail_send(self, messages: list[dict]) -> int:
    """Send these rendered messages ([{to, subject, body}]) over one connection; returns how many went out.

    Acknowledged on receipt (not `acks_late`): a worker lost in the middle of a batch loses its rest rather than
    sending the first ones twice; an invitation can be sent again by inviting again, a reset by asking again.
    A message the server refuses is logged and dropped; the ones a lost connection left unsent are retried."""
    from apps.core.mail import logger, mails_deliver

    not_sent = mails_deliver(messages)
    if not_sent:
        if self.request.retries >= MAIL_RETRIES:
            logger.error("mail server unreachable: %d message(s) lost after %d tries", len(not_sent), MAIL_RETRIES + 1)
            return len(messages) - len(not_sent)
        countdown = min(600, 30 * 2**self.request.retries)
        shown = f"[{len(not_sent)} message(s): {not_sent[0]['subject']!r}]"
        raise self.retry(args=[not_sent], countdown=countdown, argsrepr=shown)
    return len(messages)
