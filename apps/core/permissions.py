"""DRF permissions that need no app: account endpoints of users and organizations share them."""

from rest_framework.permissions import BasePermission

from apps.core.throttling import request_by_api_key


class IsPerson(BasePermission):
    """A signed-in person (JWT or session), not an API key: account endpoints need one."""

    message = "This endpoint needs a user's token; API keys cannot use it."

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated and not request_by_api_key(request))
