import os

from celery import Celery

# Production is base settings + real environment; compose sets DJANGO_SETTINGS_MODULE per service.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

app = Celery("beacon")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
