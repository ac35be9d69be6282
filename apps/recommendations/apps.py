from django.apps import AppConfig


class RecommendationsConfig(AppConfig):
    name = "apps.recommendations"
    label = "recommendations"
    verbose_name = "Recommendations"

    def ready(self):
        from apps.recommendations import signals  # noqa: F401  (cache invalidation receivers)
        from apps.recommendations.personality import rerank  # noqa: F401  (issue 8: personality fit hook)
        from apps.recommendations.personality import signals as personality_signals  # noqa: F401  (issue 8)
