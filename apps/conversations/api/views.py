"""Chat API: /api/v1/orgs/{org}/bots/{bot}/conversations/ ...

Members chat and see their own conversations; admins and API keys see all of the bot's.
Answers come as one JSON response, or as server-sent events with `stream=true` or
`Accept: text/event-stream`.
"""

import csv
import io
import json

from django.db import transaction
from django.utils.decorators import method_decorator
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import renderers, serializers, status
from rest_framework.response import Response

from apps.bots.tenancy import BotScopedApi
from apps.conversations import selectors, services
from apps.conversations.api.streaming import EVENT_STREAM_SCHEMA
from apps.conversations.models import Conversation, Message
from apps.core.pagination import paginate, paginated_schema
from apps.core.serializers import QuerySerializer
from apps.core.streaming import EventStreamRenderer, StreamingResponse, sse_response
from apps.organizations.models import Role


class MessageOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Message
        fields = [
            "id", "role", "content", "status", "citations", "model", "prompt_tokens", "completion_tokens",
            "latency_ms", "feedback", "feedback_comment", "created_at",
        ]  # fmt: skip


class ConversationOutputSerializer(serializers.ModelSerializer):
    user = serializers.EmailField(source="user.email", allow_null=True, default=None)

    class Meta:
        model = Conversation
        fields = ["id", "bot_id", "channel", "title", "user", "visitor_id", "created_at", "last_message_at"]


class ConversationDetailSerializer(ConversationOutputSerializer):
    messages = MessageOutputSerializer(many=True)

    class Meta(ConversationOutputSerializer.Meta):
        fields = [*ConversationOutputSerializer.Meta.fields, "messages"]


class ChatApi(BotScopedApi):
    """Members may chat; admins see everyone's conversations."""

    write_role = Role.MEMBER

    def conversation(self, conversation_id):
        return selectors.conversation_get(
            organization=self.organization, bot=self.bot, conversation_id=conversation_id, own_user=self.own_user
        )


class ConversationFilterSerializer(QuerySerializer):
    channel = serializers.ChoiceField(choices=Conversation.Channel.choices, required=False)
    user = serializers.IntegerField(required=False, min_value=1, help_text="user id (admins)")
    date_from = serializers.DateField(required=False)
    date_to = serializers.DateField(required=False)
    negative_feedback = serializers.BooleanField(required=False, allow_null=True, default=None)
    unanswered = serializers.BooleanField(required=False, allow_null=True, default=None)

    def validate(self, attrs):
        if attrs.get("date_from") and attrs.get("date_to") and attrs["date_from"] > attrs["date_to"]:
            raise serializers.ValidationError({"date_to": ["Must not be before date_from."]})
        return attrs


class ConversationListCreateApi(ChatApi):
    class InputSerializer(serializers.Serializer):
        channel = serializers.ChoiceField(
            choices=[("api", "API")], default=Conversation.Channel.API, help_text="Widget conversations start there."
        )

    @extend_schema(
        operation_id="conversations_list",
        parameters=[ConversationFilterSerializer],
        responses=paginated_schema(ConversationOutputSerializer),
        tags=["conversations"],
    )
    def get(self, request, org_slug, bot_id):
        filters = ConversationFilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        queryset = selectors.conversation_list(
            organization=self.organization, bot=self.bot, own_user=self.own_user, filters=filters.validated_data
        )
        return paginate(self, request, queryset, ConversationOutputSerializer)

    @extend_schema(
        operation_id="conversations_create",
        request=InputSerializer,
        responses={201: ConversationOutputSerializer},
        tags=["conversations"],
    )
    def post(self, request, org_slug, bot_id):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        conversation = services.conversation_create(
            organization=self.organization,
            bot=self.bot,
            user=request.user if getattr(request.user, "pk", None) else None,
            channel=data.validated_data["channel"],
        )
        return Response(ConversationOutputSerializer(conversation).data, status=status.HTTP_201_CREATED)


class ConversationDetailApi(ChatApi):
    @extend_schema(
        operation_id="conversations_retrieve", responses=ConversationDetailSerializer, tags=["conversations"]
    )
    def get(self, request, org_slug, bot_id, conversation_id):
        conversation = self.conversation(conversation_id)
        return Response(ConversationDetailSerializer(conversation).data)

    @extend_schema(operation_id="conversations_destroy", responses={204: None}, tags=["conversations"])
    def delete(self, request, org_slug, bot_id, conversation_id):
        services.conversation_delete(conversation=self.conversation(conversation_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class TurnSerializer(serializers.Serializer):
    question = MessageOutputSerializer()
    answer = MessageOutputSerializer()


@method_decorator(transaction.non_atomic_requests, name="dispatch")
class MessageCreateApi(ChatApi):
    """Send a message; the answer comes back as JSON or, streamed, as server-sent events."""

    renderer_classes = [renderers.JSONRenderer, EventStreamRenderer]

    class InputSerializer(serializers.Serializer):
        content = serializers.CharField(max_length=4000)
        stream = serializers.BooleanField(default=False)

    @extend_schema(
        operation_id="conversations_messages_create",
        request=InputSerializer,
        responses={
            201: TurnSerializer,
            (200, "text/event-stream"): OpenApiResponse(
                EVENT_STREAM_SCHEMA,
                description="`event: token` ({text}) as the answer is written, then `event: done` with message_id, "
                "status, the checked content, citations, usage, model and latency.",
            ),
        },
        tags=["conversations"],
        description="A turn: the plan's monthly message limit (429 with `details.resets_at`), retrieval, the "
        "bot's fallback message when nothing is relevant (status `unanswered`, no model call), else the language "
        "model (or the offline extractive answerer) with checked citations.",
    )
    def post(self, request, org_slug, bot_id, conversation_id):
        conversation = self.conversation(conversation_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        turn = services.turn_prepare(conversation=conversation, content=data.validated_data["content"].strip())
        wants_stream = data.validated_data["stream"] or "text/event-stream" in request.META.get("HTTP_ACCEPT", "")
        if wants_stream:
            return sse_response(services.turn_stream(turn))
        answer = services.turn_answer(turn)
        body = TurnSerializer({"question": turn.question, "answer": answer}).data
        return Response(body, status=status.HTTP_201_CREATED)


class MessageFeedbackApi(ChatApi):
    class InputSerializer(serializers.Serializer):
        value = serializers.ChoiceField(choices=[1, -1])
        comment = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")

    @extend_schema(
        operation_id="conversations_messages_feedback",
        request=InputSerializer,
        responses=MessageOutputSerializer,
        tags=["conversations"],
    )
    def post(self, request, org_slug, bot_id, conversation_id, message_id):
        conversation = self.conversation(conversation_id)
        message = selectors.message_get(conversation=conversation, message_id=message_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        message = services.message_feedback(message=message, **data.validated_data)
        return Response(MessageOutputSerializer(message).data)


EXPORT_FIELDS = [
    "conversation_id", "channel", "user", "visitor_id", "message_id", "role", "status", "content", "citations",
    "model", "prompt_tokens", "completion_tokens", "latency_ms", "feedback", "feedback_comment", "created_at",
]  # fmt: skip


#: Messages read per round trip (a server-side cursor) and written per part of the streamed export.
EXPORT_BATCH = 1000

_EXPORT_COLUMNS = {
    "conversation_id": "conversation_id",
    "channel": "conversation__channel",
    "user": "conversation__user__email",
    "visitor_id": "conversation__visitor_id",
    "message_id": "id",
    **{field: field for field in EXPORT_FIELDS[5:]},
}


def _export_batches(messages):
    """The export's rows in lists of EXPORT_BATCH, read as they are sent: an export of a whole bot (100,000
    messages) was built in memory before its first byte (18 s, 71 MB of JSON in the web process)."""
    batch = []
    for values in messages.values_list(*_EXPORT_COLUMNS.values()).iterator(chunk_size=EXPORT_BATCH):
        row = dict(zip(_EXPORT_COLUMNS, values, strict=True))
        row["user"] = row["user"] or ""
        row["created_at"] = row["created_at"].isoformat()
        batch.append(row)
        if len(batch) == EXPORT_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _export_json(messages):
    yield '{"messages": ['
    separator = ""
    for batch in _export_batches(messages):
        yield separator + ", ".join(json.dumps(row, default=str) for row in batch)
        separator = ", "
    yield "]}"


def _export_csv(messages):
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS)
    writer.writeheader()
    for batch in _export_batches(messages):
        for row in batch:
            # Cells starting with = + - @ tab or CR are neutralised so spreadsheets never run them as formulas.
            writer.writerow(
                {
                    k: ("'" + v if isinstance(v, str) and v and v[0] in "=+-@\t\r" else v)
                    for k, v in {**row, "citations": json.dumps(row["citations"])}.items()
                }
            )
        yield out.getvalue()
        out.seek(0)
        out.truncate()
    yield out.getvalue()


def export_response(messages, export_format: str, filename: str) -> StreamingResponse:
    """The messages as JSON or CSV, streamed: read and written a batch at a time (the rows are read after the view
    returned, outside its transaction: a server-side cursor WITH HOLD)."""
    if export_format == "csv":
        response = StreamingResponse(_export_csv(messages), content_type="text/csv; charset=utf-8")
    else:
        response = StreamingResponse(_export_json(messages), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{filename}.{export_format}"'
    return response


class ExportFilterSerializer(ConversationFilterSerializer):
    export_format = serializers.ChoiceField(choices=["json", "csv"], default="json")


EXPORT_RESPONSES = {
    (200, "application/json"): OpenApiResponse(OpenApiTypes.OBJECT, description='{"messages": [...]}'),
    (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="One row per message."),
}


class ConversationExportApi(ChatApi):
    read_role = Role.ADMIN

    @extend_schema(
        operation_id="conversations_export",
        parameters=[ExportFilterSerializer],
        responses=EXPORT_RESPONSES,
        tags=["conversations"],
        description="Every message of the bot's conversations in a date range (date_from/date_to), as JSON or CSV.",
    )
    def get(self, request, org_slug, bot_id):
        params = ExportFilterSerializer(data=request.query_params.dict())
        params.is_valid(raise_exception=True)
        export_format = params.validated_data.pop("export_format")
        conversations = selectors.conversation_list(
            organization=self.organization, bot=self.bot, filters=params.validated_data
        )
        messages = selectors.messages_for_export(conversations=conversations)
        return export_response(messages, export_format, f"bot-{self.bot.pk}-conversations")


class ConversationOneExportApi(ChatApi):
    class ParamsSerializer(QuerySerializer):
        export_format = serializers.ChoiceField(choices=["json", "csv"], default="json")

    @extend_schema(
        operation_id="conversations_export_one",
        parameters=[ParamsSerializer],
        responses=EXPORT_RESPONSES,
        tags=["conversations"],
    )
    def get(self, request, org_slug, bot_id, conversation_id):
        params = self.ParamsSerializer(data=request.query_params.dict())
        params.is_valid(raise_exception=True)
        conversation = self.conversation(conversation_id)
        messages = selectors.messages_for_export(conversations=Conversation.objects.filter(pk=conversation.pk))
        return export_response(messages, params.validated_data["export_format"], f"conversation-{conversation.pk}")
