import os

from celery import Celery

# Production is base settings + real environment; compose sets DJANGO_SETTINGS_MODULE per service.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")


class BeaconCelery(Celery):
    """Publishing connections (requests, beat, tasks sending tasks) give up fast on a stalled broker:
    BROKER_PUBLISH_TIMEOUT as socket and connect timeout (docs/operations.md). Consuming connections
    (the worker's fetches and acks) keep CELERY_BROKER_TRANSPORT_OPTIONS: an ack lost to a short
    stall would leave its message to be redelivered only after the visibility timeout."""

    def connection_for_write(self, url=None, **kwargs):
        from django.conf import settings

        timeout = settings.BROKER_PUBLISH_TIMEOUT
        kwargs["transport_options"] = {
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
            **(kwargs.get("transport_options") or {}),
        }
        kwargs.setdefault("connect_timeout", timeout)
        return super().connection_for_write(url, **kwargs)


app = BeaconCelery("beacon")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
