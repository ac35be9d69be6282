"""The crawl task runs on the ingestion queue; beat sweeps the due and the lost crawls."""

from datetime import timedelta

from django.conf import settings

from config.celery_app import app


def test_crawl_routes_to_ingestion_and_beat_sweeps():
    assert settings.CELERY_TASK_ROUTES["sources.crawl"] == {
        "queue": "ingestion",
        "priority": settings.INGESTION_PRIORITY,
    }
    entry = settings.CELERY_BEAT_SCHEDULE["sources-recrawl-due"]
    assert entry["task"] == "sources.recrawl_due"
    assert entry["schedule"] == timedelta(seconds=settings.CRAWL_SWEEP_INTERVAL_SECONDS)
    app.loader.import_default_modules()
    assert {"sources.crawl", "sources.recrawl_due"} <= set(app.tasks)
