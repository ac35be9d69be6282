from django.apps import AppConfig


class GraphConfig(AppConfig):
    """The knowledge-graph projection (issue 7; its own app since issue 15): the GraphOutbox, its drain
    to the Bolt graph, the rebuild, and the graph queries the recommendation engine reads."""

    name = "apps.graph"
    label = "graph"
    verbose_name = "Knowledge graph"

    def ready(self):
        from apps.core.health import health_figure_register
        from apps.graph import receivers, sync

        receivers.receivers_connect()  # the other apps' domain events (STYLE.md §9)
        health_figure_register(check="graph", name="outbox", figure=sync.graph_outbox_backlog)
