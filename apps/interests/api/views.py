"""Members' interests (issue 19, docs/interests.md). Views validate, call one service or selector, render."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response

from apps.core.serializers import validate_rows
from apps.interests import selectors, services
from apps.interests.models import InterestSource
from apps.organizations.models import Role
from apps.organizations.selectors import membership_get
from apps.organizations.tenancy import OrganizationAPIView

TAGS = ["interests"]


class EvidenceSerializer(serializers.Serializer):
    source = serializers.ChoiceField(choices=InterestSource.choices)
    weight = serializers.FloatField(help_text="Effective weight now (inferred and chat evidence decays).")
    stored_weight = serializers.FloatField(help_text="The weight as last written.")
    evidence_count = serializers.IntegerField()
    first_seen = serializers.DateTimeField()
    last_seen = serializers.DateTimeField()
    item_ids = serializers.ListField(child=serializers.IntegerField(), help_text="Chat: the catalog items matched.")


class InterestSerializer(serializers.Serializer):
    category = serializers.CharField()
    value = serializers.CharField()
    weight = serializers.FloatField(help_text="The strongest source's effective weight, 0..1.")
    evidence = EvidenceSerializer(many=True)


class InterestsOutputSerializer(serializers.Serializer):
    member = serializers.IntegerField(help_text="The membership id.")
    user = serializers.IntegerField()
    interests = InterestSerializer(many=True)


# A name must keep a character that is whitespace neither in JSON Schema's regex nor in Python (\x1c-\x1f, \x85).
NAME_PATTERN = r"[^\s\x1c-\x1f\x85]"
NAME_SCHEMA = {"type": "string", "minLength": 1, "maxLength": 64, "pattern": NAME_PATTERN}


@extend_schema_field(
    {
        "oneOf": [
            {**NAME_SCHEMA, "description": "A name (category 'general', weight 1)."},
            {
                "type": "object",
                "properties": {
                    "value": NAME_SCHEMA,
                    "category": {"type": "string", "maxLength": 64, "description": "Default 'general'."},
                    "weight": {"type": "number", "minimum": 0, "maximum": 1, "description": "Default 1."},
                },
                "required": ["value"],
            },
        ]
    }
)
class InterestField(serializers.JSONField):
    """One interest: a name or {value, category, weight} (checked by services.interest_inputs_clean)."""


class InterestsInputSerializer(serializers.Serializer):
    interests = serializers.ListField(
        child=InterestField(),
        max_length=settings.INTERESTS_MAX_PER_MEMBER,
        help_text="Each a name (category 'general', weight 1) or {value, category (default 'general'), weight "
        "0..1 (default 1)}. Replaces all interests of the writer's source: stated when members write their own, "
        "synced when the organization (an admin, an API key) writes a member's.",
    )

    def validate_interests(self, value):
        try:
            return services.interest_inputs_clean(value)
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict["interests"]) from exc


def interests_render(membership, organization) -> dict:
    views = selectors.member_interest_list(organization=organization, user_id=membership.user_id)
    return {"member": membership.pk, "user": membership.user_id, "interests": interest_views_render(views)}


def interest_views_render(views) -> list[dict]:
    """`selectors.MemberInterestView`s as InterestSerializer data (also used by me/profile/)."""
    return [
        {
            "category": view.category,
            "value": view.value,
            "weight": view.weight,
            "evidence": [
                {
                    "source": item.source,
                    "weight": item.weight,
                    "stored_weight": item.stored_weight,
                    "evidence_count": item.evidence_count,
                    "first_seen": item.first_seen,
                    "last_seen": item.last_seen,
                    "item_ids": item.item_ids,
                }
                for item in view.evidence
            ],
        }
        for view in views
    ]


class MemberInterestsApi(OrganizationAPIView):
    """A member's interests: admins and API keys (read / write scope) for anyone, members only their own."""

    write_role = Role.MEMBER  # members write their own (checked below); others need to see all members

    def _membership(self, membership_id):
        # Another member's id is 404 to a plain member, as in the member list (no oracle of who is a member).
        membership = membership_get(organization=self.organization, membership_id=membership_id, own_user=self.own_user)
        own = self.api_key is None and membership.user_id == self.request.user.pk
        return membership, own

    @extend_schema(operation_id="member_interests", responses=InterestsOutputSerializer, tags=TAGS)
    def get(self, request, org_slug, membership_id):
        membership, _own = self._membership(membership_id)
        return Response(InterestsOutputSerializer(interests_render(membership, self.organization)).data)

    @extend_schema(
        operation_id="member_interests_replace",
        request=InterestsInputSerializer,
        responses=InterestsOutputSerializer,
        tags=TAGS,
        description="Replace the member's interests of one source: `synced` when an admin or an API key writes, "
        "`stated` when members write their own. Other sources (and inferred or chat evidence) stay.",
    )
    def put(self, request, org_slug, membership_id):
        membership, own = self._membership(membership_id)
        if not own and not (self.api_key is not None or self.membership.has_role(Role.ADMIN)):
            raise PermissionDenied("This action needs the admin role in this organization.")
        data = InterestsInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.member_interests_set(
            organization=self.organization,
            user_id=membership.user_id,
            interests=[vars(item) for item in data.validated_data["interests"]],
            source=InterestSource.STATED if own else InterestSource.SYNCED,
        )
        return Response(InterestsOutputSerializer(interests_render(membership, self.organization)).data)


class MyInterestsApi(OrganizationAPIView):
    """The caller's own interests in this organization (people only)."""

    api_key_allowed = False  # after the organization resolves: another organization's slug stays a 404
    write_role = Role.MEMBER

    @extend_schema(operation_id="me_interests", responses=InterestsOutputSerializer, tags=TAGS)
    def get(self, request, org_slug):
        return Response(InterestsOutputSerializer(interests_render(self.membership, self.organization)).data)

    @extend_schema(
        operation_id="me_interests_replace",
        request=InterestsInputSerializer,
        responses=InterestsOutputSerializer,
        tags=TAGS,
        description="Replace your stated interests in this organization (synced, inferred and chat ones stay).",
    )
    def put(self, request, org_slug):
        data = InterestsInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.member_interests_set(
            organization=self.organization,
            user_id=request.user.pk,
            interests=[vars(item) for item in data.validated_data["interests"]],
            source=InterestSource.STATED,
        )
        return Response(InterestsOutputSerializer(interests_render(self.membership, self.organization)).data)


class InterestSyncRowSerializer(serializers.Serializer):
    external_id = serializers.CharField(max_length=255)
    interests = serializers.ListField(child=InterestField(), max_length=settings.INTERESTS_MAX_PER_MEMBER)


class InterestSyncApi(OrganizationAPIView):
    """Bulk replace of synced interests by external id (admins, write-scoped API keys)."""

    class EnvelopeSerializer(serializers.Serializer):
        """What the view validates first: rows stay dicts for validate_rows (row-numbered errors)."""

        members = serializers.ListField(
            child=serializers.DictField(), min_length=1, max_length=settings.INTERESTS_SYNC_MAX_ROWS
        )

    class InputSerializer(serializers.Serializer):
        """The documented shape (the schema): the rows' fields as validate_rows checks them."""

        members = serializers.ListField(
            child=InterestSyncRowSerializer(),
            min_length=1,
            max_length=settings.INTERESTS_SYNC_MAX_ROWS,
            help_text=f"Up to {settings.INTERESTS_SYNC_MAX_ROWS} rows {{external_id, interests}}; interests as in "
            "PUT members/{id}/interests/.",
        )

    class OutputSerializer(serializers.Serializer):
        members = serializers.IntegerField(help_text="Members whose synced interests were replaced.")
        interests = serializers.IntegerField(help_text="Interests they have now (synced source).")

    @extend_schema(
        operation_id="member_interests_sync",
        request=InputSerializer,
        responses=OutputSerializer,
        tags=TAGS,
        description="Replace the synced interests of each listed member (matched on the membership's external_id), "
        "all or nothing: one bad row rejects the batch with a 400 listing every bad row as "
        "`members[i].field: message`, and nothing is written: code `invalid` for malformed rows, "
        "`invalid_reference` for an external_id no member of this organization has, `duplicate_row` for an "
        "external_id listed twice.",
    )
    def post(self, request, org_slug):
        envelope = self.EnvelopeSerializer(data=request.data)
        envelope.is_valid(raise_exception=True)
        rows, errors = [], []
        for index, _raw, data, row_errors in validate_rows(
            InterestSyncRowSerializer, envelope.validated_data["members"]
        ):
            if row_errors:
                errors.extend(f"members[{index}].{line}" for line in row_errors)
            else:
                rows.append({"index": index, **data})
        if errors:
            raise ValidationError({"members": errors})
        result = services.member_interests_sync(organization=self.organization, rows=rows)
        return Response(self.OutputSerializer(result).data)
