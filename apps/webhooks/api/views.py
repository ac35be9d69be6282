"""Webhooks of an organization (admins, people only): /api/v1/orgs/{org}/webhooks/[{id}/[deliveries/[{id}/
[replay/]]]] (docs/webhooks.md). Views validate, call one service or selector, render."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from apps.core.fields import URL_PATTERN, WebUrlField
from apps.core.pagination import paginate, paginated_schema
from apps.organizations.models import Role
from apps.organizations.tenancy import OrganizationAPIView
from apps.webhooks import selectors, services
from apps.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent

TAGS = ["webhooks"]


class WebhookOutputSerializer(serializers.ModelSerializer):
    events = serializers.ListField(child=serializers.ChoiceField(choices=WebhookEvent.choices))

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "url", "description", "events", "is_active", "created_at", "updated_at"]


class WebhookCreatedSerializer(WebhookOutputSerializer):
    secret = serializers.CharField(
        help_text="The signing secret (HMAC-SHA256 key). Shown only in this response; store it now."
    )

    class Meta(WebhookOutputSerializer.Meta):
        fields = [*WebhookOutputSerializer.Meta.fields, "secret"]


class DeliveryOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = [
            "id", "event", "event_id", "status", "attempt_count", "last_status_code", "created_at", "delivered_at",
        ]  # fmt: skip


class AttemptOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = ["number", "started_at", "status_code", "duration_ms", "response_excerpt", "error"]


class DeliveryDetailSerializer(DeliveryOutputSerializer):
    payload = serializers.JSONField(help_text="The event's `data` as sent.")
    attempts = AttemptOutputSerializer(many=True)

    class Meta(DeliveryOutputSerializer.Meta):
        fields = [*DeliveryOutputSerializer.Meta.fields, "payload", "attempts"]


class WebhookUrlField(WebUrlField):
    """A web URL whose schema says https:// (http:// is accepted only with WEBHOOK_ALLOW_HTTP, in development)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.schema_pattern = URL_PATTERN.replace("^https?://", "^https://", 1)


class _WebhookApi(OrganizationAPIView):
    read_role = Role.ADMIN
    write_role = Role.ADMIN
    api_key_allowed = False


EVENTS_HELP = (
    "Events to receive: document.ready, document.failed, conversation.feedback, plan.limit_reached, crawl.finished."
)
URL_HELP = (
    "https:// URL receiving POSTs. A host that does not resolve, or resolves to a private, loopback, link-local or "
    "reserved address, is a 400 `webhook_url_refused` (WEBHOOK_ALLOWED_PRIVATE lists exceptions; "
    "WEBHOOK_ALLOW_HTTP also accepts http:// in development)."
)


class WebhookListCreateApi(_WebhookApi):
    class InputSerializer(serializers.Serializer):
        url = WebhookUrlField(max_length=1000, help_text=URL_HELP)
        events = serializers.ListField(
            child=serializers.ChoiceField(choices=WebhookEvent.choices),
            min_length=1,
            max_length=10,
            help_text=EVENTS_HELP,
        )
        description = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")

    @extend_schema(operation_id="webhooks_list", responses=paginated_schema(WebhookOutputSerializer), tags=TAGS)
    def get(self, request, org_slug):
        return paginate(self, request, selectors.webhook_list(organization=self.organization), WebhookOutputSerializer)

    @extend_schema(
        operation_id="webhooks_create", request=InputSerializer, responses={201: WebhookCreatedSerializer}, tags=TAGS
    )
    def post(self, request, org_slug):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint = services.webhook_create(
            organization=self.organization, created_by=request.user, **data.validated_data
        )
        return Response(WebhookCreatedSerializer(endpoint).data, status=status.HTTP_201_CREATED)


class WebhookDetailApi(_WebhookApi):
    class UpdateSerializer(serializers.Serializer):
        url = WebhookUrlField(max_length=1000, required=False, help_text=URL_HELP)
        events = serializers.ListField(
            child=serializers.ChoiceField(choices=WebhookEvent.choices),
            min_length=1,
            max_length=10,
            required=False,
            help_text=EVENTS_HELP,
        )
        description = serializers.CharField(max_length=200, required=False, allow_blank=True)
        is_active = serializers.BooleanField(required=False, help_text="False pauses deliveries (none are recorded).")

    @extend_schema(operation_id="webhooks_retrieve", responses=WebhookOutputSerializer, tags=TAGS)
    def get(self, request, org_slug, webhook_id):
        endpoint = selectors.webhook_get(organization=self.organization, webhook_id=webhook_id)
        return Response(WebhookOutputSerializer(endpoint).data)

    @extend_schema(
        operation_id="webhooks_update", request=UpdateSerializer, responses=WebhookOutputSerializer, tags=TAGS
    )
    def patch(self, request, org_slug, webhook_id):
        endpoint = selectors.webhook_get(organization=self.organization, webhook_id=webhook_id)
        data = self.UpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint = services.webhook_update(endpoint=endpoint, **data.validated_data)
        return Response(WebhookOutputSerializer(endpoint).data)

    @extend_schema(operation_id="webhooks_destroy", responses={204: None}, tags=TAGS)
    def delete(self, request, org_slug, webhook_id):
        endpoint = selectors.webhook_get(organization=self.organization, webhook_id=webhook_id)
        services.webhook_delete(endpoint=endpoint)
        return Response(status=status.HTTP_204_NO_CONTENT)


class DeliveryListApi(_WebhookApi):
    @extend_schema(
        operation_id="webhooks_deliveries_list", responses=paginated_schema(DeliveryOutputSerializer), tags=TAGS
    )
    def get(self, request, org_slug, webhook_id):
        endpoint = selectors.webhook_get(organization=self.organization, webhook_id=webhook_id)
        return paginate(self, request, selectors.delivery_list(endpoint=endpoint), DeliveryOutputSerializer)


class DeliveryDetailApi(_WebhookApi):
    @extend_schema(operation_id="webhooks_deliveries_retrieve", responses=DeliveryDetailSerializer, tags=TAGS)
    def get(self, request, org_slug, webhook_id, delivery_id):
        endpoint = selectors.webhook_get(organization=self.organization, webhook_id=webhook_id)
        delivery = selectors.delivery_get(endpoint=endpoint, delivery_id=delivery_id)
        return Response(DeliveryDetailSerializer(delivery).data)


class DeliveryReplayApi(_WebhookApi):
    @extend_schema(
        operation_id="webhooks_deliveries_replay",
        request=None,
        responses={202: DeliveryOutputSerializer},
        tags=TAGS,
        description="Send the delivery again: the same body and event id, a fresh signature, the full number of "
        "attempts. Earlier attempts stay listed.",
    )
    def post(self, request, org_slug, webhook_id, delivery_id):
        endpoint = selectors.webhook_get(organization=self.organization, webhook_id=webhook_id)
        delivery = selectors.delivery_get(endpoint=endpoint, delivery_id=delivery_id)
        delivery = services.webhook_delivery_replay(delivery=delivery)
        return Response(DeliveryOutputSerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
