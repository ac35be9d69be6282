from django.apps import AppConfig


class OutreachConfig(AppConfig):
    """Personalized outreach (issue 19): campaigns over a segment of members, one e-mail per member written
    from their recommendations, progress and interests (LLM with checks, or templates offline), sent with
    unsubscribe links and tracked item links. The top layer beside boards; nothing imports it."""

    name = "apps.outreach"
    label = "outreach"
    verbose_name = "Outreach"

    def ready(self):
        from apps.outreach import receivers

        receivers.receivers_connect()  # members leaving (STYLE.md §9)
