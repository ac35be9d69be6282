"""Bots CRUD: /api/v1/orgs/{org}/bots/ (admins write, members read)."""

import re

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from apps.bots import selectors, services
from apps.bots.models import Bot
from apps.core.languages import BOT_LANGUAGE_CHOICES
from apps.core.pagination import paginate, paginated_schema
from apps.organizations.tenancy import OrganizationAPIView

ORIGIN = re.compile(r"^https?://[a-z0-9.-]+(:\d{1,5})?/?$", re.IGNORECASE)
COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


class WidgetThemeSerializer(serializers.Serializer):
    color = serializers.RegexField(COLOR, required=False, help_text="Launcher and accent colour, e.g. #2563eb.")
    position = serializers.ChoiceField(choices=["left", "right"], required=False)
    icon = serializers.ChoiceField(choices=["chat", "help", "sparkle"], required=False)
    title = serializers.CharField(max_length=80, required=False)


class BotInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    system_prompt = serializers.CharField(required=False, allow_blank=True, max_length=20000)
    llm_model = serializers.CharField(required=False, max_length=100)
    temperature = serializers.FloatField(required=False, min_value=0, max_value=2)
    max_answer_tokens = serializers.IntegerField(required=False, min_value=16, max_value=8000)
    top_k = serializers.IntegerField(required=False, min_value=1, max_value=50)
    min_score = serializers.FloatField(
        required=False, allow_null=True, min_value=0, max_value=1,
        help_text="The owner's refusal cut-off on the fused score; null = use the calibrated one (docs/refusal.md).",
    )  # fmt: skip
    dense_weight = serializers.FloatField(required=False, min_value=0, max_value=1)
    strict_grounding = serializers.BooleanField(
        required=False,
        help_text="Answer only when the passages read hold every term of the question that the bot's documents hold "
        "somewhere; else the fallback (docs/refusal.md#strict-grounding). Refuses more questions about other "
        "products, and some paraphrased ones. Default false.",
    )
    language = serializers.ChoiceField(
        choices=BOT_LANGUAGE_CHOICES, required=False,
        help_text="The language of the bot's documents and answers (ISO 639-1; the full-text search configuration "
        "of its documents), or auto: detected per document, answers in the question's language. Changing it "
        "applies to documents ingested (or reprocessed) from then on (docs/search.md#languages).",
        error_messages={"invalid_choice": "Unknown language {input!r}: use auto or one of " + ", ".join(
            code for code, _name in BOT_LANGUAGE_CHOICES if code != "auto") + "."},
    )  # fmt: skip
    fallback_message = serializers.CharField(required=False, max_length=2000)
    greeting = serializers.CharField(required=False, allow_blank=True, max_length=500)
    suggested_questions = serializers.ListField(
        child=serializers.CharField(max_length=200), required=False, max_length=10
    )
    widget_theme = WidgetThemeSerializer(required=False)
    allowed_origins = serializers.ListField(
        child=serializers.RegexField(ORIGIN, max_length=300), required=False, max_length=50,
        help_text="Sites allowed to embed the widget, e.g. https://www.example.com (scheme, host, optional port). "
        "Empty: only Beacon's own preview page.",
    )  # fmt: skip

    def validate_allowed_origins(self, value):
        return sorted({origin.lower().rstrip("/") for origin in value})


class CalibrationSerializer(serializers.Serializer):
    value = serializers.FloatField(
        source="calibrated_min_score", allow_null=True, help_text="The calibrated cut-off; null until computed."
    )
    computed_at = serializers.DateTimeField(source="calibrated_at", allow_null=True)
    pending = serializers.SerializerMethodField(help_text="A run is scheduled (the knowledge base changed).")
    target_false_answer_rate = serializers.SerializerMethodField()
    false_answer_rate = serializers.SerializerMethodField(
        help_text="Share of the general (out-of-domain) questions still answered at the cut-off."
    )
    in_domain_answered_rate = serializers.SerializerMethodField(
        help_text="Share of the synthetic questions from the bot's own documents answered at the cut-off."
    )
    figures = serializers.JSONField(source="calibration", help_text="Everything the run measured.")

    def get_pending(self, bot) -> bool:
        return bot.calibration_requested_at is not None

    def get_target_false_answer_rate(self, bot) -> float | None:
        return bot.calibration.get("target_false_answer_rate")

    def get_false_answer_rate(self, bot) -> float | None:
        return bot.calibration.get("false_answer_rate")

    def get_in_domain_answered_rate(self, bot) -> float | None:
        return bot.calibration.get("in_domain_answered_rate")


class BotOutputSerializer(serializers.ModelSerializer):
    widget_theme = WidgetThemeSerializer()
    effective_min_score = serializers.FloatField(
        help_text="The cut-off in force: min_score if set, else the calibrated value, else the default."
    )
    calibration = CalibrationSerializer(source="*")
    document_count = serializers.IntegerField(default=0)
    widget_snippet = serializers.SerializerMethodField()
    widget_preview_url = serializers.SerializerMethodField()

    class Meta:
        model = Bot
        fields = [
            "id", "name", "description", "public_id", "system_prompt", "llm_model", "temperature",
            "max_answer_tokens", "top_k", "min_score", "effective_min_score", "calibration", "dense_weight",
            "strict_grounding", "language", "fallback_message", "greeting",
            "suggested_questions", "widget_theme", "allowed_origins", "document_count", "widget_snippet",
            "widget_preview_url", "created_at", "updated_at",
        ]  # fmt: skip

    def get_widget_snippet(self, bot) -> str:
        return bot.widget_snippet()

    def get_widget_preview_url(self, bot) -> str:
        return f"{settings.BEACON_PUBLIC_URL}/widget/{bot.public_id}/preview/"


class BotCreatedSerializer(BotOutputSerializer):
    identity_secret = serializers.CharField(
        help_text="HMAC key for widget identity verification. Shown only now (and on rotation): keep it on your "
        "server, never in a page."
    )

    class Meta(BotOutputSerializer.Meta):
        fields = [*BotOutputSerializer.Meta.fields, "identity_secret"]


class BotListCreateApi(OrganizationAPIView):
    @extend_schema(operation_id="bots_list", responses=paginated_schema(BotOutputSerializer), tags=["bots"])
    def get(self, request, org_slug):
        return paginate(self, request, selectors.bot_list(organization=self.organization), BotOutputSerializer)

    @extend_schema(
        operation_id="bots_create",
        request=BotInputSerializer,
        responses={201: BotCreatedSerializer},
        tags=["bots"],
        description="Create a bot (admins). The plan's bot limit applies (403 plan_limit_exceeded).",
    )
    def post(self, request, org_slug):
        data = BotInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        bot = services.bot_create(
            organization=self.organization,
            data=data.validated_data,
            created_by=request.user if getattr(request.user, "pk", None) else None,
        )
        return Response(BotCreatedSerializer(bot).data, status=status.HTTP_201_CREATED)


class BotDetailApi(OrganizationAPIView):
    @extend_schema(operation_id="bots_retrieve", responses=BotOutputSerializer, tags=["bots"])
    def get(self, request, org_slug, bot_id):
        bot = selectors.bot_get(organization=self.organization, bot_id=bot_id, with_counts=True)
        return Response(BotOutputSerializer(bot).data)

    @extend_schema(operation_id="bots_update", request=BotInputSerializer, responses=BotOutputSerializer, tags=["bots"])
    def patch(self, request, org_slug, bot_id):
        bot = selectors.bot_get(organization=self.organization, bot_id=bot_id, with_counts=True)
        data = BotInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        bot, _changed = services.bot_update(bot=bot, data=data.validated_data)
        return Response(BotOutputSerializer(bot).data)

    @extend_schema(operation_id="bots_destroy", responses={204: None}, tags=["bots"])
    def delete(self, request, org_slug, bot_id):
        bot = selectors.bot_get(organization=self.organization, bot_id=bot_id)
        services.bot_delete(bot=bot)
        return Response(status=status.HTTP_204_NO_CONTENT)


class BotIdentitySecretRotateApi(OrganizationAPIView):
    api_key_allowed = False

    class OutputSerializer(serializers.Serializer):
        identity_secret = serializers.CharField()

    @extend_schema(
        operation_id="bots_identity_secret_rotate",
        request=None,
        responses={200: OutputSerializer},
        tags=["bots"],
        description="A new identity-verification secret, shown once; the old one stops working at once.",
    )
    def post(self, request, org_slug, bot_id):
        bot = selectors.bot_get(organization=self.organization, bot_id=bot_id)
        bot = services.bot_identity_secret_rotate(bot=bot)
        return Response({"identity_secret": bot.identity_secret})
