from django.db.models import Aggregate, QuerySet
from rest_framework.exceptions import NotFound

from apps.bots.models import Bot

#: Per-bot counts of rows that apps above bots own, by annotation name: {name: (label, expression)}.
#: Registered by those apps in their AppConfig.ready() (documents: "document_count"), so bots never
#: imports them (docs/architecture.md); a count nobody registered is absent and renders as 0. Several
#: counts over different relations join side by side: each must count distinct rows (distinct=True).
_counts: dict[str, tuple[str, Aggregate]] = {}


def bot_count_register(*, name: str, label: str, expression: Aggregate) -> None:
    """Annotate bot lists with `expression` as `name` (API field and admin column `label`)."""
    _counts[name] = (label, expression)


def bot_counts() -> dict[str, Aggregate]:
    return {name: expression for name, (_label, expression) in _counts.items()}


def bot_count_labels() -> dict[str, str]:
    return {name: label for name, (label, _expression) in _counts.items()}


def bot_list(*, organization) -> QuerySet[Bot]:
    return Bot.objects.filter(organization=organization).annotate(**bot_counts()).order_by("name", "id")


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
