from django.apps import AppConfig


class BotsConfig(AppConfig):
    name = "apps.bots"
    label = "bots"
    verbose_name = "Bots"

    def ready(self):
        from apps.bots import receivers

        receivers.receivers_connect()  # the other apps' domain events (STYLE.md §9)
