from django.contrib import admin
from django.db.models import Count

from apps.bots.models import Bot
from apps.documents.models import Document


class DocumentInline(admin.TabularInline):
    model = Document
    extra = 0
    fields = ["title", "kind", "status", "chunk_count", "version", "created_at"]
    readonly_fields = fields
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Bot)
class BotAdmin(admin.ModelAdmin):
    list_display = ["name", "organization", "public_id", "document_count", "top_k", "min_score", "created_at"]
    list_filter = ["organization", "created_at"]
    search_fields = ["name", "public_id", "organization__name"]
    readonly_fields = ["public_id", "created_at", "updated_at"]
    autocomplete_fields = ["organization"]
    inlines = [DocumentInline]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("organization").annotate(_documents=Count("documents"))

    @admin.display(description="documents", ordering="_documents")
    def document_count(self, obj):
        return obj._documents
