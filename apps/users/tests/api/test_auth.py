"""Authentication API: /api/v1/auth/register/, token/, token/refresh/, token/verify/, logout/.

Coverage:
- register: 201 with the whole body (user + token pair) and the persisted row, defaults when only e-mail and
  password are given, e-mail lower-cased, duplicate e-mail in another case -> 400 on `email`, weak/numeric password
  -> 400 naming the `password` field, missing fields, wrong types (interests not a list,
  full_name an object, e-mail a number), unknown time zone, malformed JSON -> 400 "parse_error"; no row on failure;
- token obtain: e-mail matched case-insensitively, last_login recorded, wrong password / unknown e-mail / inactive
  user -> 401 "no_active_account", missing fields -> 400;
- refresh: rotation returns a new refresh token, the old one is then rejected (401 "token_not_valid"), the new one
  works; an access token or garbage -> 401; an inactive user's token -> 401; a deleted user's token -> 401;
- verify: valid access -> 200 {}; tampered or expired -> 401; a blacklisted refresh token -> 401;
- expired or tampered access token on /users/me/ -> 401 envelope (never 500); an inactive user's token -> 401;
- logout: 204 and the refresh token is blacklisted (refresh then 401), logout twice -> 401, garbage / access token
  -> 401, missing field -> 400;
- throttling: see test_throttling.py (issue 13: one bucket per purpose).
"""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from apps.users.api.serializers import token_pair
from apps.users.tests.factories import PASSWORD, UserFactory
from apps.users.tests.utils import (
    LOGOUT_URL,
    ME_URL,
    REFRESH_URL,
    REGISTER_URL,
    TOKEN_URL,
    VERIFY_URL,
    assert_token_pair_for,
    error,
    user_body,
)

pytestmark = pytest.mark.django_db

User = get_user_model()

NO_ACCOUNT = error("no_active_account", "No active account found with the given credentials")


def bearer(token) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def tampered(token: str) -> str:
    """The same JWT with one character of its signature changed."""
    head, _, signature = token.rpartition(".")
    return f"{head}.{('A' if signature[0] != 'A' else 'B')}{signature[1:]}"


def expired_access_token(user) -> AccessToken:
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=-timedelta(seconds=1))
    return token


# --------------------------------------------------------------------------- register


def test_register_creates_the_user_and_returns_a_token_pair(api_client):
    """POST register -> 201 with the profile and a token pair for the new user; the row is stored as given."""
    payload = {
        "email": "Ada.Lovelace@Example.COM",
        "password": PASSWORD,
        "full_name": "Ada Lovelace",
        "timezone": "Europe/London",
        "locale": "en-GB",
        "interests": ["mathematics", "engines"],
    }

    response = api_client.post(REGISTER_URL, payload)

    assert response.status_code == 201, response.data
    user = User.objects.get()
    body = response.json()
    assert body.pop("user") == user_body(user)
    assert_token_pair_for(body, user)
    assert (user.email, user.full_name, user.timezone, user.locale, user.interests) == (
        "ada.lovelace@example.com",
        "Ada Lovelace",
        "Europe/London",
        "en-GB",
        ["mathematics", "engines"],
    )
    assert user.check_password(PASSWORD)
    assert (user.is_active, user.is_staff, user.is_superuser) == (True, False, False)
    assert OutstandingToken.objects.filter(user=user, jti=RefreshToken(body["refresh"])["jti"]).exists()


def test_register_with_only_email_and_password_uses_the_defaults(api_client):
    """Only e-mail and password -> the profile takes the model defaults (UTC, "en", no interests)."""
    response = api_client.post(REGISTER_URL, {"email": "grace@example.com", "password": PASSWORD})

    assert response.status_code == 201, response.data
    user = User.objects.get(email="grace@example.com")
    assert response.json()["user"] == {
        "id": user.id,
        "email": "grace@example.com",
        "full_name": "",
        "timezone": "UTC",
        "locale": "en",
        "interests": [],
        "date_joined": user_body(user)["date_joined"],
    }


def test_register_tokens_authenticate_the_new_user(api_client):
    """The access token returned by register opens /users/me/ as the new user."""
    response = api_client.post(REGISTER_URL, {"email": "linus@example.com", "password": PASSWORD})

    me = bearer(response.json()["access"]).get(ME_URL)

    assert me.status_code == 200
    assert me.json()["email"] == "linus@example.com"


def test_register_duplicate_email_in_another_case_is_400_on_email(api_client, user):
    """An e-mail already registered, in different case -> 400 naming `email`; no second row."""
    response = api_client.post(REGISTER_URL, {"email": user.email.upper(), "password": PASSWORD})

    assert response.status_code == 400
    assert response.json() == error(
        "invalid",
        "Invalid input. email: An account with this e-mail already exists.",
        {"email": ["An account with this e-mail already exists."]},
    )
    assert User.objects.count() == 1


@pytest.mark.parametrize(
    ("password", "messages"),
    [
        ("12345678", ["This password is too common.", "This password is entirely numeric."]),
        ("84736291055", ["This password is entirely numeric."]),
        ("short1!", ["This password is too short. It must contain at least 8 characters."]),
    ],
)
def test_register_weak_password_is_400_and_writes_nothing(api_client, password, messages):
    """A common, numeric or short password -> 400 with the validators' messages; no user row."""
    response = api_client.post(REGISTER_URL, {"email": "weak@example.com", "password": password})

    assert response.status_code == 400
    envelope = response.json()["error"]
    assert envelope["code"] == "invalid"
    assert [m for errors in envelope["details"].values() for m in errors] == messages
    assert not User.objects.exists()


def test_register_weak_password_error_names_the_password_field(api_client):
    """A numeric password -> 400 whose details and message name the `password` field."""
    response = api_client.post(REGISTER_URL, {"email": "weak@example.com", "password": "84736291055"})

    assert response.status_code == 400
    assert response.json() == error(
        "invalid",
        "Invalid input. password: This password is entirely numeric.",
        {"password": ["This password is entirely numeric."]},
    )


def test_register_missing_fields_is_400(api_client):
    """An empty body -> 400 naming both required fields."""
    response = api_client.post(REGISTER_URL, {})

    assert response.status_code == 400
    assert response.json() == error(
        "invalid",
        "Invalid input. email: This field is required.; password: This field is required.",
        {"email": ["This field is required."], "password": ["This field is required."]},
    )
    assert not User.objects.exists()


@pytest.mark.parametrize(
    ("extra", "field", "message"),
    [
        ({"interests": "python"}, "interests", 'Expected a list of items but got type "str".'),
        ({"full_name": {"first": "Ada"}}, "full_name", "Not a valid string."),
        ({"email": 12345}, "email", "Enter a valid email address."),
        ({"timezone": "Mars/Olympus"}, "timezone", "'Mars/Olympus' is not an IANA time zone (e.g. 'Europe/Paris')."),
        ({"locale": "English!"}, "locale", "This value does not match the required pattern."),
    ],
)
def test_register_wrong_types_are_400_on_the_field(api_client, extra, field, message):
    """A value of the wrong type or shape -> 400 naming that field; no user row."""
    response = api_client.post(REGISTER_URL, {"email": "typed@example.com", "password": PASSWORD, **extra})

    assert response.status_code == 400
    assert response.json() == error("invalid", f"Invalid input. {field}: {message}", {field: [message]})
    assert not User.objects.exists()


def test_register_malformed_json_is_400_parse_error(api_client):
    """A truncated JSON body -> 400 "parse_error" envelope; no user row."""
    response = api_client.post(REGISTER_URL, '{"email": ', content_type="application/json")

    assert response.status_code == 400
    body = response.json()
    assert body["error"]["code"] == "parse_error"
    assert body["error"]["message"].startswith("JSON parse error")
    assert body["error"]["details"] == {}
    assert not User.objects.exists()


# --------------------------------------------------------------------------- token obtain


def test_token_obtain_is_case_insensitive_on_email_and_records_last_login(api_client, user):
    """E-mail in upper case + right password -> 200 token pair for the user; last_login is set."""
    assert user.last_login is None

    response = api_client.post(TOKEN_URL, {"email": user.email.upper(), "password": PASSWORD})

    assert response.status_code == 200, response.data
    assert_token_pair_for(response.json(), user)
    user.refresh_from_db()
    assert user.last_login is not None


@pytest.mark.parametrize(
    ("email", "password"),
    [("user-known", "not-the-password"), ("nobody@example.com", PASSWORD)],
    ids=["wrong-password", "unknown-email"],
)
def test_token_obtain_bad_credentials_is_401(api_client, user, email, password):
    """Wrong password or unknown e-mail -> the same 401 envelope (no account enumeration)."""
    response = api_client.post(
        TOKEN_URL, {"email": user.email if email == "user-known" else email, "password": password}
    )

    assert response.status_code == 401
    assert response.json() == NO_ACCOUNT
    user.refresh_from_db()
    assert user.last_login is None


def test_token_obtain_inactive_user_is_401(api_client):
    """A deactivated account with the right password -> 401 and no token."""
    inactive = UserFactory(is_active=False)

    response = api_client.post(TOKEN_URL, {"email": inactive.email, "password": PASSWORD})

    assert response.status_code == 401
    assert response.json() == NO_ACCOUNT
    assert not OutstandingToken.objects.filter(user=inactive).exists()


def test_token_obtain_missing_fields_is_400(api_client):
    """No e-mail and no password -> 400 naming both."""
    response = api_client.post(TOKEN_URL, {})

    assert response.status_code == 400
    assert response.json() == error(
        "invalid",
        "Invalid input. email: This field is required.; password: This field is required.",
        {"email": ["This field is required."], "password": ["This field is required."]},
    )


# --------------------------------------------------------------------------- refresh


def test_refresh_rotates_and_blacklists_the_old_token(api_client, user):
    """Refresh -> 200 with a new access and a new refresh token; the old refresh is then 401, the new one works."""
    old = token_pair(user)["refresh"]

    response = api_client.post(REFRESH_URL, {"refresh": old})

    assert response.status_code == 200, response.data
    body = response.json()
    assert_token_pair_for(body, user)
    assert body["refresh"] != old
    assert BlacklistedToken.objects.filter(token__jti=RefreshToken(old, verify=False)["jti"]).exists()

    replay = api_client.post(REFRESH_URL, {"refresh": old})
    assert replay.status_code == 401
    assert replay.json() == error("token_not_valid", "Token is blacklisted")

    again = api_client.post(REFRESH_URL, {"refresh": body["refresh"]})
    assert again.status_code == 200, again.data


@pytest.mark.parametrize("kind", ["access", "garbage", "tampered"])
def test_refresh_with_a_non_refresh_token_is_401(api_client, user, kind):
    """An access token, garbage or a tampered refresh token -> 401 "token_not_valid"."""
    pair = token_pair(user)
    token = {"access": pair["access"], "garbage": "not-a-jwt", "tampered": tampered(pair["refresh"])}[kind]

    response = api_client.post(REFRESH_URL, {"refresh": token})

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_not_valid"


def test_refresh_for_an_inactive_user_is_401(api_client, user):
    """A refresh token of a since-deactivated account -> 401 "no_active_account"."""
    refresh = token_pair(user)["refresh"]
    User.objects.filter(pk=user.pk).update(is_active=False)

    response = api_client.post(REFRESH_URL, {"refresh": refresh})

    assert response.status_code == 401
    assert response.json() == error("no_active_account", "No active account found for the given token.")


def test_refresh_for_a_deleted_user_is_401(user):
    """A refresh token whose account was deleted -> 401, not 500."""
    refresh = token_pair(user)["refresh"]
    user.delete()
    client = APIClient(raise_request_exception=False)

    response = client.post(REFRESH_URL, {"refresh": refresh})

    assert response.status_code == 401


# --------------------------------------------------------------------------- verify


def test_verify_valid_access_token_is_200(api_client, user):
    """A valid access token -> 200 with an empty object."""
    response = api_client.post(VERIFY_URL, {"token": token_pair(user)["access"]})

    assert response.status_code == 200
    assert response.json() == {}


def test_verify_tampered_token_is_401(api_client, user):
    """A token with a modified signature -> 401 "token_not_valid"."""
    response = api_client.post(VERIFY_URL, {"token": tampered(token_pair(user)["access"])})

    assert response.status_code == 401
    assert response.json() == error("token_not_valid", "Token is invalid")


def test_verify_expired_token_is_401(api_client, user):
    """An expired access token -> 401 "token_not_valid"."""
    response = api_client.post(VERIFY_URL, {"token": str(expired_access_token(user))})

    assert response.status_code == 401
    assert response.json() == error("token_not_valid", "Token is expired")


def test_verify_blacklisted_refresh_token_is_rejected(api_client, user):
    """A logged-out (blacklisted) refresh token does not verify."""
    refresh = token_pair(user)["refresh"]
    assert api_client.post(LOGOUT_URL, {"refresh": refresh}).status_code == 204

    response = api_client.post(VERIFY_URL, {"token": refresh})

    assert response.status_code == 401
    assert "Token is blacklisted" in response.json()["error"]["message"]


def test_verify_blacklisted_refresh_token_is_401(api_client, user):
    """A blacklisted refresh token -> 401 "token_not_valid", as the view documents."""
    refresh = token_pair(user)["refresh"]
    api_client.post(LOGOUT_URL, {"refresh": refresh})

    response = api_client.post(VERIFY_URL, {"token": refresh})

    assert response.status_code == 401
    assert response.json() == error("token_not_valid", "Token is blacklisted")


# --------------------------------------------------------------------------- access tokens on a protected endpoint


def test_expired_access_token_on_me_is_401(user):
    """An expired access token on /users/me/ -> 401 envelope saying the token is not valid (expired)."""
    response = bearer(expired_access_token(user)).get(ME_URL)

    assert response.status_code == 401
    assert response.json() == error(
        "token_not_valid",
        "Given token not valid for any token type",
        {"messages": [{"token_class": "AccessToken", "token_type": "access", "message": "Token is expired"}]},
    )


def test_tampered_access_token_on_me_is_401(user):
    """An access token with a forged signature on /users/me/ -> 401 "token_not_valid"."""
    response = bearer(tampered(token_pair(user)["access"])).get(ME_URL)

    assert response.status_code == 401
    body = response.json()
    assert body["error"]["code"] == "token_not_valid"
    assert body["error"]["message"] == "Given token not valid for any token type"


def test_inactive_users_access_token_on_me_is_401(user):
    """A still-unexpired access token of a deactivated account -> 401."""
    access = token_pair(user)["access"]
    User.objects.filter(pk=user.pk).update(is_active=False)

    response = bearer(access).get(ME_URL)

    assert response.status_code == 401
    assert response.json() == error("user_inactive", "User is inactive")


# --------------------------------------------------------------------------- logout


def test_logout_blacklists_the_refresh_token(api_client, user):
    """Logout -> 204 with no body; the refresh token is blacklisted and refreshing with it is then 401."""
    refresh = token_pair(user)["refresh"]

    response = api_client.post(LOGOUT_URL, {"refresh": refresh})

    assert response.status_code == 204
    assert response.content == b""
    jti = RefreshToken(refresh, verify=False)["jti"]
    assert BlacklistedToken.objects.filter(token__jti=jti, token__user=user).exists()
    refreshed = api_client.post(REFRESH_URL, {"refresh": refresh})
    assert refreshed.status_code == 401
    assert refreshed.json() == error("token_not_valid", "Token is blacklisted")


def test_logout_twice_is_401(api_client, user):
    """Logging out the same refresh token a second time -> 401 "token_not_valid"."""
    refresh = token_pair(user)["refresh"]
    api_client.post(LOGOUT_URL, {"refresh": refresh})

    response = api_client.post(LOGOUT_URL, {"refresh": refresh})

    assert response.status_code == 401
    assert response.json() == error("token_not_valid", "Invalid refresh token: Token is blacklisted")
    assert BlacklistedToken.objects.count() == 1


def test_logout_leaves_other_sessions_alone(api_client, user):
    """Logging out one refresh token does not revoke the user's other refresh tokens."""
    mine, other = token_pair(user)["refresh"], token_pair(user)["refresh"]

    api_client.post(LOGOUT_URL, {"refresh": mine})

    assert api_client.post(REFRESH_URL, {"refresh": other}).status_code == 200


@pytest.mark.parametrize("kind", ["garbage", "access"])
def test_logout_with_a_non_refresh_token_is_401(api_client, user, kind):
    """Garbage or an access token -> 401 envelope; nothing blacklisted."""
    token = "garbage.token.value" if kind == "garbage" else token_pair(user)["access"]

    response = api_client.post(LOGOUT_URL, {"refresh": token})

    assert response.status_code == 401
    body = response.json()
    assert body["error"]["code"] == "token_not_valid"
    assert body["error"]["message"].startswith("Invalid refresh token: ")
    assert body["error"]["details"] == {}
    assert not BlacklistedToken.objects.exists()


def test_logout_without_refresh_is_400(api_client):
    """No refresh token in the body -> 400 naming `refresh`."""
    response = api_client.post(LOGOUT_URL, {})

    assert response.status_code == 400
    assert response.json() == error(
        "invalid", "Invalid input. refresh: This field is required.", {"refresh": ["This field is required."]}
    )
