# The Celery app is imported here so that @shared_task binds to it (cookiecutter-django).
from .celery_app import app as celery_app

__all__ = ("celery_app",)
