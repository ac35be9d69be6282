"""JWT authentication with the user read by a composed lookup (apps/users/authentication.py, selectors.py)."""

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient
from rest_framework_simplejwt.exceptions import AuthenticationFailed
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import AccessToken

from apps.core.tests.orm import assert_reads_as_the_orm
from apps.users.authentication import JWTAuthentication
from apps.users.selectors import user_get_for_token
from apps.users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ME_URL = "/api/v1/users/me/"


def test_the_token_user_reads_what_the_orm_reads_in_one_query():
    user = UserFactory(full_name="Ada Lovelace", timezone="Europe/London", locale="en-GB", interests=["maths", "looms"])
    want = get_user_model().objects.get(pk=user.pk)
    with CaptureQueriesContext(connection) as queries:
        got = user_get_for_token(user.pk)
    assert len(queries) == 1
    assert_reads_as_the_orm(got, want)
    assert got.interests == ["maths", "looms"] and got.last_login is None  # JSON and null read back
    # The claim as a string reads the same user (simplejwt writes the id as the field's value; a string is accepted
    # as the ORM's get() accepted it).
    assert user_get_for_token(str(user.pk)).pk == user.pk


@pytest.mark.parametrize("claim", [None, "abc", "", 10**30, -1, 0, [1], {"id": 1}, float("inf"), float("nan")])
def test_an_id_that_names_no_user_is_none_never_an_error(claim):
    UserFactory()
    assert user_get_for_token(claim) is None


def _bearer(token: AccessToken) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_a_member_request_authenticates_with_the_composed_user():
    user = UserFactory()
    response = _bearer(AccessToken.for_user(user)).get(ME_URL)
    assert response.status_code == 200
    assert response.json()["id"] == user.pk


@pytest.mark.parametrize("claim", ["abc", 10**30, -5, None], ids=["not a number", "beyond bigint", "negative", "null"])
def test_a_signed_token_naming_no_user_is_401_user_not_found(claim):
    """A validly signed token whose user id claim names no user (simplejwt's ORM get() raised a ValueError, a 500,
    on a claim that is no number)."""
    token = AccessToken()
    token["user_id"] = claim
    response = _bearer(token).get(ME_URL)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "user_not_found"


def test_a_token_without_the_claim_and_an_inactive_users_token_are_401():
    token = AccessToken()
    response = _bearer(token).get(ME_URL)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_not_valid"
    inactive = UserFactory(is_active=False)
    response = _bearer(AccessToken.for_user(inactive)).get(ME_URL)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "user_inactive"


def test_the_openapi_scheme_is_simplejwts_bearer_jwt():
    """drf-spectacular's simplejwt extension matches its class exactly: ours carries it over (`jwtAuth`)."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    assert schema["components"]["securitySchemes"]["jwtAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    assert {"jwtAuth": []} in schema["paths"][ME_URL]["get"]["security"]


def test_a_token_issued_before_the_revoke_claim_is_accepted_and_a_changed_password_ends_the_others(db):
    """Tokens carry a hash of the password hash (CHECK_REVOKE_TOKEN). One issued before the setting was on has no
    such claim and is accepted until it expires (refusing it logged everyone out on deploy); one whose claim no
    longer matches the password is 401 `password_changed`."""
    user = UserFactory()
    current = AccessToken.for_user(user)
    legacy = AccessToken.for_user(user)
    del legacy[api_settings.REVOKE_TOKEN_CLAIM]
    assert JWTAuthentication().get_user(JWTAuthentication().get_validated_token(str(current))) == user
    assert JWTAuthentication().get_user(JWTAuthentication().get_validated_token(str(legacy))) == user
    user.set_password("a-brand-new-long-password")
    user.save()
    with pytest.raises(AuthenticationFailed) as refused:
        JWTAuthentication().get_user(JWTAuthentication().get_validated_token(str(current)))
    assert refused.value.detail["code"] == "password_changed"
