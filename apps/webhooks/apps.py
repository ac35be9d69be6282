from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    """Webhooks (issue 17): an organization's HTTPS endpoints receive signed deliveries of the lower apps'
    domain events (documents, conversations, organizations); the top layer, nothing imports it."""

    name = "apps.webhooks"
    label = "webhooks"
    verbose_name = "Webhooks"

    def ready(self):
        from apps.webhooks import receivers

        receivers.receivers_connect()  # the other apps' domain events (STYLE.md §9)
