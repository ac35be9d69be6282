"""Serializers of the boards API: goals in and out, boards out (docs/boards.md)."""

from datetime import date

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.boards.models import Goal, VisionBoard
from apps.core.fields import DATE_1970_TO_9998, PatternDateField


class GoalInputSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=500, help_text="What the member is aiming for, in their words.")
    target_items = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, max_length=settings.BOARDS_MAX_GOAL_ITEMS,
        help_text="Catalog item ids that lead to the goal (this organization's: others are a 400 "
        "`invalid_reference`).",
    )  # fmt: skip
    target_date = PatternDateField(
        required=False,
        allow_null=True,
        schema_pattern=DATE_1970_TO_9998,
        help_text="When the member wants to get there (YYYY-MM-DD, 1970-01-01 to 9998-12-31, as every API date).",
    )

    def validate_target_date(self, value):
        if value is not None and not date(1970, 1, 1) <= value <= date(9998, 12, 31):
            raise serializers.ValidationError("A day from 1970-01-01 to 9998-12-31.")
        return value


class GoalItemSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()


class GoalOutputSerializer(serializers.ModelSerializer):
    target_items = serializers.SerializerMethodField()

    class Meta:
        model = Goal
        fields = ["id", "user", "text", "target_items", "target_date", "created_at", "updated_at"]

    @extend_schema_field(GoalItemSerializer(many=True))
    def get_target_items(self, goal) -> list[dict]:
        items = sorted(goal.target_items.all(), key=lambda item: item.pk)
        return [{"id": item.pk, "title": item.title} for item in items]


class BoardGenerateSerializer(serializers.Serializer):
    force = serializers.BooleanField(
        default=False, help_text="Generate a new version even if the inputs are unchanged (e.g. new captions)."
    )


class BoardLinksSerializer(serializers.Serializer):
    page = serializers.CharField(help_text="The responsive HTML page (same authentication).")
    svg = serializers.CharField()
    png = serializers.CharField()


class BoardOutputSerializer(serializers.ModelSerializer):
    layout = serializers.JSONField(
        help_text="The board as data: title, subtitle, width, height and themed groups (goals, milestones, next, "
        "interests), each with its caption and cards. Cards of next items carry `personal_note` (personality fit) "
        "only for the member, or admins of organizations that allow it."
    )
    links = BoardLinksSerializer()
    shared = serializers.BooleanField(help_text="Whether share links of this board are active.")

    class Meta:
        model = VisionBoard
        fields = [
            "id", "user", "version", "inputs_hash", "width", "height", "captions", "captions_note", "layout", "links",
            "shared", "created_at",
        ]  # fmt: skip


class BoardGeneratedSerializer(BoardOutputSerializer):
    created = serializers.BooleanField(help_text="False: the inputs were unchanged and this is the latest board.")

    class Meta(BoardOutputSerializer.Meta):
        fields = [*BoardOutputSerializer.Meta.fields, "created"]


class BoardsDeletedSerializer(serializers.Serializer):
    deleted = serializers.IntegerField(help_text="Boards deleted (all versions, with their files).")


class ShareOutputSerializer(serializers.Serializer):
    url = serializers.CharField(help_text="The public page; anyone with the link sees it, without personality text.")
    png_url = serializers.CharField()
    expires_at = serializers.DateTimeField()


class ShareRevokedSerializer(serializers.Serializer):
    revoked = serializers.IntegerField(help_text="Boards whose share links ended.")
