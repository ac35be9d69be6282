"""Analytics API: /api/v1/orgs/{org}/analytics/... (issue 6). GET only.

Who may read: organization admins and owners, and API keys with the `read` scope (reporting
tools); members get 403 — the figures describe everyone's activity. Other organizations: 404.
Every endpoint takes a date range (`date_from`, `date_to`, whole days in `tz`) validated by
`apps.analytics.selectors.analytics_range`; the figures come from `apps.analytics.selectors`.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from apps.analytics import selectors as analytics
from apps.core.fields import DATE_1970_TO_9998, PatternDateField, TimeZoneField
from apps.core.serializers import QuerySerializer
from apps.organizations.models import Role
from apps.organizations.tenancy import OrganizationAPIView
from apps.progress.models import ContentKind, InteractionKind

BIGINT_MAX = 2**63 - 1
TAGS = ["analytics"]


# --------------------------------------------------------------------------- parameters


class RangeFilterSerializer(QuerySerializer):
    date_from = PatternDateField(
        required=False,
        schema_pattern=DATE_1970_TO_9998,
        help_text="First day (YYYY-MM-DD, 1970-01-01 to 9998-12-31), included; on or before `date_to`. "
        "Default: `ANALYTICS_DEFAULT_RANGE_DAYS` ago.",
    )
    date_to = PatternDateField(
        required=False,
        schema_pattern=DATE_1970_TO_9998,
        help_text="Last day (YYYY-MM-DD, 1970-01-01 to 9998-12-31), included; the range covers at most "
        "`ANALYTICS_MAX_RANGE_DAYS` days (731 by default), a longer one is a 400. Default: today.",
    )
    tz = TimeZoneField(
        required=False,
        default="UTC",
        message="Unknown time zone '{value}'; use an IANA name such as 'Europe/Paris' or 'UTC'.",
        help_text="IANA time zone of the days and periods.",
    )

    def validate(self, attrs):
        attrs["period"] = analytics.analytics_range(
            date_from=attrs.get("date_from"), date_to=attrs.get("date_to"), tz=attrs.get("tz")
        )
        return attrs


class GroupedFilterSerializer(RangeFilterSerializer):
    grouping = serializers.ChoiceField(
        choices=analytics.GROUPINGS, default="day", help_text="Period length; weeks start on Monday."
    )


class CompletionFilterSerializer(RangeFilterSerializer):
    group = serializers.ChoiceField(
        choices=["item", "course"], default="item", help_text="One row per item, or per course (kind `course`)."
    )
    kind = serializers.ChoiceField(
        choices=ContentKind.choices, required=False, help_text="Only items of this kind (group=item)."
    )
    limit = serializers.IntegerField(required=False, default=50, min_value=1, max_value=500)


class FunnelFilterSerializer(RangeFilterSerializer):
    item = serializers.IntegerField(required=False, min_value=1, max_value=BIGINT_MAX, help_text="One item's funnel.")
    kind = serializers.ChoiceField(choices=ContentKind.choices, required=False, help_text="Items of this kind only.")


class TopItemsFilterSerializer(RangeFilterSerializer):
    interaction_kind = serializers.ChoiceField(
        choices=InteractionKind.choices, required=False, help_text="Count only interactions of this kind."
    )
    kind = serializers.ChoiceField(choices=ContentKind.choices, required=False, help_text="Items of this kind only.")
    limit = serializers.IntegerField(required=False, default=10, min_value=1, max_value=100)


class BotUsageFilterSerializer(GroupedFilterSerializer):
    bot = serializers.IntegerField(required=False, min_value=1, max_value=BIGINT_MAX, help_text="One bot only.")


# --------------------------------------------------------------------------- responses


class RangeOutputSerializer(serializers.Serializer):
    date_from = serializers.DateField()
    date_to = serializers.DateField()
    tz = serializers.CharField()


class ActiveUsersPeriodSerializer(serializers.Serializer):
    period = serializers.DateField(help_text="First day of the period.")
    active_users = serializers.IntegerField()


class ActiveUsersOutputSerializer(RangeOutputSerializer):
    grouping = serializers.ChoiceField(choices=analytics.GROUPINGS)
    total_active_users = serializers.IntegerField(help_text="Distinct active users over the whole range.")
    results = ActiveUsersPeriodSerializer(many=True)


class CompletionFiguresSerializer(serializers.Serializer):
    started = serializers.IntegerField(help_text="Progress rows started in the range (the cohort).")
    completed = serializers.IntegerField(help_text="Of them, completed (by now).")
    completion_rate = serializers.FloatField(allow_null=True, help_text="completed / started; null when 0 started.")
    median_time_to_complete_seconds = serializers.FloatField(
        allow_null=True, help_text="Median of completed_at - started_at over the completed rows."
    )
    median_time_spent_seconds = serializers.FloatField(
        allow_null=True, help_text="Median reported time spent (time_spent_seconds) over the completed rows."
    )


class CompletionRowSerializer(CompletionFiguresSerializer):
    id = serializers.IntegerField()
    external_id = serializers.CharField(allow_null=True)
    title = serializers.CharField()
    kind = serializers.ChoiceField(choices=ContentKind.choices)
    children = serializers.IntegerField(help_text="Direct children (a course's lessons).")
    children_completion_rate = serializers.FloatField(
        allow_null=True, help_text="completed / started over the children's progress started in the range."
    )


class CompletionOutputSerializer(RangeOutputSerializer):
    group = serializers.ChoiceField(choices=["item", "course"])
    kind = serializers.ChoiceField(choices=ContentKind.choices, allow_null=True)
    count = serializers.IntegerField(help_text="Rows before `limit`.")
    totals = CompletionFiguresSerializer()
    results = CompletionRowSerializer(many=True)


class FunnelStepSerializer(serializers.Serializer):
    step = serializers.ChoiceField(choices=[str(step) for step in analytics.FUNNEL_STEPS])
    users = serializers.IntegerField(help_text="Distinct users with an event of this kind.")
    converted = serializers.IntegerField(help_text="Distinct users who did this and every earlier step on one item.")
    conversion_rate = serializers.FloatField(allow_null=True, help_text="converted / users of the first step.")


class FunnelOutputSerializer(RangeOutputSerializer):
    item = serializers.IntegerField(allow_null=True)
    kind = serializers.ChoiceField(choices=ContentKind.choices, allow_null=True)
    steps = FunnelStepSerializer(many=True)


class TopItemSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    external_id = serializers.CharField(allow_null=True)
    title = serializers.CharField()
    kind = serializers.ChoiceField(choices=ContentKind.choices)
    score = serializers.FloatField(help_text="Sum of the interactions' weights.")
    interactions = serializers.IntegerField()
    users = serializers.IntegerField(help_text="Distinct users.")


class TopItemsOutputSerializer(RangeOutputSerializer):
    interaction_kind = serializers.ChoiceField(choices=InteractionKind.choices, allow_null=True)
    kind = serializers.ChoiceField(choices=ContentKind.choices, allow_null=True)
    results = TopItemSerializer(many=True)


class BotFiguresSerializer(serializers.Serializer):
    conversations = serializers.IntegerField(help_text="Conversations started.")
    messages = serializers.IntegerField(help_text="questions + answers.")
    questions = serializers.IntegerField(help_text="Messages from people.")
    answers = serializers.IntegerField(help_text="Messages from the bot.")
    unanswered = serializers.IntegerField(help_text="Answers that were the fallback (nothing relevant found).")
    errors = serializers.IntegerField(help_text="Answers that failed (language model error).")
    unanswered_rate = serializers.FloatField(allow_null=True, help_text="unanswered / answers.")
    feedback_positive = serializers.IntegerField()
    feedback_negative = serializers.IntegerField()


class BotRowSerializer(BotFiguresSerializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class BotPeriodSerializer(BotFiguresSerializer):
    period = serializers.DateField()


class BotUsageOutputSerializer(RangeOutputSerializer):
    grouping = serializers.ChoiceField(choices=analytics.GROUPINGS)
    bot = serializers.IntegerField(allow_null=True)
    totals = BotFiguresSerializer()
    bots = BotRowSerializer(many=True)
    series = BotPeriodSerializer(many=True)


class RecommendationFiguresSerializer(serializers.Serializer):
    impressions = serializers.IntegerField(help_text="Recommended items shown (RecommendationLog rows).")
    clicks = serializers.IntegerField(help_text="Of those, clicked (feedback `clicked`).")
    dismissals = serializers.IntegerField(help_text="Of those, dismissed (feedback `dismissed`).")
    click_through_rate = serializers.FloatField(allow_null=True, help_text="clicks / impressions.")
    dismissal_rate = serializers.FloatField(allow_null=True, help_text="dismissals / impressions.")


class RecommendationPeriodSerializer(RecommendationFiguresSerializer):
    period = serializers.DateField()


class RecommendationSourceSerializer(RecommendationFiguresSerializer):
    source = serializers.CharField(help_text="The source that contributed most to the item (cf, content, ...).")
    series = RecommendationPeriodSerializer(many=True)


class RecommendationPositionSerializer(RecommendationFiguresSerializer):
    position = serializers.IntegerField(
        help_text=f"1-based rank; {analytics.RECOMMENDATION_POSITIONS + 1} stands for that rank and every later one."
    )
    label = serializers.CharField(
        help_text=f'"1" .. "{analytics.RECOMMENDATION_POSITIONS}", then "{analytics.RECOMMENDATION_POSITIONS + 1}+".'
    )
    series = RecommendationPeriodSerializer(many=True)


class RecommendationsOutputSerializer(RangeOutputSerializer):
    grouping = serializers.ChoiceField(choices=analytics.GROUPINGS)
    totals = RecommendationFiguresSerializer()
    sources = RecommendationSourceSerializer(many=True)
    positions = RecommendationPositionSerializer(many=True)


# --------------------------------------------------------------------------- views


class AnalyticsApi(OrganizationAPIView):
    """Admins and read-scoped API keys; members 403."""

    read_role = Role.ADMIN
    filter_serializer: type[serializers.Serializer]

    def filters(self, request) -> dict:
        filters = self.filter_serializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        return filters.validated_data


def analytics_schema(operation_id: str, filters, output, description: str):
    return extend_schema(
        operation_id=operation_id, parameters=[filters], responses=output, tags=TAGS, description=description
    )


class AnalyticsActiveUsersApi(AnalyticsApi):
    filter_serializer = GroupedFilterSerializer

    @analytics_schema(
        "analytics_active_users",
        GroupedFilterSerializer,
        ActiveUsersOutputSerializer,
        "Distinct users with at least one interaction per day, week or month (every period listed, zeros "
        "included), and over the whole range.",
    )
    def get(self, request, org_slug):
        f = self.filters(request)
        data = analytics.analytics_active_users(
            organization=self.organization, period=f["period"], grouping=f["grouping"]
        )
        return Response(ActiveUsersOutputSerializer(data).data)


class AnalyticsCompletionApi(AnalyticsApi):
    filter_serializer = CompletionFilterSerializer

    @analytics_schema(
        "analytics_completion",
        CompletionFilterSerializer,
        CompletionOutputSerializer,
        "Completion rate and median time to complete per item or per course, for the progress started in the "
        "range. Time to complete is completed_at - started_at; the reported time spent is given too.",
    )
    def get(self, request, org_slug):
        f = self.filters(request)
        data = analytics.analytics_completion(
            organization=self.organization, period=f["period"], group=f["group"], kind=f.get("kind"), limit=f["limit"]
        )
        return Response(CompletionOutputSerializer(data).data)


class AnalyticsFunnelApi(AnalyticsApi):
    filter_serializer = FunnelFilterSerializer

    @analytics_schema(
        "analytics_funnel",
        FunnelFilterSerializer,
        FunnelOutputSerializer,
        "The view -> start -> complete funnel: distinct users per step, and users who did every earlier step on "
        "the same item. An `item` of another organization is a 404.",
    )
    def get(self, request, org_slug):
        f = self.filters(request)
        data = analytics.analytics_funnel(
            organization=self.organization, period=f["period"], item_id=f.get("item"), kind=f.get("kind")
        )
        return Response(FunnelOutputSerializer(data).data)


class AnalyticsTopItemsApi(AnalyticsApi):
    filter_serializer = TopItemsFilterSerializer

    @analytics_schema(
        "analytics_top_items",
        TopItemsFilterSerializer,
        TopItemsOutputSerializer,
        "Items ranked by the sum of their interactions' weights in the range (optionally of one interaction "
        "kind), then by the number of interactions.",
    )
    def get(self, request, org_slug):
        f = self.filters(request)
        data = analytics.analytics_top_items(
            organization=self.organization,
            period=f["period"],
            interaction_kind=f.get("interaction_kind"),
            kind=f.get("kind"),
            limit=f["limit"],
        )
        return Response(TopItemsOutputSerializer(data).data)


class AnalyticsBotUsageApi(AnalyticsApi):
    filter_serializer = BotUsageFilterSerializer

    @analytics_schema(
        "analytics_bot_usage",
        BotUsageFilterSerializer,
        BotUsageOutputSerializer,
        "Per bot and per period: conversations, messages, unanswered answers and their rate, errors, feedback "
        "(+1/-1). A `bot` of another organization is a 404.",
    )
    def get(self, request, org_slug):
        f = self.filters(request)
        data = analytics.analytics_bot_usage(
            organization=self.organization, period=f["period"], grouping=f["grouping"], bot_id=f.get("bot")
        )
        return Response(BotUsageOutputSerializer(data).data)


class AnalyticsRecommendationsApi(AnalyticsApi):
    filter_serializer = GroupedFilterSerializer

    @analytics_schema(
        "analytics_recommendations",
        GroupedFilterSerializer,
        RecommendationsOutputSerializer,
        "Click-through and dismissal rates of the recommendations shown in the range, per source and per position, "
        "overall and per day, week or month (zero-filled for every source and position that appears).",
    )
    def get(self, request, org_slug):
        f = self.filters(request)
        data = analytics.analytics_recommendations(
            organization=self.organization, period=f["period"], grouping=f["grouping"]
        )
        return Response(RecommendationsOutputSerializer(data).data)
