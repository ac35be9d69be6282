from django.apps import AppConfig


class ConversationsConfig(AppConfig):
    name = "apps.conversations"
    label = "conversations"
    verbose_name = "Conversations"

    def ready(self):
        from apps.conversations import receivers

        receivers.receivers_connect()  # the other apps' domain events (STYLE.md §9)
