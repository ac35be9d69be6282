from django.apps import AppConfig


class BoardsConfig(AppConfig):
    """Vision boards (issue 19): a member's goals, and boards of goals, interests, milestones and next items,
    rendered to SVG, PNG and HTML, versioned and shareable. Layer 9: nothing imports it."""

    name = "apps.boards"
    label = "boards"
    verbose_name = "Vision boards"

    def ready(self):
        from apps.boards import receivers

        receivers.receivers_connect()  # the other apps' domain events (STYLE.md §9)
