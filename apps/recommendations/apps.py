from django.apps import AppConfig


class RecommendationsConfig(AppConfig):
    name = "apps.recommendations"
    label = "recommendations"
    verbose_name = "Recommendations"

    def ready(self):
        from apps.core.health import health_figure_register
        from apps.recommendations import graph_sync, receivers
        from apps.recommendations.personality import rerank  # noqa: F401  (issue 8: personality fit hook)

        receivers.receivers_connect()  # the other apps' domain events (STYLE.md §9)
        health_figure_register(check="graph", name="outbox", figure=graph_sync.graph_outbox_backlog)
