import hashlib

import factory

from apps.bots.tests.factories import BotFactory
from apps.documents.models import Document


class DocumentFactory(factory.django.DjangoModelFactory):
    """A text document row (no pipeline run); use the services to ingest for real."""

    class Meta:
        model = Document

    bot = factory.SubFactory(BotFactory)
    organization = factory.LazyAttribute(lambda o: o.bot.organization)
    title = factory.Sequence(lambda n: f"Document {n}")
    source = Document.Source.TEXT
    text = factory.Sequence(lambda n: f"Document number {n} talks about things.")
    kind = "txt"
    sha256 = factory.LazyAttribute(lambda o: hashlib.sha256(o.text.encode()).hexdigest())
    size = factory.LazyAttribute(lambda o: len(o.text.encode()))
