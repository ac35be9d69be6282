"""Celery tasks: graph_sync (thin: load by id, call the service)."""
