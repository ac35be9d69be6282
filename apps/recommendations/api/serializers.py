"""Serializers of the recommendations API."""

from django.conf import settings
from rest_framework import serializers

from apps.core.fields import PatternCharField, comma_list_pattern
from apps.core.serializers import QuerySerializer
from apps.progress.models import ContentKind

MAX_ID = 2**63 - 1


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


class RecommendationParamsSerializer(QuerySerializer):
    user = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_ID,
        help_text="Whose recommendations (default: yourself; required for API keys).",
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
        if attrs["offset"] + attrs["limit"] > settings.REC_MAX_RESULTS:
            raise serializers.ValidationError(
                {"offset": [f"offset + limit can be at most {settings.REC_MAX_RESULTS}."]}
            )
        return attrs


class LimitParamsSerializer(QuerySerializer):
    limit = serializers.IntegerField(required=False, min_value=1, max_value=50, default=10)


class RecommendedItemSerializer(serializers.Serializer):
    id = serializers.IntegerField()
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
