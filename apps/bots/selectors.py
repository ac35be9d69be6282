from django.db.models import Aggregate, QuerySet
from rest_framework.exceptions import NotFound

from apps.bots.models import Bot
from apps.core.lookups import ComposedLookup
from apps.core.purge import purge_backlog
from apps.organizations.models import Organization, Plan

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


#: Every bot-scoped request starts with one of these (composed once per process, apps/core/lookups.py; the ORM
#: compiled them on every call): the organization's bot by id; a widget's bot with its organization and plan. A bot
#: being deleted is not found (as `Bot.objects` hides it).
_BOT_LOOKUP = ComposedLookup(((Bot, "b"),), (), (("b", "id"), ("b", "organization")), null=(("b", "deleted_at"),))
_PUBLIC_BOT_LOOKUP = ComposedLookup(((Bot, "b"), (Organization, "o"), (Plan, "p")),
                                    (("b", "organization"), ("o", "plan")), (("b", "public_id"),),
                                    null=(("b", "deleted_at"), ("o", "deleted_at")))  # fmt: skip


def bot_get(*, organization, bot_id: int, with_counts: bool = False) -> Bot:
    """The organization's bot, or 404 (ids of other organizations included). The bot's `organization` is the
    instance given."""
    if with_counts:
        bot = bot_list(organization=organization).filter(pk=bot_id).first()
    else:
        found = _BOT_LOOKUP.get([int(bot_id), organization.pk])
        bot = found[0] if found else None
    if bot is None:
        raise NotFound("Bot not found.")
    Bot._meta.get_field("organization").set_cached_value(bot, organization)
    return bot


def bot_get_public(*, public_id: str) -> Bot:
    """The bot behind a widget's public id (the widget's only handle on it), its organization and plan attached,
    or 404."""
    found = _PUBLIC_BOT_LOOKUP.get([public_id])
    if found is None:
        raise NotFound("No widget with this id.")
    return found[0]


def bot_purge_backlog() -> dict:
    """Bots deleted and not yet purged (/health/, /metrics: docs/operations.md#purges-in-progress)."""
    return purge_backlog(Bot)
