"""Celery tasks, one module per stage; imported here so autodiscover_tasks() finds them."""

from workers.tasks import chunking, embedding, maintenance

__all__ = ["chunking", "embedding", "maintenance"]
