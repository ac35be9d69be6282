from django.contrib import admin, messages

from apps.core.admin import ServiceDeleteAdmin
from apps.core.exceptions import ApplicationError
from apps.sources.models import CrawlPage, CrawlSource
from apps.sources.services import crawl_cancel, crawl_start, source_delete


class CrawlPageInline(admin.TabularInline):
    """The pages of the source, with their state and error (the current run first)."""

    model = CrawlPage
    extra = 0
    fields = ["url", "depth", "run", "state", "http_status", "error", "document", "fetched_at"]
    readonly_fields = fields
    ordering = ["-run", "depth", "id"]
    can_delete = False
    max_num = 0

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(CrawlSource)
class CrawlSourceAdmin(ServiceDeleteAdmin):
    list_display = ["url", "bot", "organization", "kind", "status", "run", "crawl_finished_at", "next_crawl_at"]
    list_filter = ["status", "kind", "organization"]
    search_fields = ["url", "bot__name", "organization__name"]
    list_select_related = ["bot", "organization"]
    readonly_fields = [
        "organization", "bot", "url", "kind", "delay_seconds", "status", "run", "cancel_requested", "error",
        "crawl_started_at", "crawl_finished_at", "next_crawl_at", "created_by", "created_at",
    ]  # fmt: skip
    inlines = [CrawlPageInline]
    actions = ["crawl", "cancel"]

    def has_add_permission(self, request):
        return False  # sources are added through the API (the URL is checked there)

    @admin.action(description="Crawl selected sources again")
    def crawl(self, request, queryset):
        self._each(request, queryset, crawl_start, "Queued")

    @admin.action(description="Cancel the running crawls")
    def cancel(self, request, queryset):
        self._each(request, queryset, crawl_cancel, "Cancelling")

    def _each(self, request, queryset, service, verb):
        done = 0
        for source in queryset:
            try:
                service(source=source)
                done += 1
            except ApplicationError as exc:
                self.message_user(request, f"{source.url}: {exc.detail}", messages.WARNING)
        self.message_user(request, f"{verb} {done} source(s).", messages.SUCCESS)

    def delete_model(self, request, obj):
        source_delete(source=obj)
