"""Factories of the progress tests; related rows stay in one organization (the item's)."""

import factory
from django.utils import timezone

from apps.organizations.tests.factories import OrganizationFactory
from apps.progress.models import ContentItem, ContentKind, Interaction, Progress, content_hash_of
from apps.users.tests.factories import UserFactory


class ContentItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ContentItem

    organization = factory.SubFactory(OrganizationFactory)
    external_id = factory.Sequence(lambda n: f"item-{n}")
    title = factory.Sequence(lambda n: f"Item {n}")
    description = "An item of the catalog."
    kind = ContentKind.LESSON
    tags = factory.LazyFunction(list)
    content_hash = factory.LazyAttribute(lambda o: content_hash_of(o.title, o.description, o.tags))


class ProgressFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Progress

    item = factory.SubFactory(ContentItemFactory)
    organization = factory.LazyAttribute(lambda o: o.item.organization)
    user = factory.SubFactory(UserFactory)


class InteractionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Interaction

    item = factory.SubFactory(ContentItemFactory)
    organization = factory.LazyAttribute(lambda o: o.item.organization)
    user = factory.SubFactory(UserFactory)
    kind = "view"
    weight = 1.0
    occurred_at = factory.LazyFunction(timezone.now)
