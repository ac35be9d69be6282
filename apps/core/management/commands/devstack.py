"""`manage.py devstack` (what `make run` calls): the whole platform in one terminal.

Starts the embedded services (through the settings), migrates, seeds the demo organization (its
owner, and unless `--no-seed` or BEACON_DEMO_SEED=0 its content: the first-run steps of
apps/core/firstrun.py), then runs the web server, a Celery worker, Celery beat and Flower as child processes and
prints their URLs. Ctrl-C (or any child dying) stops all four; the embedded PostgreSQL, Redis
and graph server keep running for the next start (`make stop` stops them).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from apps.core import embedded
from apps.core.firstrun import first_run


def web_command(*, host: str, port: int, reload: bool = False) -> list[str]:
    """The web server of the embedded stack (module docstring), as in the production image: gunicorn
    with uvicorn workers serving config.asgi, so open SSE answers do not hold a thread each
    (config/asgi.py); the realistic-import benchmark runs the same command."""
    command = [
        sys.executable, "-m", "gunicorn", "-c", "python:config.gunicorn", "config.asgi:application",
        "-k", "uvicorn_worker.UvicornWorker",
        "--bind", f"{host}:{port}",
        "--workers", os.environ.get("BEACON_WEB_WORKERS", "3"),
        "--timeout", os.environ.get("BEACON_WEB_TIMEOUT", "120"),
        "--access-logfile", "-",
    ]  # fmt: skip
    if reload:
        command.append("--reload")
    return command


def bulk_concurrency() -> int:
    """Children of the `bulk` worker (CELERY_BULK_CONCURRENCY, default 1): trainings and campaigns of several
    organizations run one after another with one; more run side by side, each taking a core while it runs."""
    return max(1, int(os.environ.get("CELERY_BULK_CONCURRENCY", "1")))


def mail_concurrency() -> int:
    """Threads of the `mail` worker (CELERY_MAIL_CONCURRENCY, default 4): each task waits on a mail server."""
    return max(1, int(os.environ.get("CELERY_MAIL_CONCURRENCY", "4")))


def worker_commands(*, concurrency: int, loglevel: str = "info") -> dict[str, list[str]]:
    """Four workers: `worker` for the `ingestion` queue (documents, embeddings, personality; `concurrency`
    children), `worker-light` for the `celery` queue (graph drain, sweeps, housekeeping; one child),
    `worker-bulk` for the `bulk` queue (recommendation training, campaign generation and sending, bot purges;
    `CELERY_BULK_CONCURRENCY` children, one by default) and `worker-mail` for the `mail` queue (invitations,
    password resets; `CELERY_MAIL_CONCURRENCY` threads: the tasks wait on the network, and a reset no longer waits
    for an embedding task to free an ingestion child).
    With one worker on both queues, two long ingestion tasks held both children and every 5-second graph drain
    expired unrun: after a 1,000,000-event import the outbox stopped moving while personality recomputes ran
    (benchmarks/realistic_import.py). With training and campaigns on `ingestion`, a training and a campaign held
    both of its children and uploads waited for them."""
    celery = [sys.executable, "-m", "celery", "-A", "config.celery_app", "worker", "-l", loglevel]
    return {
        "worker": [*celery, f"--concurrency={concurrency}", "-n", "dev@%h", "-Q", "ingestion"],
        "worker-light": [*celery, "--concurrency=1", "-n", "light@%h", "-Q", "celery"],
        "worker-bulk": [*celery, f"--concurrency={bulk_concurrency()}", "-n", "bulk@%h", "-Q", "bulk"],
        "worker-mail": [
            *celery,
            "--pool=threads",
            f"--concurrency={mail_concurrency()}",
            "-n",
            "mail@%h",
            "-Q",
            "mail",
        ],
    }


class Command(BaseCommand):
    help = "Run web, Celery worker, Celery beat and Flower together (development)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("BEACON_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("BEACON_PORT", "8000")))
        parser.add_argument("--flower-port", type=int, default=int(os.environ.get("FLOWER_PORT", "5555")))
        parser.add_argument("--concurrency", type=int, default=int(os.environ.get("CELERY_CONCURRENCY", "2")))
        parser.add_argument(
            "--no-seed",
            dest="seed",
            action="store_false",
            default=os.environ.get("BEACON_DEMO_SEED", "1").strip().lower() not in ("0", "false", "no", "off"),
            help="Skip the demo content (bot, documents, catalog, learners, recommender); also BEACON_DEMO_SEED=0.",
        )

    def handle(self, *args, host, port, flower_port, concurrency, seed, **options):
        from config.settings._embedded import refuse_published_key

        try:
            # local.py checks BEACON_HOST; --host can differ from it (issue 13).
            refuse_published_key(secret_key=settings.SECRET_KEY, host=host)
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        base = f"http://{host}:{port}"
        if not os.environ.get("BEACON_PUBLIC_URL"):
            # The links Beacon writes (widget snippet, e-mails) point at this server, also when --host or --port
            # differ from BEACON_HOST/BEACON_PORT (which local.py's default follows): in this process (the demo's
            # seed) and in the ones it starts.
            public_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else f"[{host}]" if ":" in host else host
            os.environ["BEACON_PUBLIC_URL"] = settings.BEACON_PUBLIC_URL = f"http://{public_host}:{port}"
        call_command("migrate", interactive=False, verbosity=0)
        call_command("seed_demo", stdout=self.stdout)
        first_run_urls = first_run(base_url=base) if seed else []
        python = sys.executable
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "config.settings.local"),
        }
        flower_env = {**env}
        if host in ("127.0.0.1", "localhost"):
            # Loopback only: Flower's API may answer without auth in development.
            flower_env.setdefault("FLOWER_UNAUTHENTICATED_API", "true")
        celery = [python, "-m", "celery", "-A", "config.celery_app"]
        processes = {
            "web": (web_command(host=host, port=port, reload=settings.DEBUG), env),
            **{name: (command, env) for name, command in worker_commands(concurrency=concurrency).items()},
            "beat": ([*celery, "beat", "-l", "info", "--schedule", str(embedded.home() / "celerybeat-schedule")], env),
            "flower": ([*celery, "flower", f"--address={host}", f"--port={flower_port}"], flower_env),
        }
        children: dict[str, subprocess.Popen] = {}
        for name, (command, child_env) in processes.items():
            children[name] = subprocess.Popen(command, env=child_env, start_new_session=True)

        self.stdout.write(
            self.style.SUCCESS("\nBeacon is starting:\n")
            + f"  API docs (Swagger)  {base}/api/docs/\n"
            + f"  ReDoc               {base}/api/redoc/\n"
            + f"  Admin               {base}/admin/\n"
            + f"  Health              {base}/health/\n"
            + f"  Flower              http://{host}:{flower_port}/\n"
            + "".join(f"  {label:<20}{url}\n" for label, url in first_run_urls)
            + "Press Ctrl-C to stop web, worker, beat and Flower.\n"
        )

        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        exit_code = 0
        try:
            while not stopping:
                for name, child in children.items():
                    if child.poll() is not None:
                        self.stderr.write(f"{name} exited with code {child.returncode}; stopping the others.")
                        exit_code = child.returncode or 1
                        stopping = True
                        break
                time.sleep(0.5)
        finally:
            self.terminate(children)
        self.stdout.write("Stopped. Embedded PostgreSQL/Redis/graph keep running; `make stop` stops them.")
        if exit_code:
            raise SystemExit(exit_code)

    @staticmethod
    def terminate(children: dict[str, subprocess.Popen]) -> None:
        """SIGTERM each child's process group, SIGKILL what is left after 10 s (also used by
        benchmarks/realistic_import.py)."""
        for child in children.values():
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for child in children.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
