"""Admin of the catalog, progress and interactions. Writes go through the services (content hash,
embeddings, cycle checks); progress and interactions are read-only here (they are history)."""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

from apps.core.admin import LargeTableAdmin, ServiceDeleteAdmin
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


def member_or_item_search(queryset, term: str, *, also: Q | None = None):
    """Rows of a member (e-mail, any case) or of an item (external id or exact title), or `also`: the ids are
    looked up first (the e-mail through its case-insensitive unique index), so the big table is filtered on
    its own indexed columns. A substring search over joined tables scanned every row: 4.9 s on 2,000,000
    interactions. `queryset` must have `user` and `item` foreign keys."""
    term = term.strip()
    if not term:
        return queryset
    users = get_user_model().objects.annotate(email_lower=Lower("email")).filter(email_lower=term.lower())
    items = ContentItem.objects.filter(Q(external_id=term) | Q(title=term))
    found = Q(user_id__in=list(users.values_list("pk", flat=True)[:100]))
    found |= Q(item_id__in=list(items.values_list("pk", flat=True)[:1000]))
    return queryset.filter(found | also if also is not None else found)


class MemberOrItemSearch:
    """The search box of a large table of (member, item) rows: exact values only (member_or_item_search)."""

    search_fields = ["=user__email"]  # shows the box; get_search_results does the search
    search_help_text = "An e-mail address, or an item's external id or exact title."

    def get_search_results(self, request, queryset, search_term):
        return member_or_item_search(queryset, search_term), False


@admin.register(Progress)
class ProgressAdmin(MemberOrItemSearch, ReadOnlyAdmin, LargeTableAdmin):
    list_display = ["user", "item", "organization", "status", "percent", "score", "time_spent_seconds",
                    "last_activity_at"]  # fmt: skip
    list_filter = ["status", "organization"]
    list_select_related = ["user", "item", "organization"]
    raw_id_fields = ["user", "item"]


@admin.register(Interaction)
class InteractionAdmin(ReadOnlyAdmin, LargeTableAdmin):
    """Millions of events, with indexes that lead with the organization (Interaction's docstring). Newest
    recorded first by the primary key (the model's occurred_at order sorted all 2,000,000 rows on every
    page: 1.8 s); occurred_at sorts once an organization is chosen (its index serves it), no other column
    sorts (each sorted the whole table: 2.5 s)."""

    list_display = ["occurred_at", "user", "kind", "item", "weight", "value", "organization"]
    list_filter = ["kind", "organization"]
    list_select_related = ["user", "item", "organization"]
    raw_id_fields = ["user", "item"]
    ordering = ["-id"]
    date_hierarchy = None
    search_fields = ["=idempotency_key"]
    search_help_text = "An e-mail address, an item's external id or exact title, or an idempotency key."

    def get_sortable_by(self, request):
        return ["occurred_at"] if request.GET.get("organization__id__exact") else []

    def get_search_results(self, request, queryset, search_term):
        return member_or_item_search(queryset, search_term, also=Q(idempotency_key=search_term.strip())), False
