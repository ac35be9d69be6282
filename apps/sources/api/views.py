"""Website sources of a bot: /api/v1/orgs/{org}/bots/{bot}/sources/ (docs/sources.md)."""

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from apps.bots.tenancy import BotScopedApi
from apps.core.fields import WebUrlField
from apps.core.pagination import paginate, paginated_schema
from apps.core.serializers import QuerySerializer
from apps.sources import selectors
from apps.sources.models import CrawlPage, CrawlSource
from apps.sources.services import crawl_cancel, crawl_start, source_create, source_delete


class SourceOutputSerializer(serializers.ModelSerializer):
    pages_total = serializers.IntegerField(help_text="Pages the current run has reached (queued included).")
    pages_queued = serializers.IntegerField()
    pages_ingested = serializers.IntegerField(help_text="New or changed pages sent to ingestion in this run.")
    pages_unchanged = serializers.IntegerField()
    pages_skipped = serializers.IntegerField(help_text="robots.txt, content type or page limit.")
    pages_failed = serializers.IntegerField()
    pages_retired = serializers.IntegerField(help_text="Gone from the site: their documents were deleted.")

    class Meta:
        model = CrawlSource
        fields = [
            "id", "url", "kind", "max_pages", "max_depth", "recrawl_every_hours", "delay_seconds", "status", "run",
            "cancel_requested", "error", "crawl_started_at", "crawl_finished_at", "next_crawl_at", "created_at",
            "pages_total", "pages_queued", "pages_ingested", "pages_unchanged", "pages_skipped", "pages_failed",
            "pages_retired",
        ]  # fmt: skip


class PageOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = CrawlPage
        fields = [
            "id", "url", "depth", "run", "state", "http_status", "error", "document", "etag", "last_modified",
            "fetched_at",
        ]  # fmt: skip


def _source_out(view, source_id: int):
    source = selectors.source_get(organization=view.organization, bot=view.bot, source_id=source_id)
    return SourceOutputSerializer(source).data


class SourceListCreateApi(BotScopedApi):
    class InputSerializer(serializers.Serializer):
        url = WebUrlField(max_length=1000, help_text="The start page (kind=site) or the sitemap (kind=sitemap).")
        kind = serializers.ChoiceField(choices=CrawlSource.Kind.choices, default=CrawlSource.Kind.SITE)
        max_pages = serializers.IntegerField(min_value=1, max_value=settings.CRAWL_MAX_PAGES_LIMIT, required=False)
        max_depth = serializers.IntegerField(min_value=0, max_value=20, required=False)
        recrawl_every_hours = serializers.IntegerField(
            min_value=1, max_value=24 * 365, required=False, allow_null=True, default=None
        )
        delay_seconds = serializers.FloatField(
            min_value=0,
            max_value=600,
            required=False,
            allow_null=True,
            default=None,
            help_text="Seconds between two page requests; empty: the server's default. robots.txt's Crawl-delay "
            "wins when longer.",
        )

    @extend_schema(operation_id="sources_list", responses=paginated_schema(SourceOutputSerializer), tags=["sources"])
    def get(self, request, org_slug, bot_id):
        return paginate(
            self, request, selectors.source_list(organization=self.organization, bot=self.bot), SourceOutputSerializer
        )

    @extend_schema(
        operation_id="sources_create",
        request=InputSerializer,
        responses={201: SourceOutputSerializer},
        tags=["sources"],
        description="Add a website (a start URL, or a sitemap URL) and queue its first crawl. 400 for a URL Beacon "
        "will not fetch (not http(s), unresolvable, a private address), 409 when the bot has this URL already.",
    )
    def post(self, request, org_slug, bot_id):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        person = request.user if getattr(request.user, "pk", None) else None
        source = source_create(organization=self.organization, bot=self.bot, created_by=person, **data.validated_data)
        return Response(_source_out(self, source.pk), status=status.HTTP_201_CREATED)


class SourceDetailApi(BotScopedApi):
    @extend_schema(operation_id="sources_retrieve", responses=SourceOutputSerializer, tags=["sources"])
    def get(self, request, org_slug, bot_id, source_id):
        return Response(_source_out(self, source_id))

    @extend_schema(operation_id="sources_destroy", responses={204: None}, tags=["sources"])
    def delete(self, request, org_slug, bot_id, source_id):
        source = selectors.source_get(organization=self.organization, bot=self.bot, source_id=source_id)
        source_delete(source=source)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SourcePagesApi(BotScopedApi):
    class FilterSerializer(QuerySerializer):
        state = serializers.ChoiceField(choices=CrawlPage.State.choices, required=False)

    @extend_schema(
        operation_id="sources_pages",
        parameters=[FilterSerializer],
        responses=paginated_schema(PageOutputSerializer),
        tags=["sources"],
    )
    def get(self, request, org_slug, bot_id, source_id):
        source = selectors.source_get(organization=self.organization, bot=self.bot, source_id=source_id)
        filters = self.FilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        pages = selectors.source_pages(source=source, filters=filters.validated_data)
        return paginate(self, request, pages, PageOutputSerializer)


class SourceCrawlApi(BotScopedApi):
    class InputSerializer(serializers.Serializer):
        resume = serializers.BooleanField(
            default=False, help_text="Continue a cancelled or failed crawl instead of starting a new one."
        )

    @extend_schema(
        operation_id="sources_crawl", request=InputSerializer, responses={202: SourceOutputSerializer}, tags=["sources"]
    )
    def post(self, request, org_slug, bot_id, source_id):
        source = selectors.source_get(organization=self.organization, bot=self.bot, source_id=source_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        crawl_start(source=source, resume=data.validated_data["resume"])
        return Response(_source_out(self, source_id), status=status.HTTP_202_ACCEPTED)


class SourceCancelApi(BotScopedApi):
    @extend_schema(
        operation_id="sources_cancel", request=None, responses={202: SourceOutputSerializer}, tags=["sources"]
    )
    def post(self, request, org_slug, bot_id, source_id):
        source = selectors.source_get(organization=self.organization, bot=self.bot, source_id=source_id)
        crawl_cancel(source=source)
        return Response(_source_out(self, source_id), status=status.HTTP_202_ACCEPTED)
