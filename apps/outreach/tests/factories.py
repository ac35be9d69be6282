"""Factories of the outreach tests; a campaign's messages stay in its organization."""

import factory

from apps.organizations.tests.factories import OrganizationFactory
from apps.outreach.models import Campaign, CampaignMessage
from apps.users.tests.factories import UserFactory


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Campaign

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Campaign {n}")
    sender_name = "Ada from Beacon"
    sender_email = "ada@example.com"


class CampaignMessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CampaignMessage

    campaign = factory.SubFactory(CampaignFactory)
    organization = factory.LazyAttribute(lambda o: o.campaign.organization)
    user = factory.SubFactory(UserFactory)
    email = factory.LazyAttribute(lambda o: o.user.email)
    subject = "Your next step"
    body_text = "Hello"
    body_html = "<p>Hello</p>"
    composer = CampaignMessage.Composer.TEMPLATE
