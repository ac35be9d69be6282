"""Organizations, members, member sync, invitations, API keys and plans. Views validate, call one service,
render."""

from django.conf import settings
from django.contrib.auth import get_user_model
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.pagination import PageNumberPagination, paginate, paginated_schema
from apps.core.permissions import IsPerson
from apps.core.serializers import QuerySerializer, clean_list, validate_rows
from apps.core.throttling import IpThrottle
from apps.organizations import selectors, services
from apps.organizations.member_sync import MemberSyncRow, members_sync
from apps.organizations.models import ApiKey, Invitation, Membership, Organization, Plan, Role
from apps.organizations.tenancy import OrganizationAPIView
from apps.users.api.serializers import UserOutputSerializer, token_pair
from apps.users.throttles import login_throttle_wait

User = get_user_model()


# --------------------------------------------------------------------------- serializers


class PlanOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Plan
        fields = [
            "code", "name", "max_members", "max_bots", "max_documents_per_bot", "max_file_size_mb",
            "max_storage_mb", "max_monthly_messages", "max_api_keys",
        ]  # fmt: skip


class OrganizationOutputSerializer(serializers.ModelSerializer):
    plan = PlanOutputSerializer()

    class Meta:
        model = Organization
        fields = ["id", "name", "slug", "plan", "personality_admin_access", "created_at"]


class OrganizationWithRoleSerializer(OrganizationOutputSerializer):
    role = serializers.SerializerMethodField()

    class Meta(OrganizationOutputSerializer.Meta):
        fields = [*OrganizationOutputSerializer.Meta.fields, "role"]

    def get_role(self, obj) -> str | None:
        return self.context.get("roles", {}).get(obj.pk)


class MemberUserSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "email", "full_name"]


class MembershipOutputSerializer(serializers.ModelSerializer):
    user = MemberUserSerializer()

    class Meta:
        model = Membership
        fields = ["id", "user", "role", "external_id", "created_at"]


class InvitationOutputSerializer(serializers.ModelSerializer):
    status = serializers.ChoiceField(choices=Invitation.Status.choices)
    invited_by = serializers.EmailField(source="invited_by.email", allow_null=True, default=None)

    class Meta:
        model = Invitation
        fields = ["id", "email", "role", "status", "invited_by", "created_at", "expires_at", "accepted_at"]


class ApiKeyOutputSerializer(serializers.ModelSerializer):
    is_active = serializers.BooleanField()
    created_by = serializers.EmailField(source="created_by.email", allow_null=True, default=None)

    class Meta:
        model = ApiKey
        fields = [
            "id", "name", "prefix", "scopes", "is_active", "created_by", "created_at", "last_used_at",
            "expires_at", "revoked_at",
        ]  # fmt: skip


class ApiKeyCreatedSerializer(ApiKeyOutputSerializer):
    key = serializers.CharField(help_text="The secret. Shown only in this response; store it now.")

    class Meta(ApiKeyOutputSerializer.Meta):
        fields = [*ApiKeyOutputSerializer.Meta.fields, "key"]


# --------------------------------------------------------------------------- organizations


class OrganizationListCreateApi(APIView):
    permission_classes = [IsPerson]

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200)
        slug = serializers.SlugField(
            max_length=64,
            required=False,
            help_text="Unique across Beacon, a taken one is a 400 (default: from the name).",
        )

    @extend_schema(
        operation_id="orgs_list", responses=paginated_schema(OrganizationWithRoleSerializer), tags=["organizations"]
    )
    def get(self, request):
        queryset = selectors.organization_list(user=request.user)
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(queryset, request, view=self)
        roles = dict(
            Membership.objects.filter(user=request.user, organization__in=page).values_list("organization_id", "role")
        )
        data = OrganizationWithRoleSerializer(page, many=True, context={"roles": roles}).data
        return paginator.get_paginated_response(data)

    @extend_schema(
        operation_id="orgs_create", request=InputSerializer, responses={201: OrganizationWithRoleSerializer},
        tags=["organizations"],
    )  # fmt: skip
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        organization = services.organization_create(user=request.user, **data.validated_data)
        body = OrganizationWithRoleSerializer(organization, context={"roles": {organization.pk: Role.OWNER}}).data
        return Response(body, status=status.HTTP_201_CREATED)


class OrganizationDetailApi(OrganizationAPIView):
    method_roles = {"DELETE": Role.OWNER}

    class DeleteInputSerializer(serializers.Serializer):
        confirm = serializers.CharField(
            required=False,
            allow_blank=True,
            help_text="The organization's slug, repeated: nothing of a deleted organization can be brought back "
            "(also accepted as the `confirm` query parameter).",
        )

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200)
        personality_admin_access = serializers.BooleanField(
            help_text="Whether admins may see members' personality profiles (owners only; off by default)."
        )

    @extend_schema(operation_id="orgs_retrieve", responses=OrganizationWithRoleSerializer, tags=["organizations"])
    def get(self, request, org_slug):
        return Response(self._render())

    @extend_schema(
        operation_id="orgs_update", request=InputSerializer, responses=OrganizationWithRoleSerializer,
        tags=["organizations"],
    )  # fmt: skip
    def patch(self, request, org_slug):
        data = self.InputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        services.organization_update(organization=self.organization, data=data.validated_data, actor=self.membership)
        return Response(self._render())

    @extend_schema(
        operation_id="orgs_destroy", request=DeleteInputSerializer, responses={204: None}, tags=["organizations"],
        parameters=[OpenApiParameter("confirm", str, description="The organization's slug (instead of the body).")],
        description="Delete the organization (owners, signed in; not API keys): from the response on it is gone for "
        "everyone and its slug is free; a worker deletes its data in the background "
        "(docs/api.md#deleting-an-organization).",
    )  # fmt: skip
    def delete(self, request, org_slug):
        body = request.data if isinstance(request.data, dict) else {}
        confirm = body.get("confirm", request.query_params.get("confirm", ""))
        data = self.DeleteInputSerializer(data={"confirm": confirm})
        data.is_valid(raise_exception=True)
        services.organization_delete(
            organization=self.organization, actor=self.membership, confirm=data.validated_data.get("confirm", "")
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _render(self):
        return OrganizationWithRoleSerializer(
            self.organization, context={"roles": {self.organization.pk: self.role}}
        ).data


# --------------------------------------------------------------------------- members


class MemberListApi(OrganizationAPIView):
    api_key_allowed = True

    class FilterSerializer(QuerySerializer):
        role = serializers.ChoiceField(choices=Role.choices, required=False)
        search = serializers.CharField(required=False, allow_blank=True, max_length=100)

    @extend_schema(
        operation_id="members_list",
        parameters=[FilterSerializer],
        responses=paginated_schema(MembershipOutputSerializer),
        tags=["members"],
    )
    def get(self, request, org_slug):
        # A plain dict, so an empty value is validated rather than read as "omitted" (DRF form rules).
        filters = self.FilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        queryset = selectors.membership_list(
            organization=self.organization, filters=filters.validated_data, own_user=self.own_user
        )
        return paginate(self, request, queryset, MembershipOutputSerializer)


class MemberDetailApi(OrganizationAPIView):
    """Read a member (admins anyone, members themselves); change their role (admin); remove them (admin, or
    yourself to leave). Another member's id is 404 to a plain member, as in the list."""

    api_key_allowed = False
    method_roles = {"DELETE": Role.MEMBER}

    class InputSerializer(serializers.Serializer):
        schema_partial = False  # PATCH, but `role` is required (apps.core.schema)
        role = serializers.ChoiceField(choices=Role.choices)

    @extend_schema(operation_id="members_retrieve", responses=MembershipOutputSerializer, tags=["members"])
    def get(self, request, org_slug, membership_id):
        membership = selectors.membership_get(
            organization=self.organization, membership_id=membership_id, own_user=self.own_user
        )
        return Response(MembershipOutputSerializer(membership).data)

    @extend_schema(
        operation_id="members_update", request=InputSerializer, responses=MembershipOutputSerializer, tags=["members"]
    )
    def patch(self, request, org_slug, membership_id):
        membership = selectors.membership_get(organization=self.organization, membership_id=membership_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.membership_role_change(
            membership=membership, role=data.validated_data["role"], actor=self.membership
        )
        return Response(MembershipOutputSerializer(membership).data)

    @extend_schema(operation_id="members_destroy", responses={204: None}, tags=["members"])
    def delete(self, request, org_slug, membership_id):
        membership = selectors.membership_get(
            organization=self.organization, membership_id=membership_id, own_user=self.own_user
        )
        services.membership_remove(membership=membership, actor=self.membership)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MemberEraseApi(OrganizationAPIView):
    """Erase a member: remove them and everything the organization keeps of them (admins, API keys with the
    `members:sync` scope, or a member themselves; another member's id is 404 to a plain member)."""

    method_roles = {"POST": Role.MEMBER}
    api_key_scopes = {"POST": ApiKey.Scope.MEMBERS_SYNC}

    @extend_schema(
        operation_id="members_erase",
        request=None,
        responses={204: None},
        tags=["members"],
        description="Remove the member and erase what this organization keeps of them: progress and interactions, "
        "conversations and their messages, recommendation logs and learnt factors, personality data, campaign "
        "messages, interests, goals and vision boards, and their place in the knowledge graph. Their account and "
        "their data in other organizations stay; their outreach opt-out stays (it is honoured if they come back). "
        "Who may: as for removing a member (admins, owners for owners, anyone themselves, never the last owner), "
        "and API keys with the `members:sync` scope (not for owners).",
    )
    def post(self, request, org_slug, membership_id):
        membership = selectors.membership_get(
            organization=self.organization, membership_id=membership_id, own_user=self.own_user
        )
        services.member_erase(membership=membership, actor=self.membership)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --------------------------------------------------------------------------- member sync


class MemberSyncRowSerializer(serializers.Serializer):
    external_id = serializers.CharField(max_length=255)
    email = serializers.EmailField(max_length=254)
    full_name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    interests = serializers.ListField(child=serializers.CharField(max_length=64), required=False, max_length=50)

    def validate_interests(self, value):
        return clean_list(value, lower=True)


class MemberSyncInputSerializer(serializers.Serializer):
    members = serializers.ListField(
        child=serializers.DictField(),
        min_length=1,
        max_length=settings.MEMBER_SYNC_MAX_ROWS,
        help_text=f"Up to {settings.MEMBER_SYNC_MAX_ROWS} rows, each an object: external_id (required), email "
        "(required), full_name, interests (list of strings). Rows that break a rule are rejected one by one.",
    )


class MemberSyncResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    external_id = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=["created", "updated", "unchanged", "invited", "rejected"])
    user = serializers.IntegerField(allow_null=True)
    membership = serializers.IntegerField(allow_null=True)
    invitation = serializers.IntegerField(
        allow_null=True, help_text="invited: the pending invitation; user and membership stay null until accepted"
    )
    errors = serializers.ListField(child=serializers.CharField())
    notes = serializers.ListField(child=serializers.CharField())


class MemberSyncOutputSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    invited = serializers.IntegerField()
    rejected = serializers.IntegerField()
    results = MemberSyncResultSerializer(many=True)


class MemberSyncApi(OrganizationAPIView):
    # Issue 18: creating accounts is more than a plain write; keys need the dedicated scope.
    api_key_scopes = {"POST": ApiKey.Scope.MEMBERS_SYNC}

    @extend_schema(
        operation_id="members_sync",
        request=MemberSyncInputSerializer,
        responses=MemberSyncOutputSerializer,
        tags=["organizations"],
        description=f"Upsert up to {settings.MEMBER_SYNC_MAX_ROWS} members by `external_id` (admins, and API keys "
        "with the `members:sync` scope; other keys get 403): e-mail, full name, interests. Idempotent; each row "
        "created / updated / unchanged / invited / rejected. New accounts get no usable password. A person whose "
        "account is not managed by this sync (own password, or member of another organization) is never linked: "
        "they get an invitation (role member, e-mailed once; `invited`, with the invitation's id) and join when "
        "they accept; send the row again after that to attach the external_id. Profiles of people with their own "
        "login are never rewritten.",
    )
    def post(self, request, org_slug):
        envelope = MemberSyncInputSerializer(data=request.data)
        envelope.is_valid(raise_exception=True)
        rows = []
        for index, raw, data, errors in validate_rows(MemberSyncRowSerializer, envelope.validated_data["members"]):
            if errors is None:
                rows.append(MemberSyncRow(index=index, data=data))
            else:
                rows.append(MemberSyncRow(index=index, errors=errors))
                if isinstance(raw.get("external_id"), str):
                    rows[-1].data = {"external_id": raw["external_id"]}
        # The inviter named on invitations: the calling admin; none for an API key (the organization invites).
        members_sync(organization=self.organization, rows=rows, actor=self.membership)
        counts = {name: 0 for name in ("created", "updated", "unchanged", "invited", "rejected")}
        results = []
        for row in rows:
            counts[row.status] += 1
            ok = row.status != "rejected"
            results.append(
                {
                    "index": row.index,
                    "external_id": row.external_id,
                    "status": row.status,
                    "user": row.user.pk if ok and row.user is not None else None,
                    "membership": row.membership.pk if ok and row.membership is not None else None,
                    "invitation": row.invitation.pk if ok and row.invitation is not None else None,
                    "errors": row.errors,
                    "notes": row.notes,
                }
            )
        return Response(MemberSyncOutputSerializer({**counts, "results": results}).data)


# --------------------------------------------------------------------------- invitations


class InvitationListCreateApi(OrganizationAPIView):
    read_role = Role.ADMIN
    api_key_allowed = False

    class InputSerializer(serializers.Serializer):
        email = serializers.EmailField()
        role = serializers.ChoiceField(choices=Role.choices, default=Role.MEMBER)

    @extend_schema(
        operation_id="invitations_list", responses=paginated_schema(InvitationOutputSerializer), tags=["invitations"]
    )
    def get(self, request, org_slug):
        return paginate(
            self, request, selectors.invitation_list(organization=self.organization), InvitationOutputSerializer
        )

    @extend_schema(
        operation_id="invitations_create", request=InputSerializer, responses={201: InvitationOutputSerializer},
        tags=["invitations"],
    )  # fmt: skip
    def post(self, request, org_slug):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        invitation = services.invitation_create(
            organization=self.organization, actor=self.membership, **data.validated_data
        )
        return Response(InvitationOutputSerializer(invitation).data, status=status.HTTP_201_CREATED)


class InvitationDetailApi(OrganizationAPIView):
    read_role = Role.ADMIN
    api_key_allowed = False

    @extend_schema(operation_id="invitations_retrieve", responses=InvitationOutputSerializer, tags=["invitations"])
    def get(self, request, org_slug, invitation_id):
        invitation = selectors.invitation_get(organization=self.organization, invitation_id=invitation_id)
        return Response(InvitationOutputSerializer(invitation).data)

    @extend_schema(operation_id="invitations_revoke", responses={200: InvitationOutputSerializer}, tags=["invitations"])
    def delete(self, request, org_slug, invitation_id):
        invitation = selectors.invitation_get(organization=self.organization, invitation_id=invitation_id)
        invitation = services.invitation_revoke(invitation=invitation)
        return Response(InvitationOutputSerializer(invitation).data)


class InvitationTokenSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=128)


class InvitationPreviewApi(APIView):
    """What an invitation is for, before accepting it (no login needed; the token is the secret).
    `account_exists` tells whether to ask for the invited account's password or a new one."""

    # account_exists is kept (issue 13, docs/security.md): only the holder of the e-mailed token
    # learns it, only about the invited address, and accepting would tell the same.

    permission_classes = [AllowAny]
    throttle_classes = [IpThrottle.scoped("invitation")]

    class OutputSerializer(serializers.Serializer):
        organization = serializers.CharField()
        email = serializers.EmailField()
        role = serializers.ChoiceField(choices=Role.choices)
        status = serializers.ChoiceField(choices=Invitation.Status.choices)
        expires_at = serializers.DateTimeField()
        account_exists = serializers.BooleanField()

    @extend_schema(
        operation_id="invitations_preview",
        request=InvitationTokenSerializer,
        responses=OutputSerializer,
        tags=["invitations"],
    )
    def post(self, request):
        data = InvitationTokenSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        invitation = services.invitation_get_by_token(token=data.validated_data["token"])
        body = {
            "organization": invitation.organization.name,
            "email": invitation.email,
            "role": invitation.role,
            "status": invitation.status,
            "expires_at": invitation.expires_at,
            "account_exists": User.objects.filter(email__iexact=invitation.email).exists(),
        }
        return Response(self.OutputSerializer(body).data)


class InvitationAcceptApi(APIView):
    """Accept: signed in with the invited e-mail, or anonymous with that account's password, or
    anonymous with a new password to register the invited e-mail."""

    permission_classes = [AllowAny]
    throttle_classes = [IpThrottle.scoped("invitation")]

    class InputSerializer(InvitationTokenSerializer):
        password = serializers.CharField(required=False, write_only=True, max_length=128)
        full_name = serializers.CharField(required=False, max_length=200, default="")

    class OutputSerializer(serializers.Serializer):
        organization = OrganizationOutputSerializer()
        role = serializers.ChoiceField(choices=Role.choices)
        user = UserOutputSerializer()
        account_created = serializers.BooleanField()
        access = serializers.CharField(allow_null=True)
        refresh = serializers.CharField(allow_null=True)

    @extend_schema(
        operation_id="invitations_accept",
        request=InputSerializer,
        responses={201: OutputSerializer},
        tags=["invitations"],
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        person = request.user if request.user.is_authenticated and not isinstance(request.auth, ApiKey) else None
        if person is None and data.validated_data.get("password"):
            # An anonymous accept checks (or sets) the password of the invited address: it counts as
            # a login attempt for that account and from this address, like the token endpoint (issue 13).
            invited = services.invitation_get_by_token(token=data.validated_data["token"])
            wait = login_throttle_wait(request, invited.email)
            if wait is not None:
                raise exceptions.Throttled(wait)
        membership, user, created = services.invitation_accept(user=person, **data.validated_data)
        tokens = token_pair(user) if person is None else {"access": None, "refresh": None}
        body = {
            "organization": membership.organization,
            "role": membership.role,
            "user": user,
            "account_created": created,
            **tokens,
        }
        return Response(self.OutputSerializer(body).data, status=status.HTTP_201_CREATED)


# --------------------------------------------------------------------------- API keys


class ApiKeyListCreateApi(OrganizationAPIView):
    read_role = Role.ADMIN
    api_key_allowed = False

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100)
        scopes = serializers.ListField(
            child=serializers.ChoiceField(choices=ApiKey.Scope.choices),
            min_length=1,
            max_length=len(ApiKey.Scope),
            help_text="read, write, and the dedicated scopes members:sync (member sync) and recommendations:manage "
            "(recommendation cache and training).",
        )
        expires_at = serializers.DateTimeField(
            required=False, allow_null=True, default=None, help_text="In the future (a past one is a 400); null: never."
        )

    @extend_schema(operation_id="api_keys_list", responses=paginated_schema(ApiKeyOutputSerializer), tags=["api keys"])
    def get(self, request, org_slug):
        return paginate(self, request, selectors.api_key_list(organization=self.organization), ApiKeyOutputSerializer)

    @extend_schema(
        operation_id="api_keys_create",
        request=InputSerializer,
        responses={201: ApiKeyCreatedSerializer},
        tags=["api keys"],
    )
    def post(self, request, org_slug):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        api_key, key = services.api_key_create(
            organization=self.organization, created_by=request.user, **data.validated_data
        )
        api_key.key = key
        return Response(ApiKeyCreatedSerializer(api_key).data, status=status.HTTP_201_CREATED)


class ApiKeyDetailApi(OrganizationAPIView):
    read_role = Role.ADMIN
    api_key_allowed = False

    @extend_schema(operation_id="api_keys_retrieve", responses=ApiKeyOutputSerializer, tags=["api keys"])
    def get(self, request, org_slug, api_key_id):
        api_key = selectors.api_key_get(organization=self.organization, api_key_id=api_key_id)
        return Response(ApiKeyOutputSerializer(api_key).data)

    @extend_schema(operation_id="api_keys_revoke", responses={200: ApiKeyOutputSerializer}, tags=["api keys"])
    def delete(self, request, org_slug, api_key_id):
        api_key = selectors.api_key_get(organization=self.organization, api_key_id=api_key_id)
        api_key = services.api_key_revoke(api_key=api_key)
        return Response(ApiKeyOutputSerializer(api_key).data)


# --------------------------------------------------------------------------- plans


class PlanListApi(APIView):
    @extend_schema(operation_id="plans_list", responses=paginated_schema(PlanOutputSerializer), tags=["organizations"])
    def get(self, request):
        return paginate(self, request, selectors.plan_list(), PlanOutputSerializer)
