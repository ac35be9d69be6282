from django.apps import AppConfig


class BotsConfig(AppConfig):
    name = "apps.bots"
    label = "bots"
    verbose_name = "Bots"

    def ready(self):
        from apps.bots import receivers, selectors
        from apps.core.health import health_figure_register

        receivers.receivers_connect()  # the other apps' domain events (STYLE.md §9)
        health_figure_register(check="database", name="bot_purges", figure=selectors.bot_purge_backlog)
