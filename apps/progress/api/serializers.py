"""Input and output shapes of the progress APIs (catalog, progress, interactions)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.utils import timezone
from rest_framework import serializers

from apps.core.fields import (
    DATETIME_FROM_1970,
    AwareDateTimeField,
    PatternDateTimeField,
    WebUrlField,
    comma_list_pattern,
)
from apps.core.serializers import QuerySerializer, clean_list
from apps.progress.models import ContentItem, ContentKind, Interaction, InteractionKind, Progress
from apps.progress.services.interactions import KEY_MAX, RATING_MAX, WEIGHT_LIMIT

MAX_REFS = 100
TEN_YEARS = 10 * 365 * 24 * 3600


class CommaListField(serializers.CharField):
    """`a,b,c` in a query string -> ["a", "b", "c"], each checked against `choices` when given."""

    def __init__(self, *, choices=None, lower=False, **kwargs):
        self.allowed = list(choices) if choices else None
        self.lower = lower
        if self.allowed:
            self.schema_pattern = comma_list_pattern(self.allowed)  # see apps.core.schema
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, str) and "\x00" in data:  # DRF's NUL check would only see the resulting list
            raise serializers.ValidationError("Null characters are not allowed.")
        values = clean_list(super().to_internal_value(data).split(","), lower=self.lower)
        if self.allowed:
            unknown = [v for v in values if v not in self.allowed]
            if unknown:
                raise serializers.ValidationError(
                    f"Unknown value(s) {', '.join(unknown)}; expected any of {', '.join(self.allowed)}."
                )
        return values


# --------------------------------------------------------------------------- catalog


class ContentFieldsSerializer(serializers.Serializer):
    """The stored fields of an item (shared by the single-item API and bulk rows)."""

    external_id = serializers.CharField(
        max_length=255, required=False, allow_null=True, help_text="Your system's id; unique in the organization."
    )
    title = serializers.CharField(max_length=300)
    description = serializers.CharField(required=False, allow_blank=True, max_length=20_000)
    body = serializers.CharField(required=False, allow_blank=True, max_length=500_000)
    kind = serializers.ChoiceField(choices=ContentKind.choices, required=False)
    url = WebUrlField(required=False, allow_blank=True, max_length=1000)
    tags = serializers.ListField(
        child=serializers.CharField(max_length=64),
        required=False,
        max_length=50,
        help_text="Lower-cased, de-duplicated.",
    )
    categories = serializers.ListField(child=serializers.CharField(max_length=100), required=False, max_length=20)
    difficulty = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=5)
    duration_minutes = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=1_000_000)
    position = serializers.IntegerField(
        required=False, min_value=0, max_value=1_000_000, help_text="Order within the parent (new children: last)."
    )
    metadata = serializers.DictField(required=False, help_text="Free-form JSON object.")
    active = serializers.BooleanField(required=False)

    def validate_external_id(self, value):
        if value is not None and not value.strip():
            raise serializers.ValidationError("May not be blank; use null for none.")
        return value

    def validate_tags(self, value):
        return clean_list(value, lower=True)

    def validate_categories(self, value):
        return clean_list(value, lower=False)


class ContentInputSerializer(ContentFieldsSerializer):
    schema_exclusive = [("parent", "parent_external_id"), ("prerequisites", "prerequisite_external_ids")]

    parent = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        help_text="Parent item id (null: top level). Never the item itself or one inside it (400 `cycle`).",
    )
    parent_external_id = serializers.CharField(
        max_length=255, required=False, allow_null=True, help_text="Or the parent's external_id."
    )
    prerequisites = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        max_length=MAX_REFS,
        help_text="Item ids; never the item itself or one that already requires it (400 `cycle`).",
    )
    prerequisite_external_ids = serializers.ListField(
        child=serializers.CharField(max_length=255), required=False, max_length=MAX_REFS, help_text="Or external ids."
    )

    def validate(self, attrs):
        if attrs.get("parent") is not None and attrs.get("parent_external_id") is not None:
            raise serializers.ValidationError({"parent": ["Give parent or parent_external_id, not both."]})
        if "prerequisites" in attrs and "prerequisite_external_ids" in attrs:
            raise serializers.ValidationError(
                {"prerequisites": ["Give prerequisites or prerequisite_external_ids, not both."]}
            )
        if "parent_external_id" in attrs and attrs["parent_external_id"] is None and "parent" not in attrs:
            attrs["parent"] = None  # explicit "no parent"
            del attrs["parent_external_id"]
        return attrs


class ContentBulkRowSerializer(ContentFieldsSerializer):
    external_id = serializers.CharField(max_length=255, help_text="Required: rows are matched on it.")
    parent_external_id = serializers.CharField(
        max_length=255, required=False, allow_null=True, help_text="In this payload or the catalog; null: top level."
    )
    prerequisite_external_ids = serializers.ListField(
        child=serializers.CharField(max_length=255), required=False, max_length=MAX_REFS
    )


class ContentBulkInputSerializer(serializers.Serializer):
    # Rows are free-form objects here: each is validated on its own (ContentBulkRowSerializer) so a bad
    # row is rejected in the response without failing the request; only a non-object row is a 400.
    items = serializers.ListField(
        child=serializers.DictField(),
        min_length=1,
        max_length=settings.CONTENT_BULK_MAX_ITEMS,
        help_text=f"Up to {settings.CONTENT_BULK_MAX_ITEMS} rows, each an object: external_id (required), title "
        "(required), description, body, kind, url, tags, categories, difficulty, duration_minutes, position, "
        "metadata, active, parent_external_id (null: top level), prerequisite_external_ids. Rows that break a rule "
        "are rejected one by one in the response.",
    )


class ContentBulkResultSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position of the row in `items`.")
    external_id = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=["created", "updated", "unchanged", "rejected"])
    id = serializers.IntegerField(allow_null=True)
    errors = serializers.ListField(child=serializers.CharField())


class ContentBulkOutputSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    rejected = serializers.IntegerField()
    results = ContentBulkResultSerializer(many=True)


class ContentOutputSerializer(serializers.ModelSerializer):
    parent = serializers.IntegerField(source="parent_id", allow_null=True)
    parent_external_id = serializers.SerializerMethodField()
    prerequisites = serializers.SerializerMethodField()
    embedded = serializers.BooleanField(
        default=False, help_text="Whether the vector of the current title/description/tags is computed."
    )

    class Meta:
        model = ContentItem
        fields = [
            "id", "external_id", "title", "description", "body", "kind", "url", "tags", "categories", "difficulty",
            "duration_minutes", "parent", "parent_external_id", "position", "prerequisites", "metadata", "active",
            "embedded", "created_at", "updated_at",
        ]  # fmt: skip

    def get_parent_external_id(self, item) -> str | None:
        return item.parent.external_id if item.parent_id else None

    def get_prerequisites(self, item) -> list[int]:
        return [link.prerequisite_id for link in item.prerequisite_links.all()]


class ContentFilterSerializer(QuerySerializer):
    kind = CommaListField(required=False, choices=ContentKind.values, help_text="One kind or several: lesson,video.")
    tags = CommaListField(required=False, lower=True, help_text="Items having every tag given: python,beginner.")
    category = serializers.CharField(required=False, max_length=100)
    difficulty = serializers.IntegerField(required=False, min_value=1, max_value=5)
    difficulty_min = serializers.IntegerField(required=False, min_value=1, max_value=5)
    difficulty_max = serializers.IntegerField(required=False, min_value=1, max_value=5)
    active = serializers.BooleanField(required=False, allow_null=True, default=None)
    parent = serializers.IntegerField(required=False, min_value=1, help_text="Children of this item, by position.")
    top_level = serializers.BooleanField(required=False, default=False, help_text="Only items without a parent.")
    external_id = serializers.CharField(required=False, max_length=255)
    q = serializers.CharField(required=False, max_length=200, help_text="Text in the title or description, or a tag.")


# --------------------------------------------------------------------------- progress


EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)


def _not_future(value):
    """A plausible moment: not in the future (5 minutes of clock skew) and not before 1970."""
    if value is not None and value > timezone.now() + timedelta(minutes=5):
        raise serializers.ValidationError("Cannot be in the future.")
    if value is not None and value < EARLIEST:
        raise serializers.ValidationError("Cannot be before 1970-01-01.")
    return value


class ProgressTargetSerializer(serializers.Serializer):
    schema_exclusive = [("item", "item_external_id", "one"), ("user", "user_external_id")]

    item = serializers.IntegerField(required=False, min_value=1, help_text="Item id.")
    item_external_id = serializers.CharField(required=False, max_length=255, help_text="Or the item's external_id.")
    user = serializers.IntegerField(
        required=False, min_value=1, help_text="Whose progress (admins and API keys; default: the caller)."
    )
    user_external_id = serializers.CharField(required=False, max_length=255, help_text="Or the member's external_id.")
    at = PatternDateTimeField(
        required=False,
        schema_pattern=DATETIME_FROM_1970,
        help_text="When it happened (imports), from 1970 on and not in the future (a 400); default now.",
        validators=[_not_future],
    )

    def validate(self, attrs):
        if ("item" in attrs) == ("item_external_id" in attrs):
            raise serializers.ValidationError({"item": ["Give item or item_external_id (one of them)."]})
        if "user" in attrs and "user_external_id" in attrs:
            raise serializers.ValidationError({"user": ["Give user or user_external_id, not both."]})
        return attrs


class ProgressCompleteSerializer(ProgressTargetSerializer):
    schema_exclusive = [*ProgressTargetSerializer.schema_exclusive, ("time_spent_seconds", "add_seconds")]

    score = serializers.FloatField(required=False, min_value=0, max_value=100)
    time_spent_seconds = serializers.IntegerField(
        required=False, min_value=0, max_value=TEN_YEARS, help_text="Total time spent (replaces the stored one)."
    )
    add_seconds = serializers.IntegerField(
        required=False, min_value=0, max_value=24 * 3600, help_text="Or time to add to the stored total."
    )

    def validate(self, attrs):
        attrs = super().validate(attrs)
        if "time_spent_seconds" in attrs and "add_seconds" in attrs:
            raise serializers.ValidationError(
                {"add_seconds": ["Give time_spent_seconds (the total) or add_seconds (an increment), not both."]}
            )
        return attrs


class ProgressUpdateSerializer(ProgressCompleteSerializer):
    percent = serializers.FloatField(required=False, min_value=0, max_value=100, help_text="100 completes the item.")


class ProgressOutputSerializer(serializers.ModelSerializer):
    user = serializers.IntegerField(source="user_id")
    user_email = serializers.EmailField(source="user.email")
    item = serializers.IntegerField(source="item_id")
    item_external_id = serializers.CharField(source="item.external_id", allow_null=True)
    item_title = serializers.CharField(source="item.title")

    class Meta:
        model = Progress
        fields = [
            "id", "user", "user_email", "item", "item_external_id", "item_title", "status", "percent", "score",
            "time_spent_seconds", "started_at", "completed_at", "last_activity_at",
        ]  # fmt: skip


class ProgressFilterSerializer(QuerySerializer):
    schema_exclusive = [("user", "user_external_id")]

    user = serializers.IntegerField(required=False, min_value=1, help_text="User id (members: only their own).")
    user_external_id = serializers.CharField(
        required=False, max_length=255, help_text="Or the member's external_id (not both with `user`; unknown: 404)."
    )
    status = serializers.ChoiceField(choices=Progress.Status.choices, required=False)
    item = serializers.IntegerField(required=False, min_value=1)
    parent = serializers.IntegerField(required=False, min_value=1, help_text="Progress of this item's children.")

    def validate(self, attrs):
        if "user" in attrs and "user_external_id" in attrs:
            raise serializers.ValidationError({"user": ["Give user or user_external_id, not both."]})
        return attrs


class ProgressSummaryParamsSerializer(QuerySerializer):
    schema_exclusive = [("user", "user_external_id")]

    user = serializers.IntegerField(required=False, min_value=1, help_text="User id (default: the caller).")
    user_external_id = serializers.CharField(
        required=False, max_length=255, help_text="Or the member's external_id (not both with `user`; unknown: 404)."
    )

    def validate(self, attrs):
        if "user" in attrs and "user_external_id" in attrs:
            raise serializers.ValidationError({"user": ["Give user or user_external_id, not both."]})
        return attrs


class ProgressSummarySerializer(serializers.Serializer):
    user = serializers.IntegerField()
    completed = serializers.IntegerField()
    in_progress = serializers.IntegerField()
    time_spent_seconds = serializers.IntegerField(help_text="Sum over items without children (no double counting).")
    streak_days = serializers.IntegerField(help_text="Consecutive active days ending today or yesterday.")
    longest_streak_days = serializers.IntegerField(help_text="Longest run of active days (last 400 days).")
    active_days_30 = serializers.IntegerField(help_text="Active days in the last 30 days.")
    last_activity_at = serializers.DateTimeField(allow_null=True)


# --------------------------------------------------------------------------- interactions


class InteractionInputSerializer(serializers.Serializer):
    schema_exclusive = [("item", "item_external_id", "one"), ("user", "user_external_id")]

    kind = serializers.ChoiceField(choices=InteractionKind.choices)
    item = serializers.IntegerField(required=False, min_value=1)
    item_external_id = serializers.CharField(required=False, max_length=255)
    user = serializers.IntegerField(required=False, min_value=1, help_text="Admins and API keys; default the caller.")
    user_external_id = serializers.CharField(required=False, max_length=255)
    weight = serializers.FloatField(
        required=False, min_value=-WEIGHT_LIMIT, max_value=WEIGHT_LIMIT, help_text="Default: by kind."
    )
    value = serializers.FloatField(
        required=False, allow_null=True, help_text=f"Rating 0..{RATING_MAX:g} (required for rate), purchase amount..."
    )
    occurred_at = AwareDateTimeField(
        required=False,
        help_text="With its time zone, from 1970 on and not in the future (a 400); default now.",
        validators=[_not_future],
    )
    idempotency_key = serializers.CharField(required=False, max_length=KEY_MAX, help_text="Retries never double-count.")

    def validate(self, attrs):
        if ("item" in attrs) == ("item_external_id" in attrs):
            raise serializers.ValidationError({"item": ["Give item or item_external_id (one of them)."]})
        if "user" in attrs and "user_external_id" in attrs:
            raise serializers.ValidationError({"user": ["Give user or user_external_id, not both."]})
        return attrs


class InteractionOutputSerializer(serializers.ModelSerializer):
    user = serializers.IntegerField(source="user_id")
    item = serializers.IntegerField(source="item_id")
    item_external_id = serializers.SerializerMethodField(help_text="The item's catalog external_id, if it has one.")

    class Meta:
        model = Interaction
        fields = [
            "id", "user", "item", "item_external_id", "kind", "weight", "value", "occurred_at", "idempotency_key",
            "created_at",
        ]  # fmt: skip

    def get_item_external_id(self, interaction) -> str | None:
        # Lists prefetch the page's items (selectors.interaction_list); a just-recorded event has its item loaded.
        return interaction.item.external_id


class InteractionBatchInputSerializer(serializers.Serializer):
    """Documentation only: rows are checked by the service's light validator (one reason per bad row)."""

    events = serializers.ListField(
        child=serializers.DictField(),
        min_length=1,
        max_length=settings.INTERACTION_BATCH_MAX_EVENTS,
        help_text=f"Up to {settings.INTERACTION_BATCH_MAX_EVENTS} events, each an object: idempotency_key "
        "(required, at most 200 characters), kind (view, start, complete, like, save, share, purchase, rate, dismiss), "
        "item or item_external_id, user or user_external_id (default: the caller; required with an API key), "
        "weight (-100..100, default by kind), value (number; required 0..5 for rate, >= 0 for purchase), "
        "occurred_at (ISO 8601 with a time zone, default now). Rows that break a rule are rejected one by one.",
    )


class InteractionBatchResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    idempotency_key = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=["duplicate", "rejected"])
    reason = serializers.CharField()


class InteractionBatchOutputSerializer(serializers.Serializer):
    received = serializers.IntegerField()
    created = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    rejected = serializers.IntegerField()
    results = InteractionBatchResultSerializer(many=True, help_text="Only the rows that were not created.")


class InteractionFilterSerializer(QuerySerializer):
    schema_exclusive = [("user", "user_external_id"), ("item", "item_external_id")]

    user = serializers.IntegerField(required=False, min_value=1, help_text="User id (members: only their own).")
    user_external_id = serializers.CharField(
        required=False, max_length=255, help_text="Or the member's external_id (not both with `user`; unknown: 404)."
    )
    item = serializers.IntegerField(required=False, min_value=1)
    item_external_id = serializers.CharField(
        required=False,
        max_length=255,
        help_text="Or the item's catalog external_id (not both with `item`; unknown: 404).",
    )
    kind = CommaListField(required=False, choices=InteractionKind.values, help_text="One kind or several: view,like.")
    date_from = serializers.DateField(required=False, help_text="From this day (UTC), inclusive.")
    date_to = serializers.DateField(required=False, help_text="To this day (UTC), inclusive.")

    def validate(self, attrs):
        if attrs.get("date_from") and attrs.get("date_to") and attrs["date_from"] > attrs["date_to"]:
            raise serializers.ValidationError({"date_to": ["Must not be before date_from."]})
        if "user" in attrs and "user_external_id" in attrs:
            raise serializers.ValidationError({"user": ["Give user or user_external_id, not both."]})
        if "item" in attrs and "item_external_id" in attrs:
            raise serializers.ValidationError({"item": ["Give item or item_external_id, not both."]})
        return attrs
