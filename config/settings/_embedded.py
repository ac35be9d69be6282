"""Fill unset service URLs from the embedded stack (local and test settings only).

Imported before `base` so that base keeps reading everything from the environment. A variable
that is set wins; `NEO4J_URI` set to an empty string turns the graph off instead. `REDIS_URL`
points at the plain embedded Redis, `NEO4J_URI` at the separate graph server's Bolt endpoint.
"""

import os


def use_embedded_services(*, redis_db: int) -> None:
    """`redis_db` is the base Redis database: broker `redis_db`, Celery results `redis_db + 1`,
    cache `redis_db + 2` (see base.py), so development (0) and tests (4) never share a key."""
    from apps.core import embedded

    if not os.environ.get("DATABASE_URL"):
        info = embedded.postgres_ensure()
        # A unix-socket host goes in the path, percent-encoded (django-environ's convention).
        socket_dir = info.socket_dir.replace("/", "%2F")
        os.environ["DATABASE_URL"] = f"postgres://{info.user}@:{info.port}/{socket_dir}/{embedded.database_name()}"
    if not os.environ.get("REDIS_URL"):
        os.environ["REDIS_URL"] = embedded.redis_url(redis_db)
    if "NEO4J_URI" not in os.environ:
        os.environ["NEO4J_URI"] = embedded.bolt_uri()
        os.environ.setdefault("NEO4J_SEND_GOODBYE", "false")
