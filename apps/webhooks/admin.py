from django.contrib import admin
from django.db import models

from apps.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ["url", "organization", "is_active", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["url", "description", "organization__slug"]
    exclude = ["secret"]
    raw_id_fields = ["organization", "created_by"]
    # Endpoints are https (docs/webhooks.md): a URL typed without a scheme means https (also Django 6's default).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    readonly_fields = ["number", "started_at", "status_code", "duration_ms", "response_excerpt", "error"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["event", "endpoint", "status", "attempt_count", "last_status_code", "created_at"]
    list_filter = ["status", "event"]
    search_fields = ["endpoint__url", "event"]
    readonly_fields = ["organization", "endpoint", "event", "event_id", "payload", "attempt_count", "last_status_code"]
    inlines = [WebhookAttemptInline]
