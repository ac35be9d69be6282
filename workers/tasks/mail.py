"""What the e-mail tasks share (apps/core/mail.py): their retries. The tasks live with their app's work:
`mail.invitations` in workers/tasks/organizations.py, `mail.password_reset` in workers/tasks/users.py. Both are routed
to the `mail` queue (CELERY_TASK_ROUTES["mail.*"]), whose worker runs CELERY_MAIL_CONCURRENCY threads: on `ingestion`
a reset waited for an embedding task to free a child, the `celery` queue's single child must stay free for the
5-second graph drain (a 2,000-person invitation is 40 SMTP batches), and `bulk` holds trainings of minutes. Their
arguments are ids or an address, never the message: the worker makes the secret it carries."""

import random

#: a mail server that cannot be reached is tried again after about 30 s, 60 s, ... at most 10 minutes apart,
#: 8 times (about 45 minutes in all); what is still unsent then is logged as lost.
MAIL_RETRIES = 8


def _retry_countdown(retries: int) -> float:
    """Exponential backoff with jitter, so tasks that failed together do not come back together."""
    return min(600, 30 * 2**retries) * random.uniform(0.8, 1.2)


def retry_or_give_up(task, *, left: bool, what: str, **retry) -> bool:
    """For a task whose mail is not all sent (`left`): raise its retry with backoff and jitter, or, past
    MAIL_RETRIES, log that `what` is lost and return False. True when nothing is left."""
    from apps.core.mail import logger

    if not left:
        return True
    if task.request.retries >= MAIL_RETRIES:
        logger.error("mail server unreachable: %s not mailed after %d tries", what, MAIL_RETRIES + 1)
        return False
    raise task.retry(countdown=_retry_countdown(task.request.retries), **retry)
