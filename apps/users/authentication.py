"""`Authorization: Bearer <access token>`: simplejwt's JWT authentication, the user read by a composed lookup."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from rest_framework_simplejwt import authentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.utils import get_md5_hash_password

from apps.users.selectors import user_get_for_token


class JWTAuthentication(authentication.JWTAuthentication):
    """simplejwt's `JWTAuthentication`, with its `get_user` reading the user through `user_get_for_token` (one
    statement composed once per process) instead of an ORM query compiled on every request. Every check of the
    original stays, with its messages and codes: the claim, the user, `is_active`, the revoke claim."""

    def get_user(self, validated_token):
        if api_settings.USER_ID_FIELD != "id":
            return super().get_user(validated_token)
        try:
            user_id = validated_token[api_settings.USER_ID_CLAIM]
        except KeyError as exc:
            raise InvalidToken(_("Token contained no recognizable user identification")) from exc
        user = user_get_for_token(user_id)
        if user is None:
            raise AuthenticationFailed(_("User not found"), code="user_not_found")
        if api_settings.CHECK_USER_IS_ACTIVE and not user.is_active:
            raise AuthenticationFailed(_("User is inactive"), code="user_inactive")
        # A token issued before the revoke claim was turned on has none: it is accepted until it expires (an access
        # token within JWT_ACCESS_MINUTES; the refresh tokens behind such tokens are blacklisted by a password change,
        # so none is minted after one). simplejwt's own check refused them all, logging everyone out on deploy, and
        # its refresh endpoint does not add the claim, so refreshing did not help.
        claim = validated_token.get(api_settings.REVOKE_TOKEN_CLAIM)
        if api_settings.CHECK_REVOKE_TOKEN and claim is not None and claim != get_md5_hash_password(user.password):
            raise AuthenticationFailed(_("The user's password has been changed."), code="password_changed")
        return user


class JWTAuthenticationScheme(SimpleJWTScheme):
    """drf-spectacular's scheme for simplejwt (`jwtAuth`, bearer JWT), for this subclass: its extension matches the
    class exactly."""

    target_class = "apps.users.authentication.JWTAuthentication"
