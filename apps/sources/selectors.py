"""Reads of website sources: a bot's sources with the counts of their current run, one source, its pages."""

from django.db.models import Count, F, Q
from rest_framework.exceptions import NotFound

from apps.sources.models import CrawlPage, CrawlSource


def source_list(*, organization, bot):
    current = Q(pages__run=F("run"))
    counts = {
        f"pages_{state}": Count("pages", filter=current & Q(pages__state=state)) for state in CrawlPage.State.values
    }
    # The model's ordering, said again: Django leaves Meta.ordering out of a query with GROUP BY (the counts), and the
    # list's pages would come in no stated order.
    return (
        CrawlSource.objects.filter(organization=organization, bot=bot)
        .annotate(pages_total=Count("pages", filter=current), **counts)
        .order_by("-created_at", "-id")
    )


def source_get(*, organization, bot, source_id: int) -> CrawlSource:
    source = source_list(organization=organization, bot=bot).filter(pk=source_id).first()
    if source is None:
        raise NotFound("Source not found.")
    return source


def source_pages(*, source: CrawlSource, filters: dict | None = None):
    """The source's pages, the current run's first (then older ones, retired ones last)."""
    pages = CrawlPage.objects.filter(source=source)
    if (filters or {}).get("state"):
        pages = pages.filter(state=filters["state"])
    return pages.order_by("-run", "depth", "id")
