"""Celery tasks of organizations (thin: ids in, one service call)."""

from celery import shared_task
from django.conf import settings

from workers.tasks.mail import MAIL_RETRIES, retry_or_give_up

#: invitations per task (and per connection to the mail server)
INVITATIONS_PER_TASK = 50


@shared_task(name="mail.invitations", bind=True, ignore_result=True, max_retries=MAIL_RETRIES)
def invitations_mail_task(self, organization_id: int, invitation_ids: list[int]) -> int:
    """Mail these invitations (the token each message carries is derived from its row: the same at every retry);
    the ones the mail server could not take are retried; revoked, accepted or expired ones are skipped. Acked as
    it starts (not `acks_late`): a worker lost mid-batch leaves its rest to the hourly recovery sweep rather than
    mailing the first ones twice. Returns how many went out."""
    from apps.organizations.services import invitations_mail_send

    sent, unsent = invitations_mail_send(organization_id=organization_id, invitation_ids=invitation_ids)
    retry_or_give_up(self, left=bool(unsent), what=f"{len(unsent)} invitation(s)", args=[organization_id, unsent])
    return sent


@shared_task(name="members.erase_settle", ignore_result=True)
def member_erase_settle_task(organization_id: int, user_id: int) -> bool:
    """An erasure's second pass, MEMBER_ERASE_SETTLE_SECONDS after it (docs/api.md#erasing-a-member): what a write
    already under way at the erasure left of the person goes too, while they are still not a member."""
    from apps.organizations.services import member_erase_settle

    return member_erase_settle(organization_id=organization_id, user_id=user_id)


@shared_task(name="organizations.purge", ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def organization_purge_task(organization_id: int) -> str:
    """Purge a deleted organization's rows, a batch per transaction, for at most ORGANIZATION_PURGE_BUDGET_SECONDS;
    the rest is published as a new task, at once, or after PURGE_BUSY_COUNTDOWN seconds when a row it must delete
    last is in use (docs/api.md#deleting-an-organization). Idempotent: a redelivered or duplicated task finds less or
    nothing. Returns what `organization_purge` said."""
    from apps.core.purge import PURGE_BUSY, PURGE_BUSY_COUNTDOWN, PURGE_MORE
    from apps.organizations.services import organization_purge, organization_purge_continue

    outcome = organization_purge(
        organization_id=organization_id, budget_seconds=settings.ORGANIZATION_PURGE_BUDGET_SECONDS
    )
    if outcome in (PURGE_MORE, PURGE_BUSY):
        organization_purge_continue(
            organization_id=organization_id, countdown=PURGE_BUSY_COUNTDOWN if outcome == PURGE_BUSY else 0
        )
    return outcome
