"""Serializers of the recommendations API."""

from django.conf import settings
from rest_framework import serializers

from apps.core.fields import PatternCharField, comma_list_pattern
from apps.core.serializers import QuerySerializer
from apps.progress.models import ContentKind
from apps.recommendations.selectors import TRAINING_STATES

MAX_ID = 2**63 - 1


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


class UserExternalIdMixin(serializers.Serializer):
    """`user` or `user_external_id` (the membership's external_id, issue 18), not both."""

    schema_exclusive = [("user", "user_external_id")]

    user_external_id = serializers.CharField(
        required=False,
        max_length=255,
        help_text="Or the member's external_id (as set by member sync); not both with `user` (a 400); unknown: 404.",
    )

    def validate(self, attrs):
        if "user" in attrs and "user_external_id" in attrs:
            raise serializers.ValidationError({"user": ["Give user or user_external_id, not both."]})
        return super().validate(attrs)


class RecommendationParamsSerializer(UserExternalIdMixin, QuerySerializer):
    user = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_ID,
        help_text="Whose recommendations (default: yourself; required for API keys, or `user_external_id`).",
    )  # fmt: skip
    limit = serializers.IntegerField(required=False, min_value=1, max_value=50, default=10)
    offset = serializers.IntegerField(
        required=False, min_value=0, max_value=settings.REC_MAX_RESULTS - 1, default=0,
        help_text=f"offset + limit can be at most {settings.REC_MAX_RESULTS} (`REC_MAX_RESULTS`); more is a 400.",
    )  # fmt: skip
    kind = PatternCharField(
        required=False,
        max_length=200,
        schema_pattern=comma_list_pattern(ContentKind.values),
        help_text="Comma-separated content kinds.",
    )
    tags = serializers.CharField(required=False, max_length=1000, help_text="Comma-separated tags (any of them).")
    category = serializers.CharField(required=False, max_length=100)
    exclude = PatternCharField(
        required=False,
        max_length=2000,
        schema_pattern=r"^[0-9]{1,18}(,[0-9]{1,18}){0,199}$",
        help_text="Comma-separated item ids (at most 200) to leave out.",
    )
    diversity = serializers.FloatField(
        required=False, min_value=0, max_value=1, default=0.0, help_text="0 = pure relevance, 1 = most diverse (MMR)."
    )

    def validate_kind(self, value):
        kinds = _split(value)
        unknown = sorted(set(kinds) - set(ContentKind.values))
        if unknown:
            raise serializers.ValidationError(f"Unknown kind(s): {', '.join(unknown)}.")
        return kinds

    def validate_tags(self, value):
        return _split(value)

    def validate_exclude(self, value):
        parts = _split(value)
        if not all(part.isdigit() and int(part) <= MAX_ID for part in parts) or len(parts) > 200:
            raise serializers.ValidationError("A comma-separated list of at most 200 item ids.")
        return [int(part) for part in parts]

    def validate(self, attrs):
        attrs = super().validate(attrs)
        if attrs["offset"] + attrs["limit"] > settings.REC_MAX_RESULTS:
            raise serializers.ValidationError(
                {"offset": [f"offset + limit can be at most {settings.REC_MAX_RESULTS}."]}
            )
        return attrs


class LimitParamsSerializer(QuerySerializer):
    limit = serializers.IntegerField(required=False, min_value=1, max_value=50, default=10)


class SimilarContentParamsSerializer(LimitParamsSerializer):
    schema_exclusive = [("item", "item_external_id", "one")]

    item = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_ID,
        help_text="The item's id (exactly one of item / item_external_id).",
    )
    item_external_id = serializers.CharField(
        required=False, max_length=255, help_text="Or the item's catalog external_id (exactly one of the two)."
    )

    def validate(self, attrs):
        if ("item" in attrs) == ("item_external_id" in attrs):
            raise serializers.ValidationError({"item": ["Give item or item_external_id (one of them)."]})
        return attrs


class RecommendedItemSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    external_id = serializers.CharField(allow_null=True, help_text="The catalog's external_id, if it has one.")
    title = serializers.CharField()
    kind = serializers.CharField()
    url = serializers.CharField(allow_blank=True)
    tags = serializers.ListField(child=serializers.CharField())
    categories = serializers.ListField(child=serializers.CharField())
    difficulty = serializers.IntegerField(allow_null=True)


class RecommendationSerializer(serializers.Serializer):
    log_id = serializers.IntegerField(help_text="Send clicks and dismissals to .../recommendations/{log_id}/feedback/.")
    position = serializers.IntegerField()
    item = RecommendedItemSerializer()
    score = serializers.FloatField()
    source = serializers.CharField(help_text="The source that contributed most: cf, cooccurrence, content, ...")
    reason = serializers.CharField(
        help_text="Why this item. Its personality part (', which suits your preference for videos') is included "
        "only for the user themself, or an admin when the organization enabled personality admin access; "
        "never for API keys."
    )
    sources = serializers.DictField(child=serializers.FloatField(), help_text="Each source's weighted contribution.")


class RecommendationListSerializer(serializers.Serializer):
    request_id = serializers.UUIDField()
    user = serializers.IntegerField()
    model_version = serializers.IntegerField(allow_null=True)
    cached = serializers.BooleanField()
    total = serializers.IntegerField()
    offset = serializers.IntegerField()
    limit = serializers.IntegerField()
    results = RecommendationSerializer(many=True)


class FeedbackInputSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=["clicked", "dismissed"])


class FeedbackOutputSerializer(serializers.Serializer):
    log_id = serializers.IntegerField(source="pk")
    item = serializers.IntegerField(source="item_id")
    source = serializers.CharField()
    clicked_at = serializers.DateTimeField(allow_null=True)
    dismissed_at = serializers.DateTimeField(allow_null=True)


class SimilarItemSerializer(serializers.Serializer):
    item = RecommendedItemSerializer()
    score = serializers.FloatField()
    source = serializers.CharField()
    reason = serializers.CharField()


class SimilarItemListSerializer(serializers.Serializer):
    item = serializers.IntegerField()
    item_external_id = serializers.CharField(allow_null=True)
    results = SimilarItemSerializer(many=True)


class SimilarUserSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="user.pk")
    email = serializers.EmailField(source="user.email")
    full_name = serializers.CharField(source="user.full_name")
    external_id = serializers.CharField(allow_null=True)
    score = serializers.FloatField(help_text="Cosine similarity of the users' taste factors.")


class SimilarUserListSerializer(serializers.Serializer):
    user = serializers.IntegerField()
    results = SimilarUserSerializer(many=True)


# --------------------------------------------------------------------------- operations (issue 18)


class CacheClearInputSerializer(UserExternalIdMixin):
    user = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_ID, help_text="One member's lists (or user_external_id)."
    )

    class Meta:
        ref_name = "RecommendationCacheClearInput"


class CacheClearOutputSerializer(serializers.Serializer):
    cleared = serializers.ChoiceField(choices=["user", "organization"])
    user = serializers.IntegerField(allow_null=True)


class CacheStatsSerializer(serializers.Serializer):
    keys = serializers.IntegerField(help_text="Cached lists of the organization, stale ones (until their TTL) too.")
    current_keys = serializers.IntegerField(help_text="Those under the current organization version.")
    users = serializers.IntegerField(help_text="Distinct members among current_keys.")
    complete = serializers.BooleanField(
        help_text="False when the bounded SCAN (REC_CACHE_STATS_MAX_SCAN keys) stopped early: counts are lower bounds."
    )
    memory_bytes = serializers.IntegerField(
        allow_null=True, help_text="Estimate: keys x the mean MEMORY USAGE of a sample; null without keys."
    )
    hits = serializers.IntegerField()
    misses = serializers.IntegerField()
    hit_rate = serializers.FloatField(allow_null=True, help_text="hits / (hits + misses); null before any request.")
    counting_since = serializers.IntegerField(allow_null=True, help_text="Epoch seconds of the first counted list.")
    organization_version = serializers.IntegerField(help_text="Bumped by retraining and organization clears.")


class RecommenderModelSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    algorithm = serializers.CharField()
    trained_at = serializers.DateTimeField(allow_null=True)
    duration_seconds = serializers.FloatField(allow_null=True, help_text="Wall time of the training run.")
    data_until = serializers.DateTimeField(allow_null=True, help_text="Time of the latest interaction used.")
    users_count = serializers.IntegerField()
    items_count = serializers.IntegerField()
    interactions_count = serializers.IntegerField()
    validation = serializers.JSONField(
        help_text="Validation figures as the training job computed them (nDCG@10 of the blend and each source)."
    )


class RecommenderRunSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    status = serializers.CharField(help_text="training, ready or failed.")
    created_at = serializers.DateTimeField(help_text="When the run started.")
    heartbeat_at = serializers.DateTimeField(allow_null=True, help_text="Last sign of life of a running run.")
    trained_at = serializers.DateTimeField(allow_null=True)
    duration_seconds = serializers.FloatField(allow_null=True)
    error = serializers.CharField(allow_blank=True)


class TrainingStatusSerializer(serializers.Serializer):
    state = serializers.ChoiceField(
        choices=TRAINING_STATES, help_text="idle, queued (asked for, not started), running, failed (see error)."
    )
    error = serializers.CharField(allow_blank=True, help_text="The latest run's error when state is failed.")
    queued_at = serializers.DateTimeField(allow_null=True)
    model = RecommenderModelSerializer(allow_null=True, help_text="The serving model; null before the first one.")
    latest_run = RecommenderRunSerializer(allow_null=True)


class TrainingRequestedSerializer(TrainingStatusSerializer):
    enqueued = serializers.BooleanField(help_text="False: a training was already running or queued (idempotent).")
    status_url = serializers.URLField()
