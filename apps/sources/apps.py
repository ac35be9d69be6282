from django.apps import AppConfig


class SourcesConfig(AppConfig):
    name = "apps.sources"
    label = "sources"
    verbose_name = "Website sources"

    def ready(self):
        from apps.sources import receivers

        receivers.receivers_connect()  # the other apps' domain events (STYLE.md §9)
