"""Role predicates and DRF permissions shared by every org-scoped API."""

from rest_framework.permissions import BasePermission

from apps.organizations.models import ROLE_RANK, Role


def role_at_least(role: str | None, required: str) -> bool:
    return role is not None and ROLE_RANK[Role(role)] >= ROLE_RANK[Role(required)]


class IsPerson(BasePermission):
    """A signed-in person (JWT or session), not an API key: account endpoints need one."""

    message = "This endpoint needs a user's token; API keys cannot use it."

    def has_permission(self, request, view):
        from apps.organizations.models import ApiKey

        return bool(request.user and request.user.is_authenticated and not isinstance(request.auth, ApiKey))
