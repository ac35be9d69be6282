from django.apps import AppConfig


class InterestsConfig(AppConfig):
    """Structured interests (issue 19): (category, value) per member with a weight and a source (stated,
    synced, inferred, chat). Layer 3: imports core, users and organizations only; graph and
    recommendations read it."""

    name = "apps.interests"
    label = "interests"
    verbose_name = "Interests"

    def ready(self):
        from apps.interests import receivers

        receivers.receivers_connect()  # the legacy flat User.interests and member removal (STYLE.md §9)
