"""The web application as ASGI: what the production image and `make run` serve (gunicorn with
uvicorn workers, `uvicorn_worker.UvicornWorker`), so a long server-sent-events answer holds a
coroutine and one thread of its own instead of one of a few gunicorn threads (docs/operations.md,
"Web server").

Django runs each synchronous view in a thread of its own request; a database connection kept open
after the request (CONN_MAX_AGE) would belong to a thread that is gone, and closing it instead costs a
new PostgreSQL connection per request (about 8 ms). Django's advice for ASGI is a connection pool, so
this process turns on psycopg's (DATABASE_POOL, config/settings/base.py; an explicit DATABASE_POOL=false
goes back to a connection per request).
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
os.environ.setdefault("DATABASE_POOL", "true")

application = get_asgi_application()
