"""Admin of vision boards: goals, and boards read-only (generated; a board is changed by generating a
new version). Personality text (cards' `personal_note` in the layout) is not shown here: staff see the
stored SVG/PNG, which never hold it."""

from django.contrib import admin
from django.utils.html import format_html

from apps.boards.models import Goal, VisionBoard


@admin.register(Goal)
class GoalAdmin(admin.ModelAdmin):
    list_display = ["text", "user", "organization", "target_date", "created_at"]
    search_fields = ["text", "user__email", "organization__slug"]
    raw_id_fields = ["organization", "user", "target_items"]


@admin.register(VisionBoard)
class VisionBoardAdmin(admin.ModelAdmin):
    list_display = ["__str__", "organization", "version", "captions", "created_at"]
    list_filter = ["captions"]
    search_fields = ["user__email", "organization__slug"]
    fields = [
        "organization",
        "user",
        "version",
        "inputs_hash",
        "captions",
        "captions_note",
        "size",
        "image",
        "created_at",
    ]
    readonly_fields = fields

    @admin.display(description="size")
    def size(self, board):
        return f"{board.width} x {board.height}"

    @admin.display(description="PNG")
    def image(self, board):
        return format_html("<code>{}</code>", board.png.name) if board.png else "-"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
