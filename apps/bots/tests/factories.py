import factory

from apps.bots.models import Bot
from apps.organizations.tests.factories import OrganizationFactory


class BotFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Bot

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Bot {n}")
    min_score = 0.2
