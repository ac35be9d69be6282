"""Account endpoints under /api/v1/auth/ and /api/v1/users/me/."""

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt import views as jwt_views
from rest_framework_simplejwt.exceptions import InvalidToken

from apps.core.fields import PasswordField
from apps.core.permissions import IsPerson
from apps.core.throttling import UserThrottle
from apps.users import services, throttles
from apps.users.api.serializers import ProfileInputSerializer, UserOutputSerializer, token_pair

User = get_user_model()


# Anonymous account endpoints; each view names its own throttle buckets (apps.users.throttles).
# No docstring here: drf-spectacular would show it as the description of every view without one.
class AuthThrottled:
    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes: list


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


class RegisterApi(AuthThrottled, APIView):
    throttle_classes = throttles.REGISTER

    class InputSerializer(ProfileInputSerializer):
        email = serializers.EmailField()
        password = PasswordField(write_only=True)

    class OutputSerializer(serializers.Serializer):
        user = UserOutputSerializer()
        access = serializers.CharField()
        refresh = serializers.CharField()

    @extend_schema(
        operation_id="auth_register", request=InputSerializer, responses={201: OutputSerializer}, tags=["auth"]
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_register(**data.validated_data)
        body = {"user": user, **token_pair(user)}
        return Response(self.OutputSerializer(body).data, status=status.HTTP_201_CREATED)


@extend_schema_view(post=extend_schema(tags=["auth"], operation_id="auth_token_obtain"))
class TokenObtainApi(AuthThrottled, jwt_views.TokenObtainPairView):
    """Exchange e-mail and password for an access and a refresh token."""

    throttle_classes = throttles.LOGIN


@extend_schema_view(post=extend_schema(tags=["auth"], operation_id="auth_token_refresh"))
class TokenRefreshApi(AuthThrottled, jwt_views.TokenRefreshView):
    """A new access token (and a rotated refresh token; the old one is blacklisted)."""

    throttle_classes = throttles.TOKEN_REFRESH

    def post(self, request, *args, **kwargs):
        try:
            return super().post(request, *args, **kwargs)
        except User.DoesNotExist as exc:
            # simplejwt looks the user up without catching this (a deleted account).
            raise InvalidToken("The account of this token no longer exists.") from exc


@extend_schema_view(post=extend_schema(tags=["auth"], operation_id="auth_token_verify", responses={200: None}))
class TokenVerifyApi(AuthThrottled, jwt_views.TokenVerifyView):
    """200 when the token is valid and not blacklisted, 401 otherwise."""

    throttle_classes = throttles.TOKEN_VERIFY

    def post(self, request, *args, **kwargs):
        try:
            return super().post(request, *args, **kwargs)
        except serializers.ValidationError as exc:
            if "token" in getattr(exc, "detail", {}):
                raise
            # simplejwt reports a blacklisted token as a validation error; it is an invalid token.
            raise InvalidToken(" ".join(str(m) for m in _messages(exc.detail))) from exc


def _messages(detail):
    if isinstance(detail, dict):
        return [m for value in detail.values() for m in _messages(value)]
    if isinstance(detail, list):
        return [m for value in detail for m in _messages(value)]
    return [detail]


class LogoutApi(AuthThrottled, APIView):
    throttle_classes = throttles.LOGOUT

    class InputSerializer(serializers.Serializer):
        refresh = serializers.CharField()

    @extend_schema(operation_id="auth_logout", request=InputSerializer, responses={204: None}, tags=["auth"])
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.user_logout(refresh=data.validated_data["refresh"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordChangeApi(APIView):
    """Change the password; every other session's refresh token is revoked, a fresh pair returned."""

    permission_classes = [IsPerson]
    # Per user, shared with the admin's password change form: guesses of the current password.
    throttle_classes = [UserThrottle, *throttles.PASSWORD_CHANGE]

    class InputSerializer(serializers.Serializer):
        old_password = serializers.CharField(max_length=128)
        new_password = PasswordField()

    @extend_schema(
        operation_id="auth_password_change", request=InputSerializer, responses=TokenPairSerializer, tags=["auth"]
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_password_change(user=request.user, **data.validated_data)
        return Response(token_pair(user))


class PasswordResetApi(AuthThrottled, APIView):
    """Send a reset link by e-mail. Always 202, whether or not the address has an account."""

    throttle_classes = throttles.PASSWORD_RESET

    class InputSerializer(serializers.Serializer):
        email = serializers.EmailField()

    @extend_schema(operation_id="auth_password_reset", request=InputSerializer, responses={202: None}, tags=["auth"])
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.password_reset_request(email=data.validated_data["email"])
        return Response(status=status.HTTP_202_ACCEPTED)


class PasswordResetConfirmApi(AuthThrottled, APIView):
    throttle_classes = throttles.PASSWORD_RESET_CONFIRM

    class InputSerializer(serializers.Serializer):
        uid = serializers.CharField(max_length=64)
        token = serializers.CharField(max_length=128)
        new_password = PasswordField()

    @extend_schema(
        operation_id="auth_password_reset_confirm", request=InputSerializer, responses={204: None}, tags=["auth"]
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.password_reset_confirm(**data.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeApi(APIView):
    permission_classes = [IsPerson]

    @extend_schema(operation_id="users_me_retrieve", responses=UserOutputSerializer, tags=["users"])
    def get(self, request):
        return Response(UserOutputSerializer(request.user).data)

    @extend_schema(
        operation_id="users_me_update", request=ProfileInputSerializer, responses=UserOutputSerializer, tags=["users"]
    )
    def patch(self, request):
        data = ProfileInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        user, _changed = services.user_update(user=request.user, data=data.validated_data)
        return Response(UserOutputSerializer(user).data)


class MeDeleteApi(APIView):
    """Delete your own account (docs/api.md#deleting-your-account). A POST: the password goes in the body, which
    DELETE requests may not carry (proxies, the OpenAPI schema)."""

    permission_classes = [IsPerson]
    # Per user, shared with the password change: guesses of the password.
    throttle_classes = [UserThrottle, *throttles.PASSWORD_CHANGE]

    class InputSerializer(serializers.Serializer):
        password = serializers.CharField(
            max_length=128, required=False, allow_blank=True, help_text="The account's password, to confirm."
        )

    @extend_schema(
        operation_id="users_me_delete", request=InputSerializer, responses={204: None}, tags=["users"],
        description="Delete your account for good: every organization you belong to erases you (you must not be the "
        "last owner of one), and the account keeps nothing of you (docs/api.md#deleting-your-account).",
    )  # fmt: skip
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.user_delete(user=request.user, password=data.validated_data.get("password", ""))
        return Response(status=status.HTTP_204_NO_CONTENT)
