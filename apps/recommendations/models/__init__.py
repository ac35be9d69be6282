"""Recommendation models: graph projection (graph.py) and the engine (engine.py), re-exported here."""

from apps.recommendations.models.engine import *  # noqa: F403
from apps.recommendations.models.graph import GraphOutbox as GraphOutbox
