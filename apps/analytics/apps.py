from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    """Read-only reports across apps (progress, bots, conversations): the analytics API and the
    admin dashboard. The top layer: it may import every app, and no app imports it."""

    name = "apps.analytics"
    label = "analytics"
    verbose_name = "Analytics"
