"""Visitor tokens as a DRF authentication class: the credential of the widget's visitor API.

The iframe sends `Authorization: Visitor <token>` (a token from the session endpoint,
apps/widget/services.py). A valid token for the view's bot makes `request.auth` that `Visitor`;
`request.user` stays anonymous (a visitor is not a signed-in user, even when identified as a member).
"""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication

from apps.widget import services as widget


class VisitorTokenAuthentication(BaseAuthentication):
    """`Authorization: Visitor <token>`, verified against the view's `bot` (resolved before
    authentication, so an unknown widget id is a 404 first) and the request's origins.

    A missing or malformed header is a 401 `visitor_token_missing` (never anonymous access); a token
    of another site than the calling page is a 403. A CORS preflight (OPTIONS) carries no token and
    is let through: the view answers it from the bot's allowed origins.
    """

    keyword = "Visitor"

    def authenticate(self, request):
        if request.method == "OPTIONS":
            return None
        scheme, _, token = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme != self.keyword or not token.strip():
            raise widget.WidgetTokenInvalid(
                "Send the visitor token as 'Authorization: Visitor <token>'.", code="visitor_token_missing"
            )
        bot = request.parser_context["view"].bot
        own = widget.own_origin(request)
        visitor = widget.visitor_token_verify(token=token.strip(), bot=bot, own_origin=own)
        origin = request.META.get("HTTP_ORIGIN")
        if origin and widget.normalise_origin(origin) not in {visitor.origin, own}:
            raise widget.WidgetDenied("This visitor token was issued for another site.")
        return AnonymousUser(), visitor


class VisitorTokenScheme(OpenApiAuthenticationExtension):
    """No security scheme in the schema: issue 15 moved the token check into this class without
    changing the published schema, where the visitor API has never declared one (the header is in
    the README's widget section). Without this extension drf-spectacular warns that it cannot
    resolve the authenticator."""

    target_class = "apps.widget.authentication.VisitorTokenAuthentication"
    name: list[str] = []

    def get_security_requirement(self, auto_schema):
        return None

    def get_security_definition(self, auto_schema):
        return []
