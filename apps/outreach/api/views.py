"""Outreach API (issue 19, docs/outreach.md): /api/v1/orgs/{org}/campaigns/[{id}/[preview/ | generate/ |
send/ | messages/[{id}/]]] for admins and API keys, and /api/v1/orgs/{org}/outreach/members/{user_id}/, a
member's opt-out (members: their own; admins: anyone's). Views validate, call one service or selector,
render."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from apps.core.exceptions import ApplicationError
from apps.core.pagination import paginate, paginated_schema
from apps.core.serializers import QuerySerializer
from apps.organizations.models import Role
from apps.organizations.tenancy import OrganizationAPIView
from apps.outreach import selectors, services
from apps.outreach.models import Campaign, CampaignGoal, CampaignMessage, CampaignTone, OutreachOptOut
from apps.outreach.services import PROGRESS_STATES
from apps.recommendations.selectors import member_get

TAGS = ["outreach"]

FILTERS_HELP = (
    "The segment: every filter given must match; opted-out members are never included. Unknown keys are a 400 "
    "`unknown_filter`. Trait filters need the organization's personality admin access (403 "
    "`personality_admin_access_disabled` otherwise)."
)


class _StrictSerializer(serializers.Serializer):
    """Unknown keys are refused, not ignored: a misspelt filter would otherwise widen the segment to everyone
    (400 `unknown_filter`, a rule the schema states in its description only)."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise ApplicationError(
                    f"Unknown filter(s): {', '.join(map(str, unknown))}. Known: {', '.join(self.fields)}.",
                    code="unknown_filter",
                )
        return super().to_internal_value(data)


class TraitBoundsSerializer(_StrictSerializer):
    min = serializers.FloatField(min_value=0, max_value=1, required=False)
    max = serializers.FloatField(min_value=0, max_value=1, required=False)


class TraitFiltersSerializer(_StrictSerializer):
    """One optional bounds object per trait (personality.instrument.TRAITS)."""

    openness = TraitBoundsSerializer(required=False)
    conscientiousness = TraitBoundsSerializer(required=False)
    extraversion = TraitBoundsSerializer(required=False)
    agreeableness = TraitBoundsSerializer(required=False)
    neuroticism = TraitBoundsSerializer(required=False)


class CampaignFiltersSerializer(_StrictSerializer):
    interests = serializers.ListField(
        child=serializers.CharField(max_length=64), max_length=50, required=False,
        help_text="Interested in any of these (case-insensitive).",
    )  # fmt: skip
    progress = serializers.ListField(
        child=serializers.ChoiceField(choices=PROGRESS_STATES), max_length=4, required=False,
        help_text="All of: has an unfinished item, completed nothing, completed something, started nothing.",
    )  # fmt: skip
    inactive_days = serializers.IntegerField(
        min_value=1, max_value=3650, required=False, help_text="No interaction for this many days."
    )
    traits = TraitFiltersSerializer(
        required=False, help_text="The latest personality profile's trait within min..max (0..1); a trait "
        "without bounds is ignored.",
    )  # fmt: skip

    def to_representation(self, instance):
        return instance  # stored already clean (services.campaign_filters_clean)


class CampaignOutputSerializer(serializers.ModelSerializer):
    filters = CampaignFiltersSerializer(help_text=FILTERS_HELP)

    class Meta:
        model = Campaign
        fields = [
            "id", "name", "goal", "tone", "sender_name", "sender_email", "filters", "status", "members_total",
            "generated_count", "skipped_count", "fallback_count", "sent_count", "opted_out_count", "failed_count",
            "last_error", "generation_started_at", "generated_at", "sent_at", "created_at", "updated_at",
        ]  # fmt: skip


class CampaignMessageOutputSerializer(serializers.ModelSerializer):
    items = serializers.ListField(child=serializers.IntegerField(), help_text="Catalog item ids the message mentions.")

    class Meta:
        model = CampaignMessage
        fields = [
            "id", "user", "email", "subject", "status", "composer", "composer_note", "edited", "items", "sent_at",
            "clicked_at", "click_count", "created_at",
        ]  # fmt: skip


class CampaignMessageDetailSerializer(CampaignMessageOutputSerializer):
    class Meta(CampaignMessageOutputSerializer.Meta):
        fields = [*CampaignMessageOutputSerializer.Meta.fields, "body_text", "body_html", "error"]


class CampaignDraftSerializer(serializers.Serializer):
    subject = serializers.CharField()
    body_text = serializers.CharField()
    body_html = serializers.CharField()
    items = serializers.ListField(child=serializers.IntegerField())
    composer = serializers.ChoiceField(choices=CampaignMessage.Composer.choices)
    composer_note = serializers.CharField(allow_blank=True)


class CampaignPreviewOutputSerializer(serializers.Serializer):
    user = serializers.IntegerField()
    message = CampaignDraftSerializer(allow_null=True, help_text="Null: nothing to recommend to the member.")
    candidates = serializers.ListField(
        child=serializers.DictField(), help_text="The items the message could mention, with their reasons."
    )
    interests = serializers.ListField(child=serializers.CharField())


class _CampaignApi(OrganizationAPIView):
    read_role = Role.ADMIN
    write_role = Role.ADMIN


class CampaignInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    goal = serializers.ChoiceField(choices=CampaignGoal.choices, default=CampaignGoal.NEW_ITEMS)
    tone = serializers.ChoiceField(choices=CampaignTone.choices, default=CampaignTone.FRIENDLY)
    sender_name = serializers.CharField(max_length=100)
    sender_email = serializers.EmailField(max_length=254)
    filters = CampaignFiltersSerializer(required=False, default=dict, help_text=FILTERS_HELP)


class CampaignListCreateApi(_CampaignApi):
    @extend_schema(operation_id="campaigns_list", responses=paginated_schema(CampaignOutputSerializer), tags=TAGS)
    def get(self, request, org_slug):
        return paginate(
            self, request, selectors.campaign_list(organization=self.organization), CampaignOutputSerializer
        )

    @extend_schema(
        operation_id="campaigns_create",
        request=CampaignInputSerializer,
        responses={201: CampaignOutputSerializer},
        tags=TAGS,
    )
    def post(self, request, org_slug):
        data = CampaignInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        created_by = request.user if self.api_key is None else None
        campaign = services.campaign_create(
            organization=self.organization, created_by=created_by, **data.validated_data
        )
        return Response(CampaignOutputSerializer(campaign).data, status=status.HTTP_201_CREATED)


class CampaignDetailApi(_CampaignApi):
    class UpdateSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200, required=False)
        goal = serializers.ChoiceField(choices=CampaignGoal.choices, required=False)
        tone = serializers.ChoiceField(choices=CampaignTone.choices, required=False)
        sender_name = serializers.CharField(max_length=100, required=False)
        sender_email = serializers.EmailField(max_length=254, required=False)
        filters = CampaignFiltersSerializer(required=False, help_text=FILTERS_HELP)

    @extend_schema(operation_id="campaigns_retrieve", responses=CampaignOutputSerializer, tags=TAGS)
    def get(self, request, org_slug, campaign_id):
        campaign = selectors.campaign_get(organization=self.organization, campaign_id=campaign_id)
        return Response(CampaignOutputSerializer(campaign).data)

    @extend_schema(
        operation_id="campaigns_update", request=UpdateSerializer, responses=CampaignOutputSerializer, tags=TAGS
    )
    def patch(self, request, org_slug, campaign_id):
        campaign = selectors.campaign_get(organization=self.organization, campaign_id=campaign_id)
        data = self.UpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        campaign = services.campaign_update(campaign=campaign, **data.validated_data)
        return Response(CampaignOutputSerializer(campaign).data)

    @extend_schema(operation_id="campaigns_destroy", responses={204: None}, tags=TAGS)
    def delete(self, request, org_slug, campaign_id):
        campaign = selectors.campaign_get(organization=self.organization, campaign_id=campaign_id)
        services.campaign_delete(campaign=campaign)
        return Response(status=status.HTTP_204_NO_CONTENT)


class CampaignPreviewApi(_CampaignApi):
    class InputSerializer(serializers.Serializer):
        user = serializers.IntegerField(min_value=1, help_text="The member (user id) to preview the message for.")

    @extend_schema(
        operation_id="campaigns_preview",
        request=InputSerializer,
        responses=CampaignPreviewOutputSerializer,
        tags=TAGS,
        description="The message one member would get now, written as generation would (LLM with checks, or the "
        "template composer); nothing is stored. A user outside the organization is 404.",
    )
    def post(self, request, org_slug, campaign_id):
        campaign = selectors.campaign_get(organization=self.organization, campaign_id=campaign_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user_id = data.validated_data["user"]
        draft, member = services.campaign_preview(campaign=campaign, user_id=user_id)
        return Response(
            {
                "user": user_id,
                "message": CampaignDraftSerializer(draft).data if draft else None,
                "candidates": member["candidates"],
                "interests": member["interests"],
            }
        )


class CampaignGenerateApi(_CampaignApi):
    @extend_schema(
        operation_id="campaigns_generate",
        request=None,
        responses={202: CampaignOutputSerializer},
        tags=TAGS,
        description="Write one message per member of the segment in the background (status `generating`, then "
        "`ready`; poll the campaign for the counts). Unsent messages of an earlier generation are replaced. "
        "403 `plan_limit_exceeded` when this month's messages plus the segment pass the plan's "
        "max_monthly_outreach_messages; 400 `segment_empty` when nobody matches; 409 while generating or sending.",
    )
    def post(self, request, org_slug, campaign_id):
        campaign = selectors.campaign_get(organization=self.organization, campaign_id=campaign_id)
        campaign = services.campaign_generate_start(campaign=campaign)
        return Response(CampaignOutputSerializer(campaign).data, status=status.HTTP_202_ACCEPTED)


class CampaignSendApi(_CampaignApi):
    @extend_schema(
        operation_id="campaigns_send",
        request=None,
        responses={202: CampaignOutputSerializer},
        tags=TAGS,
        description="Send the reviewed messages in the background (status `sending`, then `sent`). Members who "
        "opted out since generation are skipped. 409 unless the campaign is `ready`.",
    )
    def post(self, request, org_slug, campaign_id):
        campaign = selectors.campaign_get(organization=self.organization, campaign_id=campaign_id)
        campaign = services.campaign_send_start(campaign=campaign)
        return Response(CampaignOutputSerializer(campaign).data, status=status.HTTP_202_ACCEPTED)


class MessageListApi(_CampaignApi):
    class FilterSerializer(QuerySerializer):
        status = serializers.ChoiceField(choices=CampaignMessage.Status.choices, required=False)

    @extend_schema(
        operation_id="campaigns_messages_list",
        parameters=[FilterSerializer],
        responses=paginated_schema(CampaignMessageOutputSerializer),
        tags=TAGS,
    )
    def get(self, request, org_slug, campaign_id):
        campaign = selectors.campaign_get(organization=self.organization, campaign_id=campaign_id)
        params = self.FilterSerializer(data=request.query_params.dict())
        params.is_valid(raise_exception=True)
        messages = selectors.message_list(campaign=campaign, status=params.validated_data.get("status"))
        return paginate(self, request, messages, CampaignMessageOutputSerializer)


class MessageDetailApi(_CampaignApi):
    class UpdateSerializer(serializers.Serializer):
        subject = serializers.CharField(max_length=300, required=False)
        body_text = serializers.CharField(max_length=50_000, required=False)
        body_html = serializers.CharField(max_length=200_000, required=False)

    @extend_schema(operation_id="campaigns_messages_retrieve", responses=CampaignMessageDetailSerializer, tags=TAGS)
    def get(self, request, org_slug, campaign_id, campaign_message_id):
        campaign = selectors.campaign_get(organization=self.organization, campaign_id=campaign_id)
        message = selectors.message_get(campaign=campaign, message_id=campaign_message_id)
        return Response(CampaignMessageDetailSerializer(message).data)

    @extend_schema(
        operation_id="campaigns_messages_update",
        request=UpdateSerializer,
        responses=CampaignMessageDetailSerializer,
        tags=TAGS,
        description="Edit a message under review (campaign `ready`, message `ready`; 409 otherwise).",
    )
    def patch(self, request, org_slug, campaign_id, campaign_message_id):
        campaign = selectors.campaign_get(organization=self.organization, campaign_id=campaign_id)
        message = selectors.message_get(campaign=campaign, message_id=campaign_message_id)
        data = self.UpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        message = services.message_update(message=message, **data.validated_data)
        return Response(CampaignMessageDetailSerializer(message).data)


class OptOutSerializer(serializers.Serializer):
    opted_out = serializers.BooleanField(help_text="True: the member receives no campaign e-mail of this organization.")


class MemberOptOutApi(OrganizationAPIView):
    read_role = Role.MEMBER
    write_role = Role.MEMBER

    def _user_id(self, request, user_id: int) -> int:
        if not self.sees_all_members and user_id != request.user.pk:
            raise PermissionDenied("Members can read and change only their own opt-out.")
        member_get(organization=self.organization, user_id=user_id)
        return user_id

    @extend_schema(operation_id="outreach_member_retrieve", responses=OptOutSerializer, tags=TAGS)
    def get(self, request, org_slug, user_id):
        user_id = self._user_id(request, user_id)
        out = selectors.opted_out(organization_id=self.organization.pk, user_ids=[user_id])
        return Response({"opted_out": user_id in out})

    @extend_schema(
        operation_id="outreach_member_update",
        request=OptOutSerializer,
        responses=OptOutSerializer,
        tags=TAGS,
        description="Opt a member out of (or back into) the organization's campaigns. Members: their own.",
    )
    def put(self, request, org_slug, user_id):
        user_id = self._user_id(request, user_id)
        data = OptOutSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        source = (
            OutreachOptOut.Source.API if self.api_key or user_id == request.user.pk else OutreachOptOut.Source.ADMIN
        )
        opted_out = services.optout_set(
            organization=self.organization, user_id=user_id, opted_out=data.validated_data["opted_out"], source=source
        )
        return Response({"opted_out": opted_out})
