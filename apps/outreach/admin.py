from django.contrib import admin

from apps.outreach.models import Campaign, CampaignMessage, OutreachOptOut


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ["name", "organization", "goal", "status", "members_total", "generated_count", "sent_count"]
    list_filter = ["status", "goal", "tone"]
    search_fields = ["name", "organization__slug", "sender_email"]
    raw_id_fields = ["organization", "created_by"]
    # Generation and sending change these; the API (services) does, not a form.
    readonly_fields = [
        "status", "members_total", "generated_count", "skipped_count", "fallback_count", "sent_count",
        "opted_out_count", "failed_count", "last_error", "generation_started_at", "generated_at", "sent_at",
    ]  # fmt: skip


@admin.register(CampaignMessage)
class CampaignMessageAdmin(admin.ModelAdmin):
    list_display = ["email", "campaign", "status", "composer", "edited", "sent_at", "click_count"]
    list_filter = ["status", "composer", "edited"]
    search_fields = ["email", "subject", "campaign__name"]
    raw_id_fields = ["organization", "campaign", "user"]
    readonly_fields = ["items", "composer", "composer_note", "sent_at", "opened_at", "clicked_at", "click_count"]


@admin.register(OutreachOptOut)
class OutreachOptOutAdmin(admin.ModelAdmin):
    list_display = ["user", "organization", "source", "created_at"]
    list_filter = ["source"]
    search_fields = ["user__email", "organization__slug"]
    raw_id_fields = ["organization", "user"]
