"""The base of every `/api/v1/orgs/{org_slug}/...` API.

`initial()` resolves the organization and the caller's role once, before any handler runs
(where netbox restricts its querysets): non-members get 404, callers without the role for the
HTTP method get 403. Handlers then read `self.organization` and pass it to selectors, which
scope every queryset; ids of other organizations are therefore 404 as well.
"""

from __future__ import annotations

from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import SAFE_METHODS
from rest_framework.views import APIView

from apps.organizations.models import ApiKey, Role
from apps.organizations.permissions import role_at_least, sees_all_members
from apps.organizations.selectors import organization_access_get


class OrganizationAPIView(APIView):
    #: minimum role for GET/HEAD/OPTIONS and for other methods; `method_roles` overrides per method
    read_role: str = Role.MEMBER
    write_role: str = Role.ADMIN
    method_roles: dict[str, str] = {}
    #: whether organization API keys may call this view at all (scopes: read / write)
    api_key_allowed: bool = True
    #: a dedicated API-key scope per HTTP method (e.g. {"POST": ApiKey.Scope.MEMBERS_SYNC}): it replaces
    #: the read/write rule for that method, so a key needs exactly that scope
    api_key_scopes: dict[str, str] = {}

    organization = None
    membership = None
    api_key: ApiKey | None = None

    @property
    def role(self) -> str | None:
        return self.membership.role if self.membership else None

    @property
    def sees_all_members(self) -> bool:
        """Admins and API keys see everyone's rows, members only their own (permissions.sees_all_members)."""
        return sees_all_members(role=self.role, api_key=self.api_key)

    @property
    def own_user(self):
        """The selectors' `own_user=` argument: None (everyone) when the caller sees all members, else the caller."""
        return None if self.sees_all_members else self.request.user

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self.api_key = request.auth if isinstance(request.auth, ApiKey) else None
        self.organization, self.membership = organization_access_get(
            slug=kwargs["org_slug"], user=request.user, api_key=self.api_key
        )
        self.check_role(request)

    def required_role(self, method: str) -> str:
        if method in self.method_roles:
            return self.method_roles[method]
        return self.read_role if method in SAFE_METHODS else self.write_role

    def check_role(self, request) -> None:
        safe = request.method in SAFE_METHODS
        if self.api_key is not None:
            if not self.api_key_allowed:
                raise PermissionDenied("API keys cannot use this endpoint; sign in as a person.")
            method = "GET" if request.method == "HEAD" else request.method
            scope = self.api_key_scopes.get(method) or (ApiKey.Scope.READ if safe else ApiKey.Scope.WRITE)
            if not self.api_key.has_scope(scope):
                raise PermissionDenied(f"This API key lacks the '{scope}' scope.")
            return
        required = self.required_role(request.method)
        if not role_at_least(self.role, required):
            raise PermissionDenied(f"This action needs the {required} role in this organization.")
