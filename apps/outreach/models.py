"""Outreach campaigns, their per-member messages and the members' opt-outs (docs/outreach.md)."""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models

from apps.core.leases import LeasedWorkModel
from apps.core.models import OrganizationOwnedModel


class CampaignGoal(models.TextChoices):
    RESUME_COURSE = "resume_course", "Resume what you started"
    NEW_ITEMS = "new_items", "New items you would like"


class CampaignTone(models.TextChoices):
    FRIENDLY = "friendly", "Friendly"
    FORMAL = "formal", "Formal"
    ENTHUSIASTIC = "enthusiastic", "Enthusiastic"


class Campaign(LeasedWorkModel, OrganizationOwnedModel):
    """A segment (`filters`, docs/outreach.md "Segments"), a goal, a tone and a sender. Counts are written by
    the generation and send tasks after each batch, so a client polls the campaign for progress. While
    `generating` or `sending` the task holds the row's lease (heartbeat after each batch; docs/recovery.md), so a
    campaign whose worker or task was lost is taken up again by the recovery sweep instead of staying there."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        GENERATING = "generating", "Generating"
        READY = "ready", "Ready for review"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    name = models.CharField(max_length=200)
    goal = models.CharField(max_length=32, choices=CampaignGoal.choices, default=CampaignGoal.NEW_ITEMS)
    tone = models.CharField(max_length=16, choices=CampaignTone.choices, default=CampaignTone.FRIENDLY)
    sender_name = models.CharField(max_length=100)
    sender_email = models.EmailField()
    #: {"interests": [...], "progress": [...], "inactive_days": n, "traits": {trait: {"min", "max"}}}
    filters = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    members_total = models.PositiveIntegerField(default=0, help_text="Members in the segment at generation.")
    generated_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0, help_text="Members with nothing to recommend.")
    fallback_count = models.PositiveIntegerField(default=0, help_text="LLM copy rejected; the template wrote it.")
    sent_count = models.PositiveIntegerField(default=0)
    opted_out_count = models.PositiveIntegerField(default=0, help_text="Members who opted out before sending.")
    failed_count = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    generation_started_at = models.DateTimeField(null=True, blank=True)
    generated_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return self.name


class CampaignMessage(OrganizationOwnedModel):
    """One member's e-mail of a campaign. `items` are the catalog items it mentions (checked: each was one of
    the member's candidates); `composer` says who wrote it and `composer_note` why the template did when
    the LLM's copy was rejected."""

    class Status(models.TextChoices):
        READY = "ready", "Ready"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        OPTED_OUT = "opted_out", "Opted out"
        FAILED = "failed", "Failed"

    class Composer(models.TextChoices):
        LLM = "llm", "Language model"
        TEMPLATE = "template", "Template"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="messages")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False)
    email = models.EmailField()
    subject = models.CharField(max_length=300)
    body_text = models.TextField()
    body_html = models.TextField()
    items = ArrayField(models.BigIntegerField(), default=list, blank=True)
    composer = models.CharField(max_length=16, choices=Composer.choices)
    composer_note = models.TextField(blank=True)
    edited = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.READY)
    error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    clicked_at = models.DateTimeField(null=True, blank=True)
    click_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["campaign", "user"], name="outreach_message_unique_user")]
        indexes = [
            models.Index(fields=["campaign", "status", "id"], name="outreach_message_status"),
            models.Index(fields=["organization", "created_at"], name="outreach_message_org_created"),
        ]

    def __str__(self):
        return f"{self.campaign_id} -> {self.email}"


class OutreachOptOut(OrganizationOwnedModel):
    """The member receives no campaign e-mail of this organization (checked at generation and at send)."""

    class Source(models.TextChoices):
        LINK = "link", "Unsubscribe link"
        API = "api", "API"
        ADMIN = "admin", "Admin"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False)
    source = models.CharField(max_length=8, choices=Source.choices)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "outreach opt-out"
        constraints = [models.UniqueConstraint(fields=["organization", "user"], name="outreach_optout_unique_user")]

    def __str__(self):
        return f"{self.user_id} @ {self.organization_id}"
