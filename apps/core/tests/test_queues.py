"""Every queue a task is routed to has a worker, in `make run` (devstack) and in compose; the long jobs that need no
embedding model (training, campaigns) are on `bulk`, never on the `ingestion` queue uploads wait for.

Coverage: the queues of `CELERY_TASK_ROUTES` and the default one are each consumed by one of devstack's worker
commands and by one service of docker-compose.yml; `recommendations.train`, `outreach.generate`, `outreach.send` and
`bots.purge` route to `bulk`, documents and catalog embeddings to `ingestion`, e-mail to `mail` (its own worker), the
graph drain to the default queue.
"""

from pathlib import Path

import yaml

from apps.core.management.commands.devstack import worker_commands
from apps.core.metrics import queue_names
from config.celery_app import app

ROOT = Path(__file__).resolve().parents[3]


def consumed(command: list[str]) -> set[str]:
    """The queues a `celery worker` command line consumes (-Q a,b)."""
    if "worker" not in command or "-Q" not in command:
        return set()
    return set(command[command.index("-Q") + 1].split(","))


def test_every_queue_has_a_worker_in_make_run_and_in_compose():
    queues = set(queue_names())
    assert {"celery", "ingestion", "bulk", "mail"} <= queues
    devstack = set().union(*(consumed(command) for command in worker_commands(concurrency=2).values()))
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    compose = set().union(*(consumed([str(part) for part in s.get("command") or []]) for s in services.values()))
    assert queues <= devstack, queues - devstack
    assert queues <= compose, queues - compose


def test_long_jobs_without_the_model_run_on_bulk():
    def queue(task: str) -> str:
        route = app.amqp.router.route({}, task)
        return route["queue"].name

    assert queue("recommendations.train") == queue("outreach.generate") == queue("outreach.send") == "bulk"
    assert queue("documents.extract_chunk") == queue("progress.content_embed") == "ingestion"
    assert queue("bots.purge") == "bulk"
    assert queue("mail.invitations") == queue("mail.password_reset") == "mail"
    assert queue("graph.sync_drain") == queue("webhooks.deliveries_purge") == "celery"
