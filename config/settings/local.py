"""Development: base + embedded services when their URLs are unset, DEBUG on, console e-mail.

The secret key is DJANGO_SECRET_KEY, or else this checkout's own random key in `.beacon/secret-key`
(never a constant: a published key lets anyone mint a JWT for the demo superuser, issue 13). A
published placeholder key is refused when BEACON_HOST is not loopback (devstack checks --host too).
"""

import os

from config.settings._embedded import refuse_published_key, use_embedded_services, use_local_secret_key

use_local_secret_key()
# Plain-text log lines (LOG_FORMAT=json to see what production writes).
os.environ.setdefault("LOG_FORMAT", "text")
use_embedded_services(redis_db=0)

from config.settings.base import *  # noqa: E402,F403
from config.settings.base import REST_FRAMEWORK, SECRET_KEY, env  # noqa: E402

refuse_published_key(secret_key=SECRET_KEY, host=os.environ.get("BEACON_HOST", "127.0.0.1"))

DEBUG = env.bool("DJANGO_DEBUG", default=True)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = False
SECURE_SSL_REDIRECT = False
SECURE_HSTS_SECONDS = 0
EMAIL_BACKEND = env("DJANGO_EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
# Links Beacon writes (the widget snippet, invitation and campaign e-mails) point at the server `make run` starts:
# BEACON_HOST and BEACON_PORT (a wildcard bind address reads as this machine).
_host = os.environ.get("BEACON_HOST", "127.0.0.1")
_host = "127.0.0.1" if _host in ("0.0.0.0", "::", "") else f"[{_host}]" if ":" in _host else _host
_port = os.environ.get("BEACON_PORT", "8000")
BEACON_PUBLIC_URL = env("BEACON_PUBLIC_URL", default=f"http://{_host}:{_port}").rstrip("/")
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
}
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Serve static files from the apps without collectstatic (no STATIC_ROOT scan at start).
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True
