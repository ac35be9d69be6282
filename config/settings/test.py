"""Tests: base + the real embedded PostgreSQL, Redis and Bolt endpoint (never SQLite or mocks).

Redis databases 4-6 (broker, results, cache) keep test keys apart from development's 0-2.
"""

import os

from config.settings._embedded import use_embedded_services

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-insecure-secret-key-of-sufficient-length")
# Plain-text log lines (LOG_FORMAT=json to see what production writes).
os.environ.setdefault("LOG_FORMAT", "text")
# Metrics on, so the whole suite runs through django-prometheus' middleware like production with it.
os.environ.setdefault("METRICS_ENABLED", "true")
use_embedded_services(redis_db=4)
# In a pytest-xdist worker (`make test` runs two, one lane of tests each: apps/core/tests/lanes.py):
_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if _worker:
    # the workers share the CPUs, so each one's PyTorch, OpenMP and OpenBLAS threads take its share: threads for
    # every CPU in each worker spin against each other (embedding-heavy tests ran ten times slower beside the fuzz
    # lane);
    _share = max(1, len(os.sched_getaffinity(0)) // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 1))
    os.environ.setdefault("OMP_NUM_THREADS", str(_share))
if _worker.startswith("gw") and int(_worker[2:]) and os.environ.get("BEACON_TEST_WORKER") != _worker:
    # and every worker after the first has Redis databases of its own, so no worker's FLUSHDB or queue purge reaches
    # another's (its test database gets pytest-django's `_gw<n>` suffix). Applied once: the worker inherited the
    # controller's REDIS_URL, and the processes it starts (a real Celery worker, a web server) inherit its own,
    # already moved. The graph is shared (FalkorDB's Bolt endpoint does not keep a named graph apart: writes and
    # reads through `database=` missed each other), so the tests that write it all run in the `main` lane.
    from urllib.parse import urlsplit

    from django.core.exceptions import ImproperlyConfigured

    from config.env import redis_role_url

    # REDIS_URL's database and the two above it (results, cache: base.py); a role URL set explicitly is moved too.
    _roles = {"REDIS_URL": 2, "CACHE_REDIS_URL": 0, "CELERY_BROKER_URL": 0, "CELERY_RESULT_BACKEND": 0}
    for _name, _above in _roles.items():
        if os.environ.get(_name):
            _moved = redis_role_url(os.environ[_name], 3 * int(_worker[2:]))
            _parts = urlsplit(_moved)
            _db_in_query = any(part.startswith("db=") for part in _parts.query.split("&"))  # redis-py reads it first
            if _moved == os.environ[_name] or _db_in_query or int(_parts.path.strip("/") or 0) + _above > 15:
                raise ImproperlyConfigured(
                    f"pytest-xdist worker {_worker} needs Redis databases of its own: {_name} {os.environ[_name]!r} "
                    "cannot move three databases per worker within Redis's 16 (at most four workers, on redis:// "
                    "URLs with the database in the path)."
                )
            os.environ[_name] = _moved
    os.environ["BEACON_TEST_WORKER"] = _worker

from config.settings.base import *  # noqa: E402,F403
from config.settings.base import BASE_DIR, CACHES, REST_FRAMEWORK  # noqa: E402

DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = False
SECURE_SSL_REDIRECT = False
SECURE_HSTS_SECONDS = 0
BEACON_PUBLIC_URL = "http://testserver"
MEDIA_ROOT = str(BASE_DIR / ".beacon" / "test-media")
CACHES = {"default": {**CACHES["default"], "KEY_PREFIX": "beacon-test"}}
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Generous rates so ordinary tests never trip them; throttling tests override them.
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {scope: "10000/min" for scope in REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]},
}
CELERY_TASK_TIME_LIMIT = 120
CELERY_TASK_SOFT_TIME_LIMIT = 100
EMBEDDING_TASK_BUDGET_SECONDS = 30
# Serve static files from the apps without collectstatic (no STATIC_ROOT scan at start).
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True
# No debounced calibration run outlives the test whose ingestion scheduled it (it would run, a
# minute later, inside another test's worker); the calibration tests turn this on.
REFUSAL_CALIBRATION_AUTO = False
# The local test site needs no politeness; the pacing tests set their own delays.
CRAWL_DELAY_SECONDS = 0.0
