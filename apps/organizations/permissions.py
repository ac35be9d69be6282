"""Role predicates shared by every org-scoped API."""

from apps.organizations.models import ROLE_RANK, Role


def role_at_least(role: str | None, required: str) -> bool:
    return role is not None and ROLE_RANK[Role(role)] >= ROLE_RANK[Role(required)]


def sees_all_members(*, role: str | None, api_key) -> bool:
    """The rule of per-person data (progress, interactions, conversations, recommendations): admins
    and API keys see, and act for, everyone in the organization; members only themselves.

    Org-scoped views read it as `OrganizationAPIView.sees_all_members`, and pass
    `OrganizationAPIView.own_user` (None: everyone) to the selectors' `own_user=` argument."""
    return api_key is not None or role_at_least(role, Role.ADMIN)
