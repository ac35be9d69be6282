from django.contrib import admin, messages
from django.db import models
from django.forms.models import BaseInlineFormSet
from django.urls import reverse
from django.utils.html import format_html

from apps.bots.admin import bot_admin_inline_register, bot_admin_panel_register
from apps.core.admin import LargeTableAdmin, ServiceDeleteAdmin
from apps.documents.models import Chunk, Document
from apps.documents.services.upload import document_delete, document_reprocess

#: documents shown on the bot's change page; the rest are in the document list (the panel links to it)
INLINE_DOCUMENTS = 20


class LatestDocumentsFormSet(BaseInlineFormSet):
    """The bot's latest INLINE_DOCUMENTS documents only: a bot of 1,000 documents drew 1,000 inline rows
    (1.6 s, 1.6 MB), and a plan may allow many more."""

    def get_queryset(self):
        if not hasattr(self, "_latest"):
            self._latest = list(super().get_queryset().order_by("-created_at", "-id")[:INLINE_DOCUMENTS])
        return self._latest


class DocumentInline(admin.TabularInline):
    """The bot's latest documents on the bot's change page (registered here: bots never imports documents)."""

    model = Document
    formset = LatestDocumentsFormSet
    verbose_name_plural = f"documents (the {INLINE_DOCUMENTS} latest)"
    extra = 0
    fields = ["title", "kind", "status", "chunk_count", "version", "created_at"]
    readonly_fields = fields
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


bot_admin_inline_register(DocumentInline)


@admin.display(description="documents")
def documents_link(bot):
    """How many documents the bot has, linked to their list (the inline below shows the latest only)."""
    if not bot.pk:
        return "—"
    return format_html(
        '<a href="{}?bot__id__exact={}">{} documents</a>',
        reverse("admin:documents_document_changelist"),
        bot.pk,
        Document.objects.filter(bot=bot).count(),
    )


bot_admin_panel_register(documents_link, order=30)


@admin.register(Document)
class DocumentAdmin(ServiceDeleteAdmin):
    list_display = ["title", "bot", "organization", "kind", "status", "progress_display", "chunk_count", "version",
                    "size", "created_at"]  # fmt: skip
    list_filter = ["status", "kind", "source", "organization"]
    search_fields = ["title", "original_name", "sha256", "bot__name", "organization__name"]
    list_select_related = ["bot", "organization"]
    readonly_fields = [
        "organization", "bot", "source", "file", "original_name", "mime_type", "kind", "size", "sha256", "version",
        "replaces", "status", "error", "chunks_total", "chunks_done", "chunk_count", "token_count", "page_count",
        "embedding_model", "attempts", "processing_started_at", "processed_at", "created_by", "created_at",
        "heartbeat_at", "lease_owner", "interruptions",
    ]  # fmt: skip
    exclude = ["text"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    actions = ["reprocess"]

    def has_add_permission(self, request):
        return False  # uploads go through the API or `manage.py ingest_dir` (limits, de-duplication)

    @admin.display(description="progress")
    def progress_display(self, obj):
        return f"{obj.chunks_done}/{obj.chunks_total}" if obj.status == Document.Status.PROCESSING else "—"

    @admin.action(description="Reprocess selected documents")
    def reprocess(self, request, queryset):
        for document in queryset:
            document_reprocess(document=document)
        self.message_user(request, f"Queued {queryset.count()} document(s).", messages.SUCCESS)

    def delete_model(self, request, obj):
        # Single and bulk (ServiceDeleteAdmin): files after commit, the bot's term statistics kept exact.
        document_delete(document=obj)


@admin.register(Chunk)
class ChunkAdmin(LargeTableAdmin):
    list_display = ["document", "position", "page", "token_count", "searchable"]
    list_filter = ["searchable", "organization"]
    search_fields = ["text", "document__title"]
    list_select_related = ["document"]
    readonly_fields = [f.name for f in Chunk._meta.fields if f.name != "search_vector"]
    exclude = ["search_vector"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # chunks go with their document (the bot's term statistics follow; lexeme_stats.py)
