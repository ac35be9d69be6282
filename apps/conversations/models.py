"""Conversations with a bot and their messages (citations, usage, latency, feedback)."""

from django.conf import settings
from django.db import models

from apps.core.models import OrganizationOwnedModel


class Conversation(OrganizationOwnedModel):
    class Channel(models.TextChoices):
        API = "api", "API"
        WIDGET = "widget", "Widget"

    organization = models.ForeignKey(
        "organizations.Organization", on_delete=models.PROTECT, related_name="conversations", db_index=True
    )
    bot = models.ForeignKey("bots.Bot", on_delete=models.CASCADE, related_name="conversations")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="conversations"
    )
    visitor_id = models.CharField(max_length=100, blank=True, db_index=True)
    channel = models.CharField(max_length=8, choices=Channel.choices, default=Channel.API, db_index=True)
    title = models.CharField(max_length=200, blank=True)
    last_message_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return self.title or f"Conversation {self.pk}"


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user", "User"
        ASSISTANT = "assistant", "Assistant"

    class Status(models.TextChoices):
        OK = "ok", "Answered"
        UNANSWERED = "unanswered", "Unanswered (nothing relevant found)"
        ERROR = "error", "Error (the language model failed)"

    organization = models.ForeignKey("organizations.Organization", on_delete=models.PROTECT, related_name="+")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=10, choices=Role.choices)
    content = models.TextField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OK, db_index=True)
    citations = models.JSONField(default=list, blank=True)
    model = models.CharField(max_length=100, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    latency_ms = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    feedback = models.SmallIntegerField(null=True, blank=True, choices=[(1, "+1"), (-1, "-1")])
    feedback_comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["organization", "role", "created_at"], name="message_usage")]

    def __str__(self):
        return f"{self.role}: {self.content[:50]}"
