"""Admin registrations of the recommendations app (engine: issue 7; personality: issue 8; graph outbox: issue 12)."""

from apps.recommendations import graph_admin  # noqa: F401
from apps.recommendations.engine import admin as engine_admin  # noqa: F401
from apps.recommendations.personality import admin as personality_admin  # noqa: F401
