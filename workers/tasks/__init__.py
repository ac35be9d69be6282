"""Celery tasks, one module per stage; imported here so autodiscover_tasks() finds them."""

from workers.tasks import (
    boards,
    calibration,
    chunking,
    embedding,
    evaluation,
    graph_sync,
    interests,
    maintenance,
    organizations,
    outreach,
    personality,
    progress,
    recommendations,
    sources,
    users,
    webhooks,
)

__all__ = [
    "boards",
    "calibration",
    "chunking",
    "embedding",
    "evaluation",
    "graph_sync",
    "interests",
    "maintenance",
    "organizations",
    "outreach",
    "personality",
    "progress",
    "recommendations",
    "sources",
    "users",
    "webhooks",
]
