"""Webhook writes: endpoints (create with a secret shown once, update, delete), deliveries recorded for
an event, one delivery attempt, replay (docs/webhooks.md)."""

from __future__ import annotations

import json
import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from apps.core.exceptions import ApplicationError
from apps.core.purge import delete_in_order
from apps.core.tasks import enqueue_on_commit
from apps.webhooks.addresses import WebhookUrlError, connection_for, webhook_url_resolve
from apps.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from apps.webhooks.signing import SIGNATURE_HEADER, signature_header, webhook_secret_new

logger = logging.getLogger(__name__)

EXCERPT_CHARS = 1000
USER_AGENT = "Beacon-Webhooks/1 (+docs/webhooks.md)"


def webhook_url_check(url: str) -> None:
    """400 naming the reason when the URL may not receive webhooks (apps/webhooks/addresses.py)."""
    try:
        webhook_url_resolve(url)
    except WebhookUrlError as exc:
        raise ApplicationError(str(exc), code="webhook_url_refused") from exc


def webhook_create(*, organization, url: str, events: list[str], description: str = "", created_by=None):
    """A new endpoint and its secret (the only time the secret is returned)."""
    webhook_url_check(url)
    return WebhookEndpoint.objects.create(
        organization=organization,
        url=url,
        events=sorted(set(events)),
        description=description,
        secret=webhook_secret_new(),
        created_by=created_by,
    )


def webhook_update(*, endpoint: WebhookEndpoint, **fields) -> WebhookEndpoint:
    if "url" in fields:
        webhook_url_check(fields["url"])
    if "events" in fields:
        fields["events"] = sorted(set(fields["events"]))
    for name, value in fields.items():
        setattr(endpoint, name, value)
    endpoint.save()
    return endpoint


@transaction.atomic
def webhook_delete(*, endpoint: WebhookEndpoint) -> None:
    """Delete an endpoint with its deliveries and their attempts, set-based: the ORM's cascade loads every
    delivery and deletes 100 a statement (an endpoint of 100,000 deliveries: thousands of queries)."""
    deliveries, attempts = WebhookDelivery._meta.db_table, WebhookAttempt._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {attempts} WHERE delivery_id IN (SELECT id FROM {deliveries} WHERE endpoint_id = %s)",
            [endpoint.pk],
        )
        cursor.execute(f"DELETE FROM {deliveries} WHERE endpoint_id = %s", [endpoint.pk])
    endpoint.delete()


#: deliveries deleted per transaction by the retention purge (short transactions, no long lock on the table)
PURGE_BATCH = 5000
#: one purge run stops after this long; the next day's run goes on (a first run over a long backlog must not hold
#: the light worker's single child, which the 5-second graph drain needs)
PURGE_SECONDS = 60


def webhook_deliveries_purge(*, older_than_days: int | None = None) -> int:
    """Delete the finished deliveries (succeeded or failed) created more than WEBHOOK_DELIVERY_RETENTION_DAYS ago,
    with their attempts, PURGE_BATCH at a time, each batch in its own transaction, for at most PURGE_SECONDS.
    Pending ones stay whatever their age (a retry or a replay is due): the delete checks the status again, so a
    delivery replayed between the batch's read and its delete stays. Returns how many went. Idempotent (beat:
    `webhook-deliveries-purge`)."""
    days = settings.WEBHOOK_DELIVERY_RETENTION_DAYS if older_than_days is None else older_than_days
    cutoff = timezone.now() - timedelta(days=days)
    old = WebhookDelivery.objects.filter(created_at__lt=cutoff).exclude(status=WebhookDelivery.Status.PENDING)
    deliveries, attempts = WebhookDelivery._meta.db_table, WebhookAttempt._meta.db_table
    total, deadline = 0, time.monotonic() + PURGE_SECONDS
    while True:
        with transaction.atomic():
            ids = list(old.order_by("id").values_list("id", flat=True)[:PURGE_BATCH])
            with connection.cursor() as cursor:
                cursor.execute(
                    f"DELETE FROM {deliveries} WHERE id = ANY(%s) AND status <> %s AND created_at < %s RETURNING id",
                    [ids, WebhookDelivery.Status.PENDING, cutoff],
                )
                deleted = [row[0] for row in cursor.fetchall()]
                cursor.execute(f"DELETE FROM {attempts} WHERE delivery_id = ANY(%s)", [deleted])
        total += len(deleted)
        if len(ids) < PURGE_BATCH or time.monotonic() > deadline:
            return total


def _deliver_enqueue(delivery_ids: list[int]) -> None:
    from workers.tasks.webhooks import webhook_deliver_task

    for delivery_id in delivery_ids:
        enqueue_on_commit(webhook_deliver_task, delivery_id)


def webhook_event_record(*, organization_id: int, event: str, data: dict) -> list[int]:
    """One delivery per active endpoint of the organization subscribed to `event`, in the caller's
    transaction; each is sent by a task once it commits (nothing if it rolls back). Returns their ids."""
    endpoints = WebhookEndpoint.objects.filter(
        organization_id=organization_id, is_active=True, events__contains=[event]
    )
    deliveries = WebhookDelivery.objects.bulk_create(
        WebhookDelivery(organization_id=organization_id, endpoint_id=endpoint_id, event=event, payload=data)
        for endpoint_id in endpoints.values_list("pk", flat=True)
    )
    ids = [delivery.pk for delivery in deliveries]
    _deliver_enqueue(ids)
    return ids


def webhook_subscribed(*, organization_id: int, event: str) -> bool:
    return WebhookEndpoint.objects.filter(
        organization_id=organization_id, is_active=True, events__contains=[event]
    ).exists()


def delivery_body(delivery: WebhookDelivery) -> bytes:
    """The request body: the same bytes at every attempt."""
    envelope = {
        "id": str(delivery.event_id),
        "type": delivery.event,
        "created_at": delivery.created_at.isoformat().replace("+00:00", "Z"),
        "organization_id": delivery.organization_id,
        "data": delivery.payload,
    }
    return json.dumps(envelope, separators=(",", ":"), sort_keys=True).encode()


def _post(endpoint: WebhookEndpoint, delivery: WebhookDelivery, body: bytes) -> tuple[int | None, str, str]:
    """(status code, response excerpt, error) of one POST; never raises."""
    try:
        target = webhook_url_resolve(endpoint.url)
    except WebhookUrlError as exc:
        return None, "", str(exc)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Beacon-Event": delivery.event,
        "Beacon-Delivery": str(delivery.pk),
        SIGNATURE_HEADER: signature_header(secret=endpoint.secret, timestamp=int(time.time()), body=body),
    }
    connection = connection_for(target, timeout=settings.WEBHOOK_TIMEOUT_SECONDS)
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        response = connection.getresponse()
        excerpt = response.read(EXCERPT_CHARS * 4).decode("utf-8", errors="replace")[:EXCERPT_CHARS]
        return response.status, excerpt, ""
    except (OSError, ValueError) as exc:  # refused, reset, timeout, TLS, a malformed response
        return None, "", f"{type(exc).__name__}: {exc}"[:1000]
    finally:
        connection.close()


def webhook_delivery_attempt(*, delivery_id: int, final: bool) -> WebhookAttempt | None:
    """POST the delivery once and record the attempt. `final`: no retry follows, so a failure marks the
    delivery failed (else it stays pending). None when there is nothing to do (gone, already
    succeeded, endpoint disabled). The request runs outside any transaction."""
    delivery = WebhookDelivery.objects.select_related("endpoint").filter(pk=delivery_id).first()
    if delivery is None or delivery.status == WebhookDelivery.Status.SUCCEEDED or not delivery.endpoint.is_active:
        return None
    started_at = timezone.now()
    started = time.perf_counter()
    status_code, excerpt, error = _post(delivery.endpoint, delivery, delivery_body(delivery))
    duration_ms = int((time.perf_counter() - started) * 1000)
    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery_id)
        attempt = WebhookAttempt.objects.create(
            delivery=delivery,
            number=delivery.attempt_count + 1,
            started_at=started_at,
            status_code=status_code,
            response_excerpt=excerpt,
            duration_ms=duration_ms,
            error=error,
        )
        delivery.attempt_count = attempt.number
        delivery.last_status_code = status_code
        if attempt.succeeded:
            delivery.status = WebhookDelivery.Status.SUCCEEDED
            delivery.delivered_at = timezone.now()
        elif final:
            delivery.status = WebhookDelivery.Status.FAILED
        delivery.save(update_fields=["attempt_count", "last_status_code", "status", "delivered_at", "updated_at"])
    if not attempt.succeeded:
        logger.warning(
            "webhook delivery %s to endpoint %s: attempt %s failed (%s)",
            delivery.pk, delivery.endpoint_id, attempt.number, status_code or error,
        )  # fmt: skip
    return attempt


def webhook_delivery_replay(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery again (the same body, a fresh signature), with the full number of attempts; its
    earlier attempts stay recorded."""
    if not delivery.endpoint.is_active:
        raise ApplicationError("The endpoint is disabled; enable it before replaying.", code="webhook_disabled")
    delivery.status = WebhookDelivery.Status.PENDING
    delivery.save(update_fields=["status", "updated_at"])
    _deliver_enqueue([delivery.pk])
    return delivery


def organization_webhooks_purge_batch(*, organization_id: int) -> int:
    """A batch of a deleted organization's webhook deliveries (with their attempts), then its endpoints
    (`organization_purging`). Returns how many rows went (0: none left)."""
    return delete_in_order(
        [model.objects.filter(organization_id=organization_id) for model in (WebhookDelivery, WebhookEndpoint)],
        limit=settings.ORGANIZATION_PURGE_BATCH_ROWS,
    )
