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


# --------------------------------------------------------------------------- secret key (issue 13)
#: keys published in this repository (settings, .env.example): whoever reads the code can sign
#: sessions, JWTs and visitor tokens with them, so none may serve anything beyond loopback.
PUBLISHED_SECRET_KEYS = frozenset(
    {
        "local-only-insecure-secret-key-do-not-use-in-production",
        "test-only-insecure-secret-key-of-sufficient-length",
        "change-me",
    }
)
SECRET_KEY_FILE = "secret-key"


def use_local_secret_key() -> None:
    """DJANGO_SECRET_KEY from the environment, or else this checkout's own random key, generated
    once and kept in `.beacon/secret-key` (mode 0600, like demo-credentials.json). Web, worker and
    beat start together and must agree on the key: the file is written whole under a temporary
    name and linked into place, so a concurrent start reads either nothing or the whole key."""
    if os.environ.get("DJANGO_SECRET_KEY"):
        return
    import secrets

    from apps.core import embedded

    path = embedded.home() / SECRET_KEY_FILE
    if not path.exists():
        temporary = path.with_name(f".{SECRET_KEY_FILE}.{os.getpid()}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(50))
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process won the race: use its key
        finally:
            temporary.unlink()
    os.environ["DJANGO_SECRET_KEY"] = path.read_text().strip()


def is_loopback(host: str) -> bool:
    """Whether a bind address reaches this machine only (127.0.0.0/8, ::1, localhost)."""
    import ipaddress

    host = host.strip().strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name or 0.0.0.0-like wildcard: assume it is reachable from outside


def refuse_published_key(*, secret_key: str, host: str) -> None:
    """Stop a server that would sign with a published key on anything but loopback."""
    if secret_key in PUBLISHED_SECRET_KEYS and not is_loopback(host):
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(
            f"Refusing to serve on {host!r} with the published placeholder DJANGO_SECRET_KEY: anyone could "
            "sign a session or JWT for any user. Unset DJANGO_SECRET_KEY (make run then uses this checkout's "
            "random key in .beacon/secret-key) or set your own, or bind to 127.0.0.1."
        )
