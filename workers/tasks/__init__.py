"""Celery tasks, one module per stage; imported here so autodiscover_tasks() finds them."""

from workers.tasks import (
    calibration,
    chunking,
    embedding,
    evaluation,
    graph_sync,
    interests,
    maintenance,
    personality,
    progress,
    recommendations,
    sources,
    webhooks,
)

__all__ = [
    "calibration",
    "chunking",
    "embedding",
    "evaluation",
    "graph_sync",
    "interests",
    "maintenance",
    "personality",
    "progress",
    "recommendations",
    "sources",
    "webhooks",
]
