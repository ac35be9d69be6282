from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from apps.bots.admin import bot_admin_panel_register
from apps.conversations.models import Conversation, Message


@admin.display(description="recent conversations")
def recent_conversations(bot):
    """The bot's 20 latest conversations, linked to their admin pages (a panel of the bot's change page,
    registered here: bots never imports conversations)."""
    if not bot.pk:
        return "—"
    conversations = Conversation.objects.filter(bot=bot).select_related("user").order_by("-created_at")[:20]
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


bot_admin_panel_register(recent_conversations, order=10)


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    can_delete = False
    fields = ["created_at", "role", "status", "content", "feedback", "feedback_comment", "model", "latency_ms"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ["__str__", "bot", "organization", "channel", "user", "created_at", "last_message_at"]
    list_filter = ["channel", "organization", "bot", "created_at"]
    search_fields = ["title", "user__email", "visitor_id", "messages__content"]
    list_select_related = ["bot", "organization", "user"]
    readonly_fields = ["organization", "bot", "user", "visitor_id", "channel", "title", "created_at", "last_message_at"]
    inlines = [MessageInline]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    """Staff see the gaps: filter answers by status `unanswered` or by negative feedback."""

    list_display = ["created_at", "conversation", "role", "status", "feedback", "short", "model", "latency_ms"]
    list_filter = ["status", "role", "feedback", "organization", "created_at"]
    search_fields = ["content", "feedback_comment"]
    list_select_related = ["conversation"]
    readonly_fields = [f.name for f in Message._meta.fields]

    def has_add_permission(self, request):
        return False

    @admin.display(description="content")
    def short(self, obj):
        return obj.content[:80]
