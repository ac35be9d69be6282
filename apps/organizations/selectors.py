"""Reads of organizations and their members. Tenant-owned reads take `organization=`."""

from __future__ import annotations

from django.db.models import QuerySet
from rest_framework.exceptions import NotFound

from apps.organizations.models import ApiKey, Invitation, Membership, Organization, Plan

ORG_NOT_FOUND = "Organization not found."


def organization_access_get(*, slug: str, user, api_key: ApiKey | None) -> tuple[Organization, Membership | None]:
    """Resolve `slug` for the caller and authorize: (organization, membership or None for API keys).

    Non-members and keys of other organizations get the same 404 as a missing slug (ZU's
    `access_stream_by_id`), so nobody can probe which organizations exist.
    """
    if api_key is not None:
        if api_key.organization.slug != slug:
            raise NotFound(ORG_NOT_FOUND)
        return api_key.organization, None
    membership = (
        Membership.objects.select_related("organization", "organization__plan", "user")
        .filter(organization__slug=slug, user=user)
        .first()
    )
    if membership is None:
        raise NotFound(ORG_NOT_FOUND)
    return membership.organization, membership


def organization_list(*, user) -> QuerySet[Organization]:
    return Organization.objects.filter(memberships__user=user).select_related("plan").order_by("name", "id")


def membership_list(*, organization: Organization, filters: dict | None = None) -> QuerySet[Membership]:
    from apps.organizations.filters import MembershipFilter

    queryset = Membership.objects.filter(organization=organization).select_related("user").order_by("created_at", "id")
    return MembershipFilter(filters or {}, queryset).qs


def membership_get(*, organization: Organization, membership_id: int) -> Membership:
    membership = membership_list(organization=organization).filter(pk=membership_id).first()
    if membership is None:
        raise NotFound("Member not found.")
    return membership


def member_get(*, organization: Organization, user_id: int | None = None, external_id: str | None = None) -> Membership:
    """The membership of a user in the organization, by user id or by the membership's `external_id`
    (issue 18: other backends address people by their own ids); 404 for anyone else, like a missing id."""
    queryset = Membership.objects.filter(organization=organization).select_related("user")
    if user_id is not None:
        membership = queryset.filter(user_id=user_id).first()
    elif external_id is not None:
        membership = queryset.filter(external_id=external_id).first()
    else:
        raise TypeError("member_get needs user_id or external_id")
    if membership is None:
        raise NotFound("User not found.")
    return membership


def invitation_list(*, organization: Organization) -> QuerySet[Invitation]:
    return Invitation.objects.filter(organization=organization).select_related("invited_by").order_by("-created_at")


def invitation_get(*, organization: Organization, invitation_id: int) -> Invitation:
    invitation = invitation_list(organization=organization).filter(pk=invitation_id).first()
    if invitation is None:
        raise NotFound("Invitation not found.")
    return invitation


def api_key_list(*, organization: Organization) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(organization=organization).select_related("created_by").order_by("-created_at")


def api_key_get(*, organization: Organization, api_key_id: int) -> ApiKey:
    api_key = api_key_list(organization=organization).filter(pk=api_key_id).first()
    if api_key is None:
        raise NotFound("API key not found.")
    return api_key


def plan_list() -> QuerySet[Plan]:
    return Plan.objects.order_by("id")
