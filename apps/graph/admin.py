"""Django admin for the graph outbox (issue 12): what waits for the knowledge graph, what failed and
why, and a "retry" action for dead-lettered rows. Read-only otherwise: rows are written by the
services and consumed by the drain (see apps.graph.sync)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Q

from apps.graph.models import GraphOutbox
from apps.graph.sync import graph_outbox_retry


class StateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"
    QUERIES = {
        "pending": Q(dead_at__isnull=True, attempts=0),
        "retrying": Q(dead_at__isnull=True, attempts__gt=0),
        "dead": Q(dead_at__isnull=False),
    }

    def lookups(self, request, model_admin):
        return [
            ("pending", "Pending"),
            ("retrying", "Retrying (failed before)"),
            ("dead", "Dead (rejected by the graph)"),
        ]

    def queryset(self, request, queryset):
        query = self.QUERIES.get(self.value())
        return queryset.filter(query) if query is not None else queryset


@admin.register(GraphOutbox)
class GraphOutboxAdmin(admin.ModelAdmin):
    list_display = ["id", "organization", "kind", "object_key", "state", "attempts", "short_error", "created_at",
                    "next_attempt_at", "dead_at"]  # fmt: skip
    list_filter = [StateFilter, "kind"]
    search_fields = ["organization__slug", "object_key", "last_error"]
    list_select_related = ["organization"]
    readonly_fields = [field.name for field in GraphOutbox._meta.fields]
    actions = ["retry"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="state")
    def state(self, obj: GraphOutbox) -> str:
        return obj.state

    @admin.display(description="last error")
    def short_error(self, obj: GraphOutbox) -> str:
        return obj.last_error[:120]

    @admin.action(description="Retry the selected dead rows (requeue them for the graph drain)")
    def retry(self, request, queryset):
        requeued = graph_outbox_retry(ids=list(queryset.filter(dead_at__isnull=False).values_list("id", flat=True)))
        self.message_user(request, f"{requeued} dead row(s) requeued.", messages.SUCCESS)
