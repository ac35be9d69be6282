import logging
import os
import threading

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
    from apps.core.embeddings import embedding_processes_share

    if _prefork(sender):
        count = sender.concurrency
        embedding_processes_share(len(os.sched_getaffinity(0)) if str(count) == "auto" else int(count))


#: set in a prefork worker's parent when it consumes the ingestion queue (worker_init), read by its children
_warm_embedder = False
#: clear while a child's warm-up runs: its tasks wait for it (task_prerun)
_embedder_ready = threading.Event()
_embedder_ready.set()


@worker_init.connect
def worker_embedder_warm_mark(sender, **kwargs):
    """A prefork worker that consumes the ingestion queue, where documents are embedded, has its children load the
    local embedding model as they start (worker_embedder_warm), so the first upload after a start does not wait for
    it (4.5 s of a 5 s first upload through `make run`, docs/operations.md). Other workers (the light queue's graph
    drain, the bulk and mail queues) never load it, nor do solo and thread pools, which run in the calling process."""
    global _warm_embedder
    from django.conf import settings

    _warm_embedder = _prefork(sender) and settings.INGESTION_ROUTE["queue"] in sender.app.amqp.queues.consume_from


@worker_process_init.connect
def worker_embedder_warm(**kwargs):
    """In each child of an ingestion worker (also one replaced after CELERY_MAX_MEMORY_PER_CHILD): the local model
    loaded with one tiny encode (a remote provider: nothing), in a thread, and the child's tasks wait until it is
    done (`task_waits_for_warm_up`).

    Not in the signal itself: billiard runs it before the child reports itself up and kills a child not up within
    `worker_proc_alive_timeout` (4 s), about what a load takes on 2 cores. And no task runs beside it: importing
    sentence-transformers in one thread while a task imports in another fails on that package's circular imports
    ("partially initialized module"), which the fresh-clone CI met when the tasks did not wait. A task that arrives
    during the warm-up waits for the load it would have done itself; a failed load is logged and left to the first
    task, as before."""
    if not _warm_embedder:
        return None
    _embedder_ready.clear()
    thread = threading.Thread(target=_embedder_warm_up_logged, name="embedder-warm-up", daemon=True)
    thread.start()
    return thread


def _embedder_warm_up_logged() -> None:
    try:
        from apps.core.embeddings import embedder_warm_up

        embedder_warm_up()
    except Exception:
        logging.getLogger(__name__).exception("embedding model warm-up failed: the first document will load it")
    finally:
        _embedder_ready.set()


@task_prerun.connect
def task_waits_for_warm_up(**kwargs):
    """A task of a warming child starts once the warm-up is over, loaded or failed (at once everywhere else). No
    bound: a task going ahead would wait for the same load on get_embedder's lock anyway."""
    _embedder_ready.wait()


def _prefork(worker) -> bool:
    """Whether a starting worker (worker_init's sender) runs a prefork pool, whose children are processes of their
    own; solo and thread pools run tasks in the worker's process."""
    from celery import concurrency
    from celery.concurrency.prefork import TaskPool

    pool = concurrency.get_implementation(worker.pool_cls)
    return isinstance(pool, type) and issubclass(pool, TaskPool)


def raise_niceness(target: int) -> None:
    """Make this process's nice value at least `target` (never lower it: that needs privileges)."""
    current = os.nice(0)
    if target > current:
        os.nice(target - current)
