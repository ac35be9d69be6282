from django.apps import AppConfig


class WidgetConfig(AppConfig):
    """The chat widget, a channel of conversations: loader, iframe and preview pages and the visitor
    API (outside /api/v1). It sits above conversations and drives chat through its services."""

    name = "apps.widget"
    label = "widget"
    verbose_name = "Chat widget"
