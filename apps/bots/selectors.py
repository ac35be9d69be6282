from django.db.models import Count, QuerySet
from rest_framework.exceptions import NotFound

from apps.bots.models import Bot


def bot_list(*, organization) -> QuerySet[Bot]:
    return (
        Bot.objects.filter(organization=organization).annotate(document_count=Count("documents")).order_by("name", "id")
    )


def bot_get(*, organization, bot_id: int, with_counts: bool = False) -> Bot:
    """The organization's bot, or 404 (ids of other organizations included)."""
    queryset = bot_list(organization=organization) if with_counts else Bot.objects.filter(organization=organization)
    bot = queryset.filter(pk=bot_id).first()
    if bot is None:
        raise NotFound("Bot not found.")
    return bot


def bot_get_public(*, public_id: str) -> Bot:
    """The bot behind a widget's public id (the widget's only handle on it), or 404."""
    bot = Bot.objects.select_related("organization__plan").filter(public_id=public_id).first()
    if bot is None:
        raise NotFound("No widget with this id.")
    return bot
