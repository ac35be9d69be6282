"""The LOGGING dict of the settings: one line per event on stderr, JSON or plain text (LOG_FORMAT).

JSON (production default): `{"timestamp", "level", "logger", "process", "message", "request_id",
"task_id", "task_name", "exc_info"}`, the last four only when known (apps/core/logcontext.py).
Text (development default): `time LEVEL logger pid [request_id] message`.
"""

from __future__ import annotations

LOG_FORMATS = ("json", "text")


def logging_config(*, level: str, fmt: str) -> dict:
    if fmt not in LOG_FORMATS:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, not {fmt!r}.")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "apps.core.logcontext.LogContextFilter"}},
        "formatters": {
            "json": {
                "()": "pythonjsonlogger.json.JsonFormatter",
                "fmt": "%(levelname)s %(name)s %(process)d %(message)s",
                "rename_fields": {"levelname": "level", "name": "logger"},
                "timestamp": True,
            },
            "text": {
                "()": "logging.Formatter",
                "fmt": "%(asctime)s %(levelname)s %(name)s %(process)d [%(request_id)s] %(message)s",
                "defaults": {"request_id": "-"},
            },
        },
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": fmt, "filters": ["context"]}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.db.backends": {"level": "WARNING"},
            "neo4j": {"level": "WARNING"},
            "pgserver": {"level": "WARNING"},
        },
    }
