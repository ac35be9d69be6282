"""Celery tasks of organizations (thin: ids in, one service call)."""

from celery import shared_task

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
