"""gunicorn settings shared by `make run` (apps/core/management/commands/devstack.py) and the
production image (Dockerfile): `gunicorn -c python:config.gunicorn -k uvicorn_worker.UvicornWorker
config.asgi:application` (ASGI: config/asgi.py).

Command-line flags (bind, workers, worker class, timeout) stay on the command line; this module holds
the hooks.
"""


def post_worker_init(worker):
    """Load the embedding model in each web process before it takes requests: otherwise the first
    search or chat turn that a fresh process serves pays the model load (1-2 s on 2 cores), which
    showed up as the p99 of chat and search in benchmarks/realistic_import.py."""
    from apps.core.embeddings import embedder_warm_up

    embedder_warm_up()
