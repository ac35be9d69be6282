"""Django admin for the engine: training runs (with their learnt weights and validation figures,
and a "train again" action) and the recommendation log (click-through per source). Read-only:
models are written by training, logs by serving and feedback."""

from __future__ import annotations

import uuid

from django.contrib import admin, messages
from django.db.models import Q

from apps.core.admin import LargeTableAdmin
from apps.progress.admin import member_or_item_search
from apps.recommendations.models import RecommendationLog, RecommenderModel


@admin.register(RecommenderModel)
class RecommenderModelAdmin(admin.ModelAdmin):
    list_display = [
        "organization", "version", "status", "dims", "users_count", "items_count", "interactions_count",
        "trained_at", "duration_seconds",
    ]  # fmt: skip
    list_filter = ["status"]
    search_fields = ["organization__name", "organization__slug"]
    list_select_related = ["organization"]
    readonly_fields = [field.name for field in RecommenderModel._meta.fields]
    exclude = ["popular"]
    actions = ["train_again"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.action(description="Train these organizations' engines again (in the background)")
    def train_again(self, request, queryset):
        from apps.core.tasks import enqueue_on_commit
        from workers.tasks.recommendations import recommender_train_task

        organization_ids = sorted(set(queryset.values_list("organization_id", flat=True)))
        for organization_id in organization_ids:
            enqueue_on_commit(recommender_train_task, organization_id)
        self.message_user(request, f"Training enqueued for {len(organization_ids)} organization(s).", messages.SUCCESS)


@admin.register(RecommendationLog)
class RecommendationLogAdmin(LargeTableAdmin):
    """One row per recommended item shown: millions. Newest first by the primary key (created_at order sorted
    every row on each page); created_at sorts once an organization is chosen (an index serves it). No date
    hierarchy: it read the years of every row on each page (MIN/MAX and DISTINCT date_trunc); the created_at
    filter gives the same ranges."""

    list_display = ["created_at", "organization", "user", "item", "position", "source", "reason", "clicked_at",
                    "dismissed_at"]  # fmt: skip
    list_filter = [
        "source", "organization", "created_at", ("clicked_at", admin.EmptyFieldListFilter),
        ("dismissed_at", admin.EmptyFieldListFilter),
    ]  # fmt: skip
    search_fields = ["=request_id"]
    search_help_text = "An e-mail address, an item's external id or exact title, or a request id."
    list_select_related = ["organization", "user", "item"]
    raw_id_fields = ["organization", "user", "item"]
    readonly_fields = [field.name for field in RecommendationLog._meta.fields]
    ordering = ["-id"]

    def get_sortable_by(self, request):
        return ["created_at"] if request.GET.get("organization__id__exact") else []

    def get_search_results(self, request, queryset, search_term):
        try:
            also = Q(request_id=uuid.UUID(search_term.strip()))
        except ValueError:
            also = None
        return member_or_item_search(queryset, search_term, also=also), False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
