"""The widget's visitor API (outside /api/v1; the pages are pages.py):

    <script src="https://HOST/widget/{public_id}.js" async></script>

1. The loader (in the host page) asks `POST /widget/{public_id}/session/` for a visitor token. The
   browser sends the page's true Origin; a site that is not on the bot's allow-list gets 403 and the
   loader shows nothing. No secret is ever in the page: the token is short-lived, signed, and bound
   to the bot, the visitor and that origin.
2. The loader draws a launcher and an iframe of `/widget/{public_id}/frame/` (Beacon's own page, so
   the host page's CSS and scripts cannot reach into the chat). The frame's Content-Security-Policy
   `frame-ancestors` admits only the allowed origins, and it runs no inline script.
3. The frame talks to the visitor API with `Authorization: Visitor <token>` (authentication.py): the
   latest conversation, a new conversation, a message (answers streamed as server-sent events),
   feedback. Every call re-checks the token's origin against the allow-list; new conversations and
   messages count against the per-visitor, per-IP and per-organization rate limits (throttling.py);
   the plan's monthly message limit applies.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user, get_user_model
from django.db import transaction
from django.utils.decorators import method_decorator
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import renderers, serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.bots import selectors
from apps.bots.models import Bot
from apps.conversations import selectors as conversation_selectors
from apps.conversations import services as conversation_services
from apps.conversations.api.streaming import EVENT_STREAM_SCHEMA
from apps.conversations.models import Conversation
from apps.core.streaming import EventStreamRenderer, sse_response
from apps.widget import services as widget
from apps.widget.authentication import VisitorTokenAuthentication
from apps.widget.selectors import citations_public, preview_viewer_allowed, widget_config
from apps.widget.serializers import WidgetConfigSerializer, WidgetConversationSerializer, WidgetMessageSerializer
from apps.widget.throttling import SessionIpThrottle, VisitorThrottle


class WidgetApi(APIView):
    """The widget's endpoints outside /api/v1: no session or JWT; the bot behind the URL's public id
    is resolved first, and responses carry CORS headers for the bot's allowed origins."""

    authentication_classes = []
    permission_classes = [AllowAny]
    bot: Bot

    def perform_authentication(self, request):
        # The bot before authentication and throttles: a visitor token is verified against it, an
        # unknown widget id is a 404 before anything else, and a 429 gets the CORS headers below.
        self.bot = selectors.bot_get_public(public_id=self.kwargs["public_id"])
        super().perform_authentication(request)

    def cors(self, response, origin: str | None):
        """Cross-origin callers (the loader on the host page) see responses only when allowed."""
        origin = widget.normalise_origin(origin)
        response["Vary"] = "Origin"
        if origin and widget.origin_allowed(bot=self.bot, origin=origin, own_origin=widget.own_origin(self.request)):
            response["Access-Control-Allow-Origin"] = origin
            response["Access-Control-Expose-Headers"] = "Retry-After"
        return response

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if getattr(self, "bot", None) is not None:
            self.cors(response, request.META.get("HTTP_ORIGIN"))
        return response

    def options(self, request, *args, **kwargs):
        """CORS preflight: only allowed origins get the go-ahead."""
        widget.origin_check(bot=self.bot, origin=request.META.get("HTTP_ORIGIN"), own_origin=widget.own_origin(request))
        response = Response(status=status.HTTP_204_NO_CONTENT)
        response["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        response["Access-Control-Allow-Headers"] = "Authorization, Content-Type, Accept"
        response["Access-Control-Max-Age"] = "600"
        return response


class VisitorApi(WidgetApi):
    """Public endpoints: no session or JWT; the visitor token is the credential."""

    # (That docstring is also the schema's description of the operations that state none.) A valid
    # `Authorization: Visitor <token>` makes `request.auth` the visitor (authentication.py).

    authentication_classes = [VisitorTokenAuthentication]

    @property
    def visitor(self) -> widget.Visitor:
        return self.request.auth

    def conversation(self, conversation_id: int) -> Conversation:
        return conversation_selectors.widget_conversation_get(
            bot=self.bot,
            visitor_id=self.visitor.visitor_id,
            user_id=self.visitor.user_id,
            conversation_id=conversation_id,
        )


class WidgetSessionApi(WidgetApi):
    throttle_classes = [*APIView.throttle_classes, SessionIpThrottle]

    def check_preview_access(self, request) -> None:
        """A session for Beacon's own origin (not a listed site) needs a signed-in member: otherwise
        anyone could chat with any bot (and spend its organization's messages) from the preview."""
        origin = widget.normalise_origin(request.META.get("HTTP_ORIGIN"))
        listed = {widget.normalise_origin(o) for o in self.bot.allowed_origins}
        own = origin in {widget.own_origin(request), widget.beacon_origin()} and origin not in listed
        # The session user, read from the cookie (this API itself authenticates no one: DRF has
        # replaced request.user with an anonymous one).
        if own and not preview_viewer_allowed(get_user(request._request), self.bot):
            raise widget.WidgetDenied(
                "On Beacon's own pages the widget is a preview for the organization's members: sign in first.",
                code="preview_sign_in_required",
            )

    class InputSerializer(serializers.Serializer):
        visitor_token = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=2000)
        user_id = serializers.CharField(required=False, allow_blank=True, max_length=255)
        user_hash = serializers.CharField(required=False, allow_blank=True, max_length=128)
        user_expires = serializers.IntegerField(
            required=False,
            allow_null=True,
            min_value=0,
            max_value=2**53,
            help_text="Optional expiry (epoch seconds), signed with the id: user_hash = HMAC(secret, 'id:expires').",
        )

    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField()
        expires_in = serializers.IntegerField()
        visitor_id = serializers.CharField()
        identified = serializers.BooleanField()
        config = WidgetConfigSerializer()

    @extend_schema(
        operation_id="widget_session",
        request=InputSerializer,
        responses={200: OutputSerializer},
        tags=["widget"],
        description="A visitor token for the calling page's Origin (403 unless the bot allows it), with the "
        "widget's look. An earlier token keeps the visitor's conversation; user_id + user_hash (HMAC-SHA256 of the "
        "user id with the bot's identity secret, computed by the host site's backend) link an organization member.",
    )
    def post(self, request, public_id):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        self.check_preview_access(request)
        token, visitor = widget.widget_session_start(
            bot=self.bot,
            origin=request.META.get("HTTP_ORIGIN"),
            own_origin=widget.own_origin(request),
            previous_token=data.validated_data.get("visitor_token"),
            user_id=data.validated_data.get("user_id") or None,
            user_hash=data.validated_data.get("user_hash") or None,
            user_expires=data.validated_data.get("user_expires"),
        )
        if visitor.user_id is not None:
            conversation_services.widget_conversations_link_user(
                bot=self.bot, visitor_id=visitor.visitor_id, user_id=visitor.user_id
            )
        body = {
            "token": token,
            "expires_in": settings.WIDGET_TOKEN_TTL_SECONDS,
            "visitor_id": visitor.visitor_id,
            "identified": visitor.user_id is not None,
            "config": widget_config(self.bot),
        }
        return Response(self.OutputSerializer(body).data)


class WidgetConversationCurrentApi(VisitorApi):
    class OutputSerializer(serializers.Serializer):
        conversation = WidgetConversationSerializer(allow_null=True)

    @extend_schema(
        operation_id="widget_conversation_current",
        responses={200: OutputSerializer},
        tags=["widget"],
        description="The visitor's latest conversation with its messages (null when there is none yet).",
    )
    def get(self, request, public_id):
        conversation = (
            conversation_selectors.widget_conversation_list(
                bot=self.bot, visitor_id=self.visitor.visitor_id, user_id=self.visitor.user_id
            )
            .prefetch_related("messages")
            .first()
        )
        return Response({"conversation": WidgetConversationSerializer(conversation).data if conversation else None})


class WidgetConversationCreateApi(VisitorApi):
    throttle_classes = [*APIView.throttle_classes, VisitorThrottle]

    @extend_schema(
        operation_id="widget_conversation_create",
        request=None,
        responses={201: WidgetConversationSerializer},
        tags=["widget"],
        description="Start a new conversation (the widget's 'new conversation').",
    )
    def post(self, request, public_id):
        conversation = conversation_services.conversation_create(
            organization=self.bot.organization,
            bot=self.bot,
            user=get_user_model().objects.filter(pk=self.visitor.user_id).first() if self.visitor.user_id else None,
            visitor_id=self.visitor.visitor_id,
            channel=Conversation.Channel.WIDGET,
        )
        return Response(WidgetConversationSerializer(conversation).data, status=status.HTTP_201_CREATED)


@method_decorator(transaction.non_atomic_requests, name="dispatch")
class WidgetMessageCreateApi(VisitorApi):
    """A visitor's question; the answer streams back as server-sent events (or one JSON body)."""

    renderer_classes = [renderers.JSONRenderer, EventStreamRenderer]
    throttle_classes = [*APIView.throttle_classes, VisitorThrottle]

    class InputSerializer(serializers.Serializer):
        content = serializers.CharField(max_length=4000)
        stream = serializers.BooleanField(default=True)

    class OutputSerializer(serializers.Serializer):
        question = WidgetMessageSerializer()
        answer = WidgetMessageSerializer()

    @extend_schema(
        operation_id="widget_message_create",
        request=InputSerializer,
        responses={
            201: OutputSerializer,
            (200, "text/event-stream"): OpenApiResponse(
                EVENT_STREAM_SCHEMA, description="The answer as it is written (the default, `stream: true`)."
            ),
        },
        tags=["widget"],
        description="Rate limits per visitor, IP and organization (429 with Retry-After) and the plan's monthly "
        "message limit apply. Streamed: `event: token` ({text}) ..., then `event: done` with message_id, status, "
        "content and sources.",
    )
    def post(self, request, public_id, conversation_id):
        conversation = self.conversation(conversation_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        turn = conversation_services.turn_prepare(
            conversation=conversation, content=data.validated_data["content"].strip()
        )
        if data.validated_data["stream"] or "text/event-stream" in request.META.get("HTTP_ACCEPT", ""):
            # `: ok` first: the question is stored, and the widget's idle bound (WIDGET_ANSWER_IDLE_SECONDS) hears it
            # at once rather than only with the answer's first words (the model's first token, seconds or minutes).
            return sse_response(conversation_services.turn_stream(turn), shape=self._public, comment="ok")
        answer = conversation_services.turn_answer(turn)
        body = {"question": turn.question, "answer": answer}
        return Response(self.OutputSerializer(body).data, status=status.HTTP_201_CREATED)

    @staticmethod
    def _public(event: str, payload: dict) -> dict:
        """What a visitor sees of the turn's events: `done` without usage, model or the owners' citation fields."""
        if event != "done":
            return payload
        return {
            "message_id": payload["message_id"],
            "question_id": payload["question_id"],
            "status": payload["status"],
            "content": payload["content"],
            "citations": citations_public(payload["citations"]),
        }


class WidgetFeedbackApi(VisitorApi):
    class InputSerializer(serializers.Serializer):
        value = serializers.ChoiceField(choices=[1, -1])
        comment = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")

    @extend_schema(
        operation_id="widget_message_feedback",
        request=InputSerializer,
        responses={200: WidgetMessageSerializer},
        tags=["widget"],
    )
    def post(self, request, public_id, message_id):
        message = conversation_selectors.widget_message_get(
            bot=self.bot, visitor_id=self.visitor.visitor_id, user_id=self.visitor.user_id, message_id=message_id
        )
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        message = conversation_services.message_feedback(message=message, **data.validated_data)
        return Response(WidgetMessageSerializer(message).data)
