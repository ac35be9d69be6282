"""Admin registrations of the recommendations app (personality: issue 8)."""

from apps.recommendations.personality import admin as personality_admin  # noqa: F401
