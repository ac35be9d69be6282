import os

from celery import Celery
from celery.signals import setup_logging, task_postrun, task_prerun, worker_init, worker_process_init

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


@setup_logging.connect
def logging_from_django(**kwargs):
    """Workers and beat log like the web: Django's LOGGING (LOG_FORMAT json or text, with request and
    task ids; config/log.py), applied by django.setup(), which Celery's Django fixup runs before it
    sets up logging. A receiver here keeps Celery from adding its own handler and format; `-l` and
    `--logfile` are then ignored (DJANGO_LOG_LEVEL sets the level)."""


@task_prerun.connect
@task_postrun.connect
def database_connections_recycle(sender=None, **kwargs):
    """Around each task, what Django does around each request: close the connections that are broken, past
    CONN_MAX_AGE or left in a transaction, and check the kept one before its next use (CONN_HEALTH_CHECKS).
    Celery's fixup would close them all (CELERY_DB_REUSE_MAX, settings). Eager tasks run inside their
    caller's connection and transaction, which are left alone (as the fixup does)."""
    if sender is None or getattr(sender.request, "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()


@worker_process_init.connect
def worker_lower_priority(**kwargs):
    """Each worker child runs at a lower CPU priority (WORKER_NICENESS, default 10): on a machine that
    also serves requests (the embedded stack, a small VM) ingestion, embeddings, training and the graph
    drain take the cores only when requests leave them idle, so a big import never makes logins or chat
    wait for CPU. 0 keeps the inherited priority (dedicated worker containers). The niceness is a
    floor, not an increment: a solo pool sends this signal in its main process, possibly repeatedly
    (the tests' in-thread workers), and must not push it further each time."""
    from django.conf import settings

    raise_niceness(settings.WORKER_NICENESS)


@worker_init.connect
def worker_embedding_share(sender, **kwargs):
    """A prefork worker's children share the CPUs for embedding (EMBEDDING_THREADS=0 -> CPUs / children, at
    least 1): said here, in the parent before it forks them, so every child, also one replaced after
    CELERY_MAX_MEMORY_PER_CHILD, inherits it. Solo and thread pools embed in one process: all CPUs."""
    from celery import concurrency
    from celery.concurrency.prefork import TaskPool

    from apps.core.embeddings import embedding_processes_share

    pool = concurrency.get_implementation(sender.pool_cls)
    if isinstance(pool, type) and issubclass(pool, TaskPool):
        count = sender.concurrency
        embedding_processes_share(len(os.sched_getaffinity(0)) if str(count) == "auto" else int(count))


def raise_niceness(target: int) -> None:
    """Make this process's nice value at least `target` (never lower it: that needs privileges)."""
    current = os.nice(0)
    if target > current:
        os.nice(target - current)
