"""Webhook endpoints of an organization, the deliveries of events to them, and every attempt
(docs/webhooks.md)."""

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models

from apps.core.models import OrganizationOwnedModel


class WebhookEvent(models.TextChoices):
    DOCUMENT_READY = "document.ready", "A document finished processing and is searchable"
    DOCUMENT_FAILED = "document.failed", "A document failed to process"
    CONVERSATION_FEEDBACK = "conversation.feedback", "Someone rated an answer"
    PLAN_LIMIT_REACHED = "plan.limit_reached", "A plan limit refused something"
    # Declared for website sources (issue 17 item 1): the sources app sends it when a crawl ends.
    CRAWL_FINISHED = "crawl.finished", "A website crawl finished"


class WebhookEndpoint(OrganizationOwnedModel):
    url = models.URLField(max_length=1000)
    description = models.CharField(max_length=200, blank=True)
    events = ArrayField(models.CharField(max_length=40, choices=WebhookEvent.choices))
    # The HMAC-SHA256 key of the signatures; shown once when the endpoint is created.
    secret = models.CharField(max_length=64)
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return self.url


class WebhookDelivery(OrganizationOwnedModel):
    """One event for one endpoint; its body is the same at every attempt and replay (only the signature's
    timestamp changes)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=40, choices=WebhookEvent.choices)
    event_id = models.UUIDField(default=uuid.uuid4, editable=False)
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempt_count = models.PositiveSmallIntegerField(default=0)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [models.Index(fields=["endpoint", "-created_at"], name="webhook_delivery_endpoint")]

    def __str__(self):
        return f"{self.event} -> {self.endpoint_id}"


class WebhookAttempt(models.Model):
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveSmallIntegerField()
    started_at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_excerpt = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["delivery_id", "number"]

    def __str__(self):
        return f"{self.delivery_id}#{self.number}"

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300
