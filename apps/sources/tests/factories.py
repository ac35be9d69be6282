import factory

from apps.bots.tests.factories import BotFactory
from apps.sources.models import CrawlPage, CrawlSource


class CrawlSourceFactory(factory.django.DjangoModelFactory):
    """A source row with no crawl run; use the services to crawl for real."""

    class Meta:
        model = CrawlSource

    bot = factory.SubFactory(BotFactory)
    organization = factory.LazyAttribute(lambda o: o.bot.organization)
    url = factory.Sequence(lambda n: f"https://example{n}.com/")
    max_pages = 10
    max_depth = 2


class CrawlPageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CrawlPage

    source = factory.SubFactory(CrawlSourceFactory)
    organization = factory.LazyAttribute(lambda o: o.source.organization)
    url = factory.LazyAttribute(lambda o: f"{o.source.url}example-page")
