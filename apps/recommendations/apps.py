from django.apps import AppConfig


class RecommendationsConfig(AppConfig):
    name = "apps.recommendations"
    label = "recommendations"
    verbose_name = "Recommendations"

    def ready(self):
        from apps.recommendations import signals  # noqa: F401  (cache invalidation receivers)
