"""Webhook reads, every queryset scoped to the organization (another organization's ids are 404)."""

from __future__ import annotations

from django.db.models import QuerySet
from rest_framework.exceptions import NotFound

from apps.webhooks.models import WebhookDelivery, WebhookEndpoint


def webhook_list(*, organization) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(organization=organization).order_by("-created_at", "-id")


def webhook_get(*, organization, webhook_id: int) -> WebhookEndpoint:
    endpoint = webhook_list(organization=organization).filter(pk=webhook_id).first()
    if endpoint is None:
        raise NotFound("Webhook not found.")
    return endpoint


def delivery_list(*, endpoint: WebhookEndpoint) -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.objects.filter(organization_id=endpoint.organization_id, endpoint=endpoint).order_by(
        "-created_at", "-id"
    )


def delivery_get(*, endpoint: WebhookEndpoint, delivery_id: int) -> WebhookDelivery:
    delivery = (
        delivery_list(endpoint=endpoint).select_related("endpoint").prefetch_related("attempts").filter(pk=delivery_id)
    ).first()
    if delivery is None:
        raise NotFound("Delivery not found.")
    return delivery
