import factory

from apps.organizations.tests.factories import OrganizationFactory
from apps.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from apps.webhooks.signing import webhook_secret_new


class WebhookEndpointFactory(factory.django.DjangoModelFactory):
    """A row only (no URL check): tests that send use the API or the service."""

    class Meta:
        model = WebhookEndpoint

    organization = factory.SubFactory(OrganizationFactory)
    url = factory.Sequence(lambda n: f"https://hooks{n}.example.com/beacon")
    events = factory.LazyFunction(lambda: [WebhookEvent.DOCUMENT_READY, WebhookEvent.DOCUMENT_FAILED])
    secret = factory.LazyFunction(webhook_secret_new)


class WebhookDeliveryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WebhookDelivery

    endpoint = factory.SubFactory(WebhookEndpointFactory)
    organization = factory.LazyAttribute(lambda o: o.endpoint.organization)
    event = WebhookEvent.DOCUMENT_READY
    payload = factory.LazyFunction(lambda: {"bot_id": 1, "document_id": 2, "status": "ready"})
