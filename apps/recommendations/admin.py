"""Admin registrations of the recommendations app (engine: issue 7)."""

from apps.recommendations.engine import admin as engine_admin  # noqa: F401
