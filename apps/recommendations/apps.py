from django.apps import AppConfig


class RecommendationsConfig(AppConfig):
    name = "apps.recommendations"
    label = "recommendations"
    verbose_name = "Recommendations"

    def ready(self):
        from apps.recommendations import receivers

        receivers.receivers_connect()  # the other apps' domain events (STYLE.md §9)
