"""Celery tasks, one module per stage; imported here so autodiscover_tasks() finds them."""

from workers.tasks import maintenance

__all__ = ["maintenance"]
