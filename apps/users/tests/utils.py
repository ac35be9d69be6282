"""Helpers shared by the users tests: expected bodies and token inspection."""

from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

ME_URL = "/api/v1/users/me/"
REGISTER_URL = "/api/v1/auth/register/"
TOKEN_URL = "/api/v1/auth/token/"
REFRESH_URL = "/api/v1/auth/token/refresh/"
VERIFY_URL = "/api/v1/auth/token/verify/"
LOGOUT_URL = "/api/v1/auth/logout/"
PASSWORD_CHANGE_URL = "/api/v1/auth/password/change/"
PASSWORD_RESET_URL = "/api/v1/auth/password/reset/"
PASSWORD_RESET_CONFIRM_URL = "/api/v1/auth/password/reset/confirm/"

# Strong enough for every configured validator, and unlike any factory user's attributes.
NEW_PASSWORD = "violet-lantern-harbour-42"


def error(code: str, message: str, details=None) -> dict:
    """The error envelope of apps.core.exceptions."""
    return {"error": {"code": code, "message": message, "details": details if details is not None else {}}}


def iso(value) -> str:
    """A datetime as DRF renders it (UTC with a trailing Z)."""
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def user_body(user) -> dict:
    """UserOutputSerializer's representation of `user` (as stored)."""
    user.refresh_from_db()
    return {
        "id": user.id,
        "email": user.email,
        "full_name": user.full_name,
        "timezone": user.timezone,
        "locale": user.locale,
        "interests": user.interests,
        "date_joined": iso(user.date_joined),
    }


def assert_token_pair_for(body: dict, user) -> None:
    """`body` is exactly {access, refresh}, both valid, signed for `user`, the refresh one not blacklisted."""
    assert set(body) == {"access", "refresh"}
    access, refresh = AccessToken(body["access"]), RefreshToken(body["refresh"])
    assert access["user_id"] == str(user.pk)
    assert refresh["user_id"] == str(user.pk)
    assert not BlacklistedToken.objects.filter(token__jti=refresh["jti"]).exists()
