"""The web application as ASGI: what the production image and `make run` serve (gunicorn with
uvicorn workers, `uvicorn_worker.UvicornWorker`), so a long server-sent-events answer holds a
coroutine and one thread of its own instead of one of a few gunicorn threads (docs/operations.md,
"Web server").

Django runs each request's synchronous code in a thread of the request's own. Django's handler starts
and joins a new thread for every request; ours (apps.core.asgi) keeps them for the next request. The
database connections are pooled (psycopg's pool, DATABASE_POOL, config/settings/base.py; an explicit
DATABASE_POOL=false goes back to CONN_MAX_AGE): a request's connection returns to the pool when its
response is closed, instead of a new PostgreSQL connection per request (about 8 ms).
"""

import os

from apps.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
os.environ.setdefault("DATABASE_POOL", "true")

application = get_asgi_application()
