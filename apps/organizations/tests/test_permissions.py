"""The role predicates of apps.organizations.permissions (the API tests cover them through every view)."""

from __future__ import annotations

import pytest

from apps.organizations.models import ApiKey, Role
from apps.organizations.permissions import role_at_least, sees_all_members


@pytest.mark.parametrize(
    ("role", "expected"),
    [(Role.OWNER, True), (Role.ADMIN, True), (Role.MEMBER, False), (None, False)],
)
def test_sees_all_members_by_role(role, expected):
    """Owners and admins see everyone's rows; members (and callers without a role) only their own."""
    assert sees_all_members(role=role, api_key=None) is expected


def test_api_keys_see_all_members():
    """An API key acts for the organization: everyone's rows, whatever the (absent) role."""
    assert sees_all_members(role=None, api_key=ApiKey(name="sync")) is True


@pytest.mark.parametrize(
    ("role", "required", "expected"),
    [
        (Role.OWNER, Role.ADMIN, True),
        (Role.ADMIN, Role.ADMIN, True),
        (Role.MEMBER, Role.ADMIN, False),
        (Role.MEMBER, Role.MEMBER, True),
        (None, Role.MEMBER, False),
    ],
)
def test_role_at_least(role, required, expected):
    assert role_at_least(role, required) is expected
