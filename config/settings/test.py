"""Tests: base + the real embedded PostgreSQL, Redis and Bolt endpoint (never SQLite or mocks).

Redis database 1 keeps test keys (cache, throttles, broker) apart from development's db 0.
"""

import os

from config.settings._embedded import use_embedded_services

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-insecure-secret-key-of-sufficient-length")
use_embedded_services(redis_db=1)

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
# The embedded Redis also hosts the FalkorDB graph, whose writes hold Redis's lock; on a loaded
# 2-core machine a graph test's cleanup can stall other commands for longer than redis-py's 5 s
# default socket timeout, so the test cache waits longer rather than failing an unrelated test.
CACHES = {
    "default": {
        **CACHES["default"],
        "KEY_PREFIX": "beacon-test",
        "OPTIONS": {"socket_timeout": 30, "socket_connect_timeout": 10},
    }
}
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Generous rates so ordinary tests never trip them; throttling tests override them.
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {"anon": "10000/min", "user": "10000/min", "api_key": "10000/min", "auth": "10000/min"},
}
CELERY_TASK_TIME_LIMIT = 120
CELERY_TASK_SOFT_TIME_LIMIT = 100
# Serve static files from the apps without collectstatic (no STATIC_ROOT scan at start).
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True
