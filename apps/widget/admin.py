"""The widget's panel on the bot's change page: the embed snippet and the preview link (registered
here, since bots does not know the widget's URLs)."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from apps.bots.admin import bot_admin_panel_register


@admin.display(description="widget")
def widget(bot):
    """The exact snippet to paste, and the preview page (where the widget always works)."""
    if not bot.pk:
        return "—"
    preview = reverse("widget:preview", kwargs={"public_id": bot.public_id})
    return format_html(
        '<code style="user-select:all">{}</code><br>'
        '<a href="{}" target="_blank" rel="noopener">Open the preview page</a>',
        bot.widget_snippet(),
        preview,
    )


bot_admin_panel_register(widget, order=0)  # first, as before the widget had its own app
