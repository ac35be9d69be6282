from django.apps import AppConfig


class PersonalityConfig(AppConfig):
    """Personality profiles (issue 8; its own app since issue 15): questionnaires, behaviour and text
    estimates, the profile and the learning advice, and the personality fit of the recommendations."""

    name = "apps.personality"
    label = "personality"
    verbose_name = "Personality"

    def ready(self):
        from apps.personality import receivers
        from apps.personality.rerank import personality_fit
        from apps.recommendations.engine.hooks import rerank_hook_register

        receivers.receivers_connect()  # the other apps' domain events (STYLE.md §9)
        # The engine knows nothing of personality: this app hands it its re-ranking hook (issue 8's
        # personality fit), so recommendations never imports personality.
        rerank_hook_register(personality_fit)
