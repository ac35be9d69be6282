"""The bot lookups every bot-scoped request starts with (selectors.bot_get, bot_get_public), composed once per
process (apps/core/lookups.py): they read what the ORM reads, in one query, with the relations attached (the
caller's organization for `bot_get`, with or without counts), and another organization's bot, an unknown id or
public id is a 404."""

import pytest
from django.utils import timezone
from rest_framework.exceptions import NotFound

from apps.bots.models import Bot
from apps.bots.selectors import bot_get, bot_get_public
from apps.bots.tests.factories import BotFactory
from apps.core.tests.orm import assert_reads_as_the_orm
from apps.organizations.tests.factories import OrganizationFactory, plan

pytestmark = pytest.mark.django_db


def a_bot():
    """A bot whose fields hold each kind of value: JSON lists and objects, nulls and not, floats, dates."""
    bot = BotFactory(organization=OrganizationFactory(plan=plan("pro")), suggested_questions=["Where?", "When?"],
                     widget_theme={"accent": "#123456", "nested": {"a": [1, 2]}}, allowed_origins=["https://a.example"],
                     min_score=None, strict_grounding=True)  # fmt: skip
    Bot.objects.filter(pk=bot.pk).update(calibrated_min_score=0.412, calibrated_at=timezone.now(),
                                         calibration={"figures": {"answered": 0.9}})  # fmt: skip
    return bot


def test_bot_get_reads_what_the_orm_reads(django_assert_num_queries):
    bot = a_bot()
    organization = bot.organization
    expected = Bot.objects.get(pk=bot.pk)

    with django_assert_num_queries(1):
        found = bot_get(organization=organization, bot_id=bot.pk)
        assert found.organization is organization
    assert_reads_as_the_orm(found, expected)
    assert found.widget_theme["nested"]["a"] == [1, 2] and found.min_score is None

    with django_assert_num_queries(1):
        counted = bot_get(organization=organization, bot_id=bot.pk, with_counts=True)
        assert counted.pk == bot.pk and counted.organization is organization


def test_bot_get_public_reads_what_the_orm_reads(django_assert_num_queries):
    bot = a_bot()
    expected = Bot.objects.select_related("organization__plan").get(pk=bot.pk)

    with django_assert_num_queries(1):
        found = bot_get_public(public_id=bot.public_id)
        found_organization, found_plan = found.organization, found.organization.plan
    for got, want in [(found, expected), (found_organization, expected.organization),
                      (found_plan, expected.organization.plan)]:  # fmt: skip
        assert_reads_as_the_orm(got, want)


def test_another_organizations_bot_and_unknown_ids_are_404():
    bot = BotFactory()
    other = OrganizationFactory()
    for organization, bot_id in ((other, bot.pk), (bot.organization, bot.pk + 1000), (bot.organization, 10**30),
                                 (bot.organization, -1)):  # fmt: skip
        with pytest.raises(NotFound, match="Bot not found"):
            bot_get(organization=organization, bot_id=bot_id)
    with pytest.raises(NotFound, match="No widget with this id"):
        bot_get_public(public_id="bot_nosuchwidget")


def test_a_deleted_bot_is_not_found(organization):
    """From the owner's delete on (its purge still to come), neither lookup finds the bot."""
    from apps.bots.services import bot_delete

    bot = BotFactory(organization=organization)
    assert bot_get(organization=organization, bot_id=bot.pk).pk == bot_get_public(public_id=bot.public_id).pk == bot.pk
    bot_delete(bot=bot)

    for lookup in (lambda: bot_get(organization=organization, bot_id=bot.pk),
                   lambda: bot_get(organization=organization, bot_id=bot.pk, with_counts=True),
                   lambda: bot_get_public(public_id=bot.public_id)):  # fmt: skip
        with pytest.raises(NotFound):
            lookup()
