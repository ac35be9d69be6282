"""Celery tasks: progress (thin: load by id, call the service)."""
