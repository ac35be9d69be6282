"""The web application as ASGI: what the production image and `make run` serve (gunicorn with
uvicorn workers, `uvicorn_worker.UvicornWorker`), so a long server-sent-events answer holds a
coroutine and one thread of its own instead of one of a few gunicorn threads (docs/operations.md,
"Web server").

Django runs each synchronous view in a thread of its own request; a database connection kept open
after the request (CONN_MAX_AGE) would belong to a thread that is gone, so Django's advice for ASGI
is to close connections at the end of each request: CONN_MAX_AGE defaults to 0 in this process (an
explicit CONN_MAX_AGE still wins).
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
os.environ.setdefault("CONN_MAX_AGE", "0")

application = get_asgi_application()
