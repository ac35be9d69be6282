"""Reads of the widget: what a visitor sees of a bot (its look) and of an answer's sources, and who
may see the widget on Beacon's own preview page."""

from __future__ import annotations

from apps.bots.models import Bot
from apps.organizations.models import Membership

DEFAULT_COLOR = "#2563eb"


def widget_config(bot: Bot) -> dict:
    """The widget's look and greeting (the frame page and the session endpoint)."""
    theme = bot.widget_theme or {}
    return {
        "name": bot.name,
        "title": theme.get("title") or bot.name,
        "greeting": bot.greeting,
        "suggested_questions": list(bot.suggested_questions or []),
        "color": theme.get("color") or DEFAULT_COLOR,
        "position": theme.get("position") or "right",
        "icon": theme.get("icon") or "chat",
    }


def citations_public(citations: list[dict]) -> list[dict]:
    """What a visitor sees of a source: title, page, section and link (no scores or internal ids)."""
    return [
        {
            "ref": c.get("ref"),
            "title": c.get("title") or "",
            "url": c.get("url") or None,
            "page": c.get("page"),
            "heading_path": c.get("heading_path") or [],
        }
        for c in citations or []
    ]


def preview_viewer_allowed(user, bot: Bot) -> bool:
    """Beacon's own pages (the preview) show the widget to the organization's members and staff only."""
    if user is None or not user.is_authenticated:
        return False
    return user.is_superuser or Membership.objects.filter(organization_id=bot.organization_id, user=user).exists()
