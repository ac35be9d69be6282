from django.apps import AppConfig


class ProgressConfig(AppConfig):
    name = "apps.progress"
    label = "progress"
    verbose_name = "Progress"

    def ready(self):
        from apps.progress import receivers

        receivers.receivers_connect()  # the other apps' domain events (STYLE.md §9)
