"""Role predicates shared by every org-scoped API."""

from apps.organizations.models import ROLE_RANK, Role


def role_at_least(role: str | None, required: str) -> bool:
    return role is not None and ROLE_RANK[Role(role)] >= ROLE_RANK[Role(required)]
