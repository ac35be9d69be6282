"""Admin of the catalog, progress and interactions. Writes go through the services (content hash,
embeddings, cycle checks); progress and interactions are read-only here (they are history)."""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db import models

from apps.core.admin import ServiceDeleteAdmin
from apps.progress import services
from apps.progress.models import ContentEmbedding, ContentItem, ContentPrerequisite, Interaction, Progress
from apps.progress.services.catalog import EDITABLE


class PrerequisiteInline(admin.TabularInline):
    model = ContentPrerequisite
    fk_name = "item"
    fields = ["prerequisite"]
    raw_id_fields = ["prerequisite"]
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False  # through the API (cycle checks)


@admin.register(ContentItem)
class ContentItemAdmin(ServiceDeleteAdmin):
    list_display = ["title", "kind", "organization", "external_id", "parent", "position", "difficulty", "active"]
    list_filter = ["kind", "active", "difficulty", "organization"]
    search_fields = ["title", "description", "external_id"]
    list_select_related = ["organization", "parent"]
    raw_id_fields = ["parent"]
    readonly_fields = ["organization", "content_hash", "created_at", "updated_at"]
    inlines = [PrerequisiteInline]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    actions = ["embed"]

    def has_add_permission(self, request):
        return False  # items come through the API or the bulk upsert (organization, hashes, embeddings)

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data[name] for name in form.changed_data if name in EDITABLE}
        if "parent" in form.changed_data:
            data["parent"] = obj.parent_id
        fresh = ContentItem.objects.get(pk=obj.pk)
        services.content_update(item=fresh, data=data)

    def delete_model(self, request, obj):
        # Single and bulk (ServiceDeleteAdmin): the graph outbox learns of it; a parent with children is
        # refused (its PROTECT foreign key already lists them on the confirmation page, the 409 rule).
        services.content_delete(item=obj)

    @admin.action(description="Compute missing or stale embeddings (in the background)")
    def embed(self, request, queryset):
        by_org = {}
        for organization_id, item_id in queryset.values_list("organization_id", "id"):
            by_org.setdefault(organization_id, []).append(item_id)
        for organization_id, ids in by_org.items():
            services.enqueue_embedding(organization_id, ids)
        self.message_user(request, f"Queued {sum(map(len, by_org.values()))} item(s).")


@admin.register(ContentEmbedding)
class ContentEmbeddingAdmin(admin.ModelAdmin):
    list_display = ["item", "model", "organization", "updated_at"]
    list_filter = ["model", "organization"]
    search_fields = ["item__title", "model"]
    list_select_related = ["item", "organization"]
    exclude = ["embedding"]
    readonly_fields = ["organization", "item", "model", "content_hash", "created_at", "updated_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    # History: no delete service (a row deleted here would stay in the graph and the recommender), so no
    # delete here either. Not `has_delete_permission`: the rows still go with their item or user.
    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def delete_view(self, request, object_id, extra_context=None):
        raise PermissionDenied

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), "show_delete": False})

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Progress)
class ProgressAdmin(ReadOnlyAdmin):
    list_display = ["user", "item", "organization", "status", "percent", "score", "time_spent_seconds",
                    "last_activity_at"]  # fmt: skip
    list_filter = ["status", "organization"]
    search_fields = ["user__email", "item__title", "item__external_id"]
    list_select_related = ["user", "item", "organization"]
    raw_id_fields = ["user", "item"]


@admin.register(Interaction)
class InteractionAdmin(ReadOnlyAdmin):
    list_display = ["occurred_at", "user", "kind", "item", "weight", "value", "organization"]
    list_filter = ["kind", "organization"]
    search_fields = ["user__email", "item__title", "idempotency_key"]
    list_select_related = ["user", "item", "organization"]
    raw_id_fields = ["user", "item"]
    date_hierarchy = None
    show_full_result_count = False  # a count(*) over millions of events on every page is slow
