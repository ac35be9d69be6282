from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from apps.bots.admin import bot_admin_panel_register
from apps.bots.models import Bot
from apps.conversations import gaps, qa
from apps.conversations.models import Conversation, EvaluationRun, Message, QAPair


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
    # Not messages__content: a substring search through every message of every conversation (the message
    # list searches them, and links to their conversations).
    search_fields = ["title", "=user__email", "=visitor_id"]
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


# --------------------------------------------------------------------------- the quality loop (issue 14)


@admin.display(description="quality")
def quality_links(bot):
    """Links from the bot's change page to its content gaps, Q&A pairs and evaluation runs."""
    if not bot.pk:
        return "—"
    return format_html(
        '<a href="{}">content gaps (30 days)</a> · <a href="{}">Q&amp;A pairs ({})</a> · '
        '<a href="{}">evaluation runs</a>',
        reverse("admin:conversations_qapair_content_gaps", args=[bot.pk]),
        reverse("admin:conversations_qapair_changelist") + f"?bot__id__exact={bot.pk}",
        QAPair.objects.filter(bot=bot).count(),
        reverse("admin:conversations_evaluationrun_changelist") + f"?bot__id__exact={bot.pk}",
    )


bot_admin_panel_register(quality_links, order=20)


@admin.register(QAPair)
class QAPairAdmin(admin.ModelAdmin):
    """Q&A pairs and corrected answers. Saving goes through the services (the question is embedded)."""

    list_display = ["short_question", "bot", "organization", "source_message", "created_by", "updated_at"]
    list_filter = ["organization", "bot", "created_at"]
    search_fields = ["question", "answer"]
    list_select_related = ["bot", "organization", "created_by"]
    fields = ["bot", "question", "answer", "source_message", "created_by", "embedding_model", "created_at"]
    readonly_fields = ["source_message", "created_by", "embedding_model", "created_at"]
    autocomplete_fields = ["bot"]

    @admin.display(description="question")
    def short_question(self, obj):
        return obj.question[:80]

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "bot"] if obj is not None else self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:  # the form already set the new text on `obj`: update the stored row (a new question is re-embedded)
            stored = QAPair.objects.get(pk=obj.pk)
            pair, _changed = qa.qa_pair_update(pair=stored, data=form.cleaned_data)
        else:
            bot = form.cleaned_data["bot"]
            pair = qa.qa_pair_create(
                organization=bot.organization,
                bot=bot,
                question=form.cleaned_data["question"],
                answer=form.cleaned_data["answer"],
                created_by=request.user,
            )
        obj.pk, obj.organization_id = pair.pk, pair.organization_id

    def get_urls(self):
        view = self.admin_site.admin_view(self.content_gaps_view)
        return [
            path("content-gaps/<int:bot_id>/", view, name="conversations_qapair_content_gaps"),
            *super().get_urls(),
        ]

    def content_gaps_view(self, request, bot_id: int):
        """A bot's content gaps (read-only): the API's topics, for staff who may view messages."""
        if not request.user.has_perm("conversations.view_message"):
            raise PermissionDenied
        bot = get_object_or_404(Bot.objects.select_related("organization"), pk=bot_id)
        try:
            days = min(max(int(request.GET.get("days", 30)), 1), 365)
        except ValueError:
            days = 30
        context = {
            **self.admin_site.each_context(request),
            "title": f"Content gaps of {bot.name}",
            "bot": bot,
            "days": days,
            "gaps": gaps.content_gaps(organization=bot.organization, bot=bot, days=days),
            "opts": Bot._meta,
        }
        return TemplateResponse(request, "admin/conversations/content_gaps.html", context)


@admin.register(EvaluationRun)
class EvaluationRunAdmin(admin.ModelAdmin):
    """Evaluation runs (read-only; start one with `manage.py evaluate_bot` or the API)."""

    list_display = ["created_at", "bot", "status", "pairs", "recall", "mrr", "grounded", "refusals", "finished_at"]
    list_filter = ["status", "organization", "bot", "created_at"]
    list_select_related = ["bot"]
    readonly_fields = [f.name for f in EvaluationRun._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def _metric(self, obj, name):
        value = (obj.metrics or {}).get(name)
        return "—" if value is None else value

    @admin.display(description="pairs")
    def pairs(self, obj):
        return self._metric(obj, "pairs")

    @admin.display(description="Recall@k")
    def recall(self, obj):
        return self._metric(obj, "recall_at_k")

    @admin.display(description="MRR")
    def mrr(self, obj):
        return self._metric(obj, "mrr")

    @admin.display(description="grounded")
    def grounded(self, obj):
        return self._metric(obj, "grounded_answer_rate")

    @admin.display(description="refused")
    def refusals(self, obj):
        return self._metric(obj, "refusal_rate")
