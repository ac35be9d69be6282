"""Celery tasks of outreach (queue `bulk`: long jobs; thin: ids in, one service call; docs/outreach.md)."""

from celery import shared_task


@shared_task(bind=True, name="outreach.generate", ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def campaign_generate_task(self, organization_id: int, campaign_id: int) -> None:
    """Write every member's message of a campaign. Idempotent (messages upserted on (campaign, user), counts
    restarted), hence acks_late: a lost worker's run is redone, and counts an interruption (the delivery's token
    is still on the campaign). A failure marks the campaign failed."""
    from apps.core.leases import task_lease_token
    from apps.outreach.services import campaign_generate

    campaign_generate(organization_id=organization_id, campaign_id=campaign_id, token=task_lease_token(self.request))


@shared_task(bind=True, name="outreach.send", ignore_result=True)
def campaign_send_task(self, organization_id: int, campaign_id: int) -> None:
    """Send a campaign's ready messages. Not idempotent (mail cannot be unsent): early ack, and each batch is
    claimed in the database before it is sent, so no message goes out twice; a lost run is taken up by the
    recovery sweep (docs/recovery.md)."""
    from apps.core.leases import task_lease_token
    from apps.outreach.services import campaign_send

    campaign_send(organization_id=organization_id, campaign_id=campaign_id, token=task_lease_token(self.request))
