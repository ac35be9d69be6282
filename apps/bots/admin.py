"""The bot admin. Apps above bots add their parts to it without bots importing them (docs/architecture.md):
documents its inline (`bot_admin_inline_register`), widget and conversations their read-only panels
(`bot_admin_panel_register`: the embed snippet, the recent conversations); the documents column comes
from the counts the documents app registers with `apps.bots.selectors.bot_count_register`."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import admin

from apps.bots import selectors
from apps.bots.models import Bot

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
class BotAdmin(admin.ModelAdmin):
    list_display = ["name", "organization", "public_id", "top_k", "min_score", "created_at"]
    list_filter = ["organization", "created_at"]
    search_fields = ["name", "public_id", "organization__name"]
    readonly_fields = ["public_id", "created_at", "updated_at"]
    exclude = ["identity_secret"]  # shown once by the API; rotate it there
    autocomplete_fields = ["organization"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("organization").annotate(**selectors.bot_counts())

    def get_list_display(self, request):
        """The registered counts (e.g. documents) as sortable columns after the public id."""
        columns = [_count_column(name, label) for name, label in selectors.bot_count_labels().items()]
        at = self.list_display.index("public_id") + 1
        return [*self.list_display[:at], *columns, *self.list_display[at:]]

    def get_readonly_fields(self, request, obj=None):
        at = self.readonly_fields.index("public_id") + 1
        return [*self.readonly_fields[:at], *(panel for _order, panel in _panels), *self.readonly_fields[at:]]

    def get_inlines(self, request, obj):
        return [*self.inlines, *_inlines]
