"""Celery tasks: recommendations (thin: load by id, call the service)."""
