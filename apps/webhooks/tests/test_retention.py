"""Webhook deliveries at size: an endpoint's delete takes its deliveries and attempts set-based, and the daily purge
keeps finished deliveries for WEBHOOK_DELIVERY_RETENTION_DAYS (apps/webhooks/services.py).

Coverage: deleting an endpoint removes its deliveries and their attempts in the same number of queries for 2 as
for 250 deliveries, and leaves the other endpoint's; the purge deletes finished (succeeded, failed) deliveries
older than the retention with their attempts, in batches until none is left, and keeps pending ones whatever their
age and recent ones whatever their status; a run stops at its time budget and the next goes on; the beat task
runs it; a second run finds nothing.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.core.tests.orm import query_counts
from apps.webhooks import services
from apps.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from apps.webhooks.services import webhook_delete, webhook_deliveries_purge
from apps.webhooks.tests.factories import WebhookEndpointFactory
from workers.tasks.webhooks import webhook_deliveries_purge_task

pytestmark = pytest.mark.django_db


def deliveries(endpoint, count: int, *, status=WebhookDelivery.Status.SUCCEEDED, days_old: int = 0) -> list[int]:
    made = WebhookDelivery.objects.bulk_create(
        WebhookDelivery(organization=endpoint.organization, endpoint=endpoint, event="document.ready", status=status)
        for _ in range(count)
    )
    ids = [delivery.pk for delivery in made]
    WebhookAttempt.objects.bulk_create(
        WebhookAttempt(delivery_id=pk, number=1, started_at=timezone.now(), status_code=200) for pk in ids
    )
    if days_old:
        WebhookDelivery.objects.filter(pk__in=ids).update(created_at=timezone.now() - timedelta(days=days_old))
    return ids


def test_an_endpoint_goes_with_its_deliveries_in_a_fixed_number_of_queries(organization):
    small, large, kept = (WebhookEndpointFactory(organization=organization) for _ in range(3))
    deliveries(small, 2)
    deliveries(large, 250)
    kept_ids = deliveries(kept, 3)

    counts = query_counts(lambda endpoint: webhook_delete(endpoint=endpoint), small, large)

    assert counts[0] == counts[1], counts
    assert list(WebhookEndpoint.objects.values_list("pk", flat=True)) == [kept.pk]
    assert sorted(WebhookDelivery.objects.values_list("pk", flat=True)) == kept_ids
    assert sorted(WebhookAttempt.objects.values_list("delivery_id", flat=True)) == kept_ids


def test_the_purge_keeps_recent_and_pending_deliveries(organization, other_organization, settings, monkeypatch):
    settings.WEBHOOK_DELIVERY_RETENTION_DAYS = 30
    monkeypatch.setattr(services, "PURGE_BATCH", 4)  # several batches
    endpoint = WebhookEndpointFactory(organization=organization)
    foreign = WebhookEndpointFactory(organization=other_organization)
    old_done = deliveries(endpoint, 6, days_old=31) + deliveries(foreign, 2, days_old=40)
    old_failed = deliveries(endpoint, 3, status=WebhookDelivery.Status.FAILED, days_old=31)
    old_pending = deliveries(endpoint, 2, status=WebhookDelivery.Status.PENDING, days_old=90)
    recent = deliveries(endpoint, 2, days_old=29) + deliveries(endpoint, 1, status=WebhookDelivery.Status.FAILED)

    assert webhook_deliveries_purge() == len(old_done) + len(old_failed)

    left = sorted(old_pending + recent)
    assert sorted(WebhookDelivery.objects.values_list("pk", flat=True)) == left
    assert sorted(WebhookAttempt.objects.values_list("delivery_id", flat=True)) == left
    assert webhook_deliveries_purge_task.apply().get() == 0


def test_the_beat_task_purges(organization, settings):
    settings.WEBHOOK_DELIVERY_RETENTION_DAYS = 7
    endpoint = WebhookEndpointFactory(organization=organization)
    deliveries(endpoint, 3, days_old=8)
    kept = deliveries(endpoint, 1, days_old=6)
    assert webhook_deliveries_purge_task.apply().get() == 3
    assert list(WebhookDelivery.objects.values_list("pk", flat=True)) == kept
    assert settings.CELERY_BEAT_SCHEDULE["webhook-deliveries-purge"]["task"] == webhook_deliveries_purge_task.name


def test_a_purge_run_stops_at_its_time_budget_and_the_next_goes_on(organization, settings, monkeypatch):
    settings.WEBHOOK_DELIVERY_RETENTION_DAYS = 30
    monkeypatch.setattr(services, "PURGE_BATCH", 2)
    monkeypatch.setattr(services, "PURGE_SECONDS", -1)  # spent after the first batch
    endpoint = WebhookEndpointFactory(organization=organization)
    deliveries(endpoint, 5, days_old=31)
    assert [webhook_deliveries_purge() for _ in range(4)] == [2, 2, 1, 0]
    assert not WebhookDelivery.objects.exists() and not WebhookAttempt.objects.exists()
