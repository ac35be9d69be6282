"""Celery tasks of webhooks (queue `celery`; thin: ids in, one service call; docs/webhooks.md)."""

from celery import shared_task
from django.conf import settings


@shared_task(name="webhooks.deliver", bind=True, ignore_result=True, acks_late=True, max_retries=None)
def webhook_deliver_task(self, delivery_id: int) -> None:
    """One attempt; a failure is retried after WEBHOOK_RETRY_BASE_SECONDS * 2**(retry - 1), up to
    WEBHOOK_MAX_ATTEMPTS attempts in all, the last one marking the delivery failed."""
    from apps.webhooks.services import webhook_delivery_attempt

    final = self.request.retries + 1 >= settings.WEBHOOK_MAX_ATTEMPTS
    attempt = webhook_delivery_attempt(delivery_id=delivery_id, final=final)
    if attempt is not None and not attempt.succeeded and not final:
        countdown = settings.WEBHOOK_RETRY_BASE_SECONDS * 2**self.request.retries
        raise self.retry(countdown=countdown, max_retries=settings.WEBHOOK_MAX_ATTEMPTS - 1)


@shared_task(name="webhooks.event_record", ignore_result=True, acks_late=True)
def webhook_event_record_task(organization_id: int, event: str, data: dict) -> None:
    """Deliveries of an event whose sender's transaction rolls back (plan.limit_reached)."""
    from apps.webhooks.services import webhook_event_record

    webhook_event_record(organization_id=organization_id, event=event, data=data)


@shared_task(name="webhooks.deliveries_purge", ignore_result=True)
def webhook_deliveries_purge_task() -> int:
    """Beat, daily: finished deliveries older than WEBHOOK_DELIVERY_RETENTION_DAYS go with their attempts.
    Idempotent: a rerun finds nothing."""
    from apps.webhooks.services import webhook_deliveries_purge

    return webhook_deliveries_purge()
