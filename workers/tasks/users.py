"""Celery tasks of users (thin: one service call)."""

from celery import shared_task

from workers.tasks.mail import MAIL_RETRIES, retry_or_give_up


@shared_task(name="mail.password_reset", bind=True, ignore_result=True, max_retries=MAIL_RETRIES)
def password_reset_mail_task(self, email: str) -> bool:
    """Mail a reset link if an active account has this address (nothing otherwise); retried while the mail server
    cannot take it. Returns whether a message went out."""
    from apps.users.services import password_reset_mail_send

    outcome = password_reset_mail_send(email=email)
    retry_or_give_up(self, left=outcome is None, what="a password reset")
    return bool(outcome)
