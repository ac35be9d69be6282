from django.conf import settings
from django.contrib import admin
from django.db.models import Count
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from apps.bots.models import Bot
from apps.conversations.models import Conversation
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
    readonly_fields = ["public_id", "widget", "recent_conversations", "created_at", "updated_at"]
    exclude = ["identity_secret"]  # shown once by the API; rotate it there
    autocomplete_fields = ["organization"]
    inlines = [DocumentInline]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("organization").annotate(_documents=Count("documents"))

    @admin.display(description="widget")
    def widget(self, obj):
        """The exact snippet to paste, and the preview page (where the widget always works)."""
        if not obj.pk:
            return "—"
        preview = reverse("widget:preview", kwargs={"public_id": obj.public_id})
        snippet = f'<script src="{settings.BEACON_PUBLIC_URL}/widget/{obj.public_id}.js" async></script>'
        return format_html(
            '<code style="user-select:all">{}</code><br>'
            '<a href="{}" target="_blank" rel="noopener">Open the preview page</a>',
            snippet,
            preview,
        )

    @admin.display(description="recent conversations")
    def recent_conversations(self, obj):
        """The 20 latest conversations, linked to their admin pages."""
        conversations = Conversation.objects.filter(bot=obj).select_related("user").order_by("-created_at")[:20]
        if not conversations:
            return "—"
        items = format_html_join(
            "",
            '<li><a href="{}">{}</a> · {} · {}</li>',
            (
                (
                    reverse("admin:conversations_conversation_change", args=[c.pk]),
                    c.title or f"Conversation {c.pk}",
                    c.user or c.visitor_id or c.channel,
                    c.created_at.strftime("%Y-%m-%d %H:%M"),
                )
                for c in conversations
            ),
        )
        return format_html("<ul>{}</ul>", items)

    @admin.display(description="documents", ordering="_documents")
    def document_count(self, obj):
        return obj._documents
