from django.apps import AppConfig


class DocumentsConfig(AppConfig):
    name = "apps.documents"
    label = "documents"
    verbose_name = "Documents"

    def ready(self):
        from django.db.models import Count

        from apps.bots.selectors import bot_count_register
        from apps.documents import receivers

        receivers.receivers_connect()  # the other apps' domain events (STYLE.md §9)
        # bots' API field and admin column `document_count`, without bots importing documents
        bot_count_register(name="document_count", label="documents", expression=Count("documents", distinct=True))
