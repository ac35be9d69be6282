"""What the visitor API renders: the widget's look, conversations and messages with public sources."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.conversations.models import Conversation, Message
from apps.widget.selectors import citations_public


class WidgetConfigSerializer(serializers.Serializer):
    name = serializers.CharField()
    title = serializers.CharField()
    greeting = serializers.CharField(allow_blank=True)
    suggested_questions = serializers.ListField(child=serializers.CharField())
    color = serializers.CharField()
    position = serializers.ChoiceField(choices=["left", "right"])
    icon = serializers.CharField()


class CitationSerializer(serializers.Serializer):
    ref = serializers.IntegerField()
    title = serializers.CharField()
    url = serializers.CharField(allow_blank=True, allow_null=True, required=False)
    page = serializers.IntegerField(allow_null=True, required=False)
    heading_path = serializers.ListField(child=serializers.CharField(), required=False)


class WidgetMessageSerializer(serializers.ModelSerializer):
    citations = serializers.SerializerMethodField()

    class Meta:
        model = Message
        fields = ["id", "role", "content", "status", "citations", "feedback", "created_at"]

    @extend_schema_field(CitationSerializer(many=True))
    def get_citations(self, message) -> list[dict]:
        return citations_public(message.citations)


class WidgetConversationSerializer(serializers.ModelSerializer):
    messages = WidgetMessageSerializer(many=True)

    class Meta:
        model = Conversation
        fields = ["id", "title", "created_at", "last_message_at", "messages"]
