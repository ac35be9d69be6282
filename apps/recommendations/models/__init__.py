"""Recommendation models: graph projection (graph.py) and the engine (engine.py), re-exported here."""

from apps.recommendations.models.engine import (
    ItemFactor,
    ItemNeighbors,
    RecommendationLog,
    RecommenderModel,
    UserFactor,
)
from apps.recommendations.models.graph import GraphOutbox
from apps.recommendations.models.personality import AssessmentResponse, PersonalityDeletion, PersonalityProfile

__all__ = [
    "AssessmentResponse",
    "GraphOutbox",
    "ItemFactor",
    "ItemNeighbors",
    "PersonalityDeletion",
    "PersonalityProfile",
    "RecommendationLog",
    "RecommenderModel",
    "UserFactor",
]
