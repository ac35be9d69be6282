"""The bot admin. Apps above bots add their parts to it without bots importing them (docs/architecture.md):
documents its inline (`bot_admin_inline_register`), widget and conversations their read-only panels
(`bot_admin_panel_register`: the embed snippet, the recent conversations); the documents column comes
from the counts the documents app registers with `apps.bots.selectors.bot_count_register`."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import admin
from django.utils.html import format_html

from apps.bots import selectors, services
from apps.bots.models import Bot
from apps.core.admin import ServiceDeleteAdmin, SoftDeletedAdmin

_inlines: list[type[admin.options.InlineModelAdmin]] = []
_panels: list[tuple[int, Callable[[Bot], str]]] = []


def bot_admin_inline_register(inline: type[admin.options.InlineModelAdmin]) -> None:
    """Show `inline` (an inline of a model that points to Bot) on the bot's change page."""
    if inline not in _inlines:
        _inlines.append(inline)


def bot_admin_panel_register(panel: Callable[[Bot], str], *, order: int = 100) -> None:
    """Show `panel(bot)` (HTML, labelled by its `admin.display` description) as a read-only field of the
    bot's change page, between the public id and the timestamps; lower `order` first."""
    if panel not in [registered for _order, registered in _panels]:
        _panels.append((order, panel))
        _panels.sort(key=lambda entry: entry[0])


def _count_column(name: str, label: str):
    @admin.display(description=label, ordering=name)
    def column(obj):
        return getattr(obj, name, 0)

    column.__name__ = name
    return column


@admin.register(Bot)
class BotAdmin(SoftDeletedAdmin, ServiceDeleteAdmin):
    list_display = ["name", "organization", "public_id", "language", "top_k", "cut_off", "created_at"]
    list_filter = ["organization", "language", "created_at"]
    search_fields = ["name", "public_id", "organization__name"]
    readonly_fields = [
        "public_id", "effective_min_score", "calibrated_min_score", "calibrated_at", "calibration_figures",
        "created_at", "updated_at",
    ]  # fmt: skip
    exclude = ["identity_secret"]  # shown once by the API; rotate it there
    autocomplete_fields = ["organization"]
    raw_id_fields = ["created_by"]  # a select of every user account (20,000 options at a real customer's size)

    @admin.display(description="cut-off")
    def cut_off(self, obj):
        """The cut-off in force, and where it comes from (docs/refusal.md)."""
        source = (
            "override"
            if obj.min_score is not None
            else "calibrated"
            if obj.calibrated_min_score is not None
            else "default"
        )
        return f"{obj.effective_min_score:.4g} ({source})"

    @admin.display(description="effective min score")
    def effective_min_score(self, obj):
        return obj.effective_min_score

    @admin.display(description="calibration figures")
    def calibration_figures(self, obj):
        """The figures of the last calibration run, readable (the rest is in the API)."""
        figures = obj.calibration or {}
        if not figures.get("in_domain_questions"):
            return "Not calibrated yet (the bot has no ready documents, or the run is pending)."
        return format_html(
            "Target: at most {} of out-of-domain questions answered; achieved {} on {} general questions "
            "({} left out as in-domain). In-domain answered at the cut-off: {} of {} synthetic questions. "
            "Corpus: {} documents, {} chunks.",
            figures["target_false_answer_rate"], figures["false_answer_rate"], figures["out_of_domain_questions"],
            len(figures.get("out_of_domain_excluded", [])), figures["in_domain_answered_rate"],
            figures["in_domain_questions"], figures["corpus"]["documents"], figures["corpus"]["chunks"],
        )  # fmt: skip

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("organization").annotate(**selectors.bot_counts())

    def get_list_display(self, request):
        """The registered counts (e.g. documents) as sortable columns after the public id."""
        columns = [_count_column(name, label) for name, label in selectors.bot_count_labels().items()]
        shown = list(super().get_list_display(request))
        at = shown.index("public_id") + 1
        return [*shown[:at], *columns, *shown[at:]]

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)  # with the purge's state for a bot being deleted
        at = fields.index("public_id") + 1
        return [*fields[:at], *(panel for _order, panel in _panels), *fields[at:]]

    def get_inlines(self, request, obj):
        return [*self.inlines, *_inlines]

    def delete_model(self, request, obj):
        # Single and bulk (ServiceDeleteAdmin): other apps remove their rows first (documents' files, statistics).
        services.bot_delete(bot=obj)
