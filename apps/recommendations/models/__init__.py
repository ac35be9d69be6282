"""Recommendation engine models (engine.py), re-exported here. The graph outbox lives in apps.graph,
the personality profiles in apps.personality (issue 15)."""

from apps.recommendations.models.engine import (
    ItemFactor,
    ItemNeighbors,
    RecommendationLog,
    RecommenderModel,
    TrendingChart,
    UserFactor,
)

__all__ = [
    "ItemFactor",
    "ItemNeighbors",
    "RecommendationLog",
    "RecommenderModel",
    "TrendingChart",
    "UserFactor",
]
