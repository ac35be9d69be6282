"""The one `environ.Env` every settings module reads from (HSG "Settings")."""

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
APPS_DIR = BASE_DIR / "apps"

env = environ.Env()

# A `.env` file is read only when asked for; real environment variables always win.
if env.bool("DJANGO_READ_DOT_ENV_FILE", default=False):
    env.read_env(str(BASE_DIR / ".env"), overwrite=False)


def redis_role_url(url: str, offset: int) -> str:
    """`url` on the Redis database `offset` above its own (`redis://h:6379/4`, 1 -> `redis://h:6379/5`).

    Gives broker, results and cache their own databases of one server. Scheme, credentials and
    query string are kept; a URL without a database counts as database 0. Other schemes
    (`unix://`) are returned unchanged: set the role URLs explicitly there.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        return url
    base = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{base + offset}"))
