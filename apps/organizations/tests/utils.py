"""Helpers shared by the organizations tests: expected bodies, URLs, the invitation token from an e-mail."""

from __future__ import annotations

import re

from rest_framework import serializers
from rest_framework.test import APIClient

from apps.organizations.tests.factories import api_key_for
from apps.users.tests.factories import PASSWORD  # noqa: F401  (re-exported for the tests)

FREE_PLAN = {
    "code": "free",
    "name": "Free",
    "max_members": 5,
    "max_bots": 1,
    "max_documents_per_bot": 50,
    "max_file_size_mb": 10,
    "max_storage_mb": 100,
    "max_monthly_messages": 1000,
    "max_api_keys": 2,
}
PRO_PLAN = {
    "code": "pro",
    "name": "Pro",
    "max_members": 50,
    "max_bots": 10,
    "max_documents_per_bot": 1000,
    "max_file_size_mb": 50,
    "max_storage_mb": 5000,
    "max_monthly_messages": 50000,
    "max_api_keys": 20,
}

_DATETIME = serializers.DateTimeField()


def iso(value) -> str | None:
    """A datetime as the API renders it (ISO 8601, UTC as 'Z')."""
    return None if value is None else _DATETIME.to_representation(value)


def error(code: str, message: str, details=None) -> dict:
    """The error envelope of apps.core.exceptions."""
    return {"error": {"code": code, "message": message, "details": details if details is not None else {}}}


def org_url(organization, suffix: str = "") -> str:
    return f"/api/v1/orgs/{organization.slug}/{suffix}"


def api_key_client(organization, scopes=("read", "write")) -> APIClient:
    """A client that authenticates with a new API key of the organization."""
    _key, raw = api_key_for(organization, scopes=scopes)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return client


def org_body(organization, role, plan=PRO_PLAN) -> dict:
    return {
        "id": organization.id,
        "name": organization.name,
        "slug": organization.slug,
        "plan": plan,
        "personality_admin_access": organization.personality_admin_access,
        "created_at": iso(organization.created_at),
        "role": role,
    }


def membership_body(membership) -> dict:
    return {
        "id": membership.id,
        "user": {"id": membership.user.id, "email": membership.user.email, "full_name": membership.user.full_name},
        "role": membership.role,
        "external_id": membership.external_id,
        "created_at": iso(membership.created_at),
    }


TOKEN_IN_MAIL = re.compile(r"^ {4}(\S+)$", re.MULTILINE)


def token_from_mail(message) -> str:
    """The invitation token, alone on its indented line of templates/emails/invitation.txt."""
    tokens = TOKEN_IN_MAIL.findall(message.body)
    assert len(tokens) == 1, message.body
    return tokens[0]
