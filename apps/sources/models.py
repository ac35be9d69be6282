"""Website sources of a bot (issue 17, docs/sources.md): a start URL or a sitemap crawled into
documents (`source=url`), one `CrawlPage` row per URL with its state in the current run, so a crawl is
visible page by page, resumable after a lost worker and cancellable between two pages."""

from django.conf import settings
from django.db import models

from apps.core.models import OrganizationOwnedModel


class CrawlSource(OrganizationOwnedModel):
    class Kind(models.TextChoices):
        SITE = "site", "Website (start URL)"
        SITEMAP = "sitemap", "Sitemap URL"

    class Status(models.TextChoices):
        IDLE = "idle", "Idle"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        FINISHED = "finished", "Finished"
        CANCELLED = "cancelled", "Cancelled"
        FAILED = "failed", "Failed"

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    organization = models.ForeignKey(
        "organizations.Organization", on_delete=models.PROTECT, related_name="+", db_index=True
    )
    bot = models.ForeignKey("bots.Bot", on_delete=models.CASCADE, related_name="+")
    url = models.URLField(max_length=1000)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.SITE)
    max_pages = models.PositiveIntegerField()
    max_depth = models.PositiveSmallIntegerField()
    recrawl_every_hours = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: on demand only.")
    delay_seconds = models.FloatField(
        null=True,
        blank=True,
        help_text="Seconds between two page requests (empty: CRAWL_DELAY_SECONDS); robots.txt's Crawl-delay wins "
        "when longer.",
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.IDLE, db_index=True)
    # Each crawl is a new run; the pages it reached carry its number.
    run = models.PositiveIntegerField(default=0)
    cancel_requested = models.BooleanField(default=False)
    error = models.TextField(blank=True)
    crawl_started_at = models.DateTimeField(null=True, blank=True)
    crawl_finished_at = models.DateTimeField(null=True, blank=True)
    next_crawl_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["bot", "url"], name="crawl_source_unique_url_per_bot")]

    def __str__(self):
        return self.url


class CrawlPage(models.Model):
    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        INGESTED = "ingested", "Ingested (new or changed)"
        UNCHANGED = "unchanged", "Unchanged"
        SKIPPED = "skipped", "Skipped"
        FAILED = "failed", "Failed"
        RETIRED = "retired", "Retired (gone from the site)"

    organization = models.ForeignKey("organizations.Organization", on_delete=models.PROTECT, related_name="+")
    source = models.ForeignKey(CrawlSource, on_delete=models.CASCADE, related_name="pages")
    url = models.URLField(max_length=1000)
    depth = models.PositiveSmallIntegerField(default=0)
    run = models.PositiveIntegerField(default=0)
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    etag = models.CharField(max_length=300, blank=True)
    last_modified = models.CharField(max_length=100, blank=True)
    content_sha256 = models.CharField(max_length=64, blank=True)
    # The same-site links of the last body fetched: a 304 answer has none, yet its links lead on.
    links = models.JSONField(default=list, blank=True)
    document = models.ForeignKey(
        "documents.Document", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    error = models.TextField(blank=True)
    fetched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["depth", "id"]
        constraints = [models.UniqueConstraint(fields=["source", "url"], name="crawl_page_unique_url_per_source")]
        indexes = [models.Index(fields=["source", "run", "state"])]

    def __str__(self):
        return self.url
