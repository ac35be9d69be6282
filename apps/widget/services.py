"""Widget security primitives (issue 5 builds the widget views and assets on these).

- Origins: a bot's `allowed_origins`; an empty list admits only Beacon's own preview origin.
- Visitor tokens: short-lived, signed (Django's TimestampSigner with a purpose-specific salt), bound
  to one bot, one visitor id and the origin they were issued for; no secret ever reaches the page.
- Identity verification: the host site's backend signs its user id with the bot's identity secret
  (HMAC-SHA256, hex); a valid pair links the visitor to that organization member, an invalid one
  is refused, never trusted.
- Rate limits: fixed windows counted in Redis (the cache) per visitor, per IP and per organization.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.cache import cache

from apps.bots.models import Bot
from apps.core.exceptions import ApplicationError

TOKEN_SALT = "beacon.widget.visitor"


class WidgetDenied(ApplicationError):
    status_code = 403
    default_code = "origin_not_allowed"


class WidgetTokenInvalid(ApplicationError):
    status_code = 401
    default_code = "visitor_token_invalid"


def beacon_origin() -> str:
    parts = urlsplit(settings.BEACON_PUBLIC_URL or "http://localhost")
    return f"{parts.scheme}://{parts.netloc}".lower()


def own_origin(request) -> str:
    """The origin this request was served on (what a Beacon page sends as Origin)."""
    return f"{request.scheme}://{request.get_host()}".lower()


DEFAULT_PORTS = {"https": ":443", "http": ":80"}


def normalise_origin(origin: str | None) -> str:
    """An origin as a browser sends it: lower case, no trailing slash, no default port (a site listed as
    https://shop.example.com:443 is the page whose Origin is https://shop.example.com)."""
    origin = (origin or "").strip().lower().rstrip("/")
    scheme = origin.split("://", 1)[0]
    port = DEFAULT_PORTS.get(scheme)
    if port and origin.endswith(port) and origin.count(":") == 2:
        origin = origin[: -len(port)]
    return origin


def origin_allowed(*, bot: Bot, origin: str | None, own_origin: str | None = None) -> bool:
    """Beacon's own origin (the preview page) always; others only when listed on the bot.

    `own_origin` is the origin the request itself was served on (a browser only sends that
    Origin from a page Beacon served), so the preview works whatever host name Beacon runs on.
    """
    origin = normalise_origin(origin)
    if not origin or origin == "null":
        return False
    if origin == beacon_origin() or (own_origin and origin == normalise_origin(own_origin)):
        return True
    return origin in {normalise_origin(o) for o in bot.allowed_origins}


def origin_check(*, bot: Bot, origin: str | None, own_origin: str | None = None) -> str:
    if not origin_allowed(bot=bot, origin=origin, own_origin=own_origin):
        raise WidgetDenied(
            f"This bot's widget is not allowed on {normalise_origin(origin) or 'a page without an origin'}; "
            "add the site to the bot's allowed origins."
        )
    return normalise_origin(origin)


# --------------------------------------------------------------------------- identity


def identity_signature(*, bot: Bot, user_id: str, expires: int | None = None) -> str:
    """What the host site's backend computes: HMAC-SHA256(bot identity secret, message), hex, where
    the message is the user id, or "<user id>:<expires>" for a signature that expires (epoch seconds)."""
    message = str(user_id) if expires is None else f"{user_id}:{int(expires)}"
    return hmac.new(bot.identity_secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def identity_verify(*, bot: Bot, user_id: str, signature: str, expires: int | None = None):
    """The organization member behind a signed external user id, or WidgetTokenInvalid.

    `user_id` is the member's `external_id` in the organization (or their e-mail). With `expires`
    (epoch seconds, signed with the id), the pair stops working at that moment, so a hash copied
    from a page cannot be replayed for ever.
    """
    from apps.organizations.models import Membership

    expected = identity_signature(bot=bot, user_id=user_id, expires=expires)
    if not signature or not hmac.compare_digest(expected, signature.strip().lower()):
        raise WidgetTokenInvalid("The identity signature does not match this user id.", code="identity_invalid")
    if expires is not None and int(expires) < time.time():
        raise WidgetTokenInvalid("The identity signature has expired; sign the user id again.", code="identity_expired")
    membership = (
        Membership.objects.select_related("user")
        .filter(organization_id=bot.organization_id)
        .filter(external_id=user_id)
        .first()
    ) or (
        Membership.objects.select_related("user")
        .filter(organization_id=bot.organization_id, user__email__iexact=user_id)
        .first()
    )
    if membership is None:
        raise WidgetTokenInvalid("No member of this organization has that user id.", code="identity_unknown")
    return membership.user


# --------------------------------------------------------------------------- visitor tokens


@dataclass(frozen=True)
class Visitor:
    bot_public_id: str
    visitor_id: str
    origin: str
    user_id: int | None


def visitor_token_issue(
    *, bot: Bot, origin: str, visitor_id: str | None = None, user=None, own_origin: str | None = None
) -> tuple[str, Visitor]:
    visitor = Visitor(
        bot_public_id=bot.public_id,
        visitor_id=visitor_id or f"v_{secrets.token_urlsafe(12)}",
        origin=origin_check(bot=bot, origin=origin, own_origin=own_origin),
        user_id=user.pk if user is not None else None,
    )
    payload = {"b": visitor.bot_public_id, "v": visitor.visitor_id, "o": visitor.origin, "u": visitor.user_id}
    return signing.TimestampSigner(salt=TOKEN_SALT).sign_object(payload, compress=True), visitor


def visitor_previous(*, token: str | None, bot: Bot, origin: str) -> Visitor | None:
    """The visitor of an earlier token (expired or not, within WIDGET_VISITOR_MAX_AGE_DAYS) for the
    same bot and origin, so a returning visitor keeps their conversation; anything else is None.

    Only a holder of a token signed by Beacon can continue a visitor: visitor ids are never taken
    from the page on their own.
    """
    if not token:
        return None
    try:
        payload = signing.TimestampSigner(salt=TOKEN_SALT).unsign_object(
            token, max_age=settings.WIDGET_VISITOR_MAX_AGE_DAYS * 86400
        )
    except signing.BadSignature:
        return None
    if payload.get("b") != bot.public_id or payload.get("o") != normalise_origin(origin):
        return None
    return Visitor(bot_public_id=payload["b"], visitor_id=payload["v"], origin=payload["o"], user_id=payload.get("u"))


def widget_session_start(
    *,
    bot: Bot,
    origin: str | None,
    own_origin: str | None = None,
    previous_token: str | None = None,
    user_id: str | None = None,
    user_hash: str | None = None,
    user_expires: int | None = None,
) -> tuple[str, Visitor]:
    """A visitor token for a page on `origin` (403 when the origin is not allowed).

    - A valid earlier token of the same bot and origin keeps the visitor (and so the conversation).
    - `user_id` + `user_hash` (HMAC by the host site's backend) identify an organization member;
      an invalid pair is refused (401), never downgraded to anonymous.
    - Identity never carries over to someone else: an earlier token of another member, or of a
      member when the page is now anonymous (signed out), starts a new visitor.
    """
    origin = origin_check(bot=bot, origin=origin, own_origin=own_origin)
    user = None
    if user_id or user_hash:
        if not (user_id and user_hash):
            raise WidgetTokenInvalid("Identity verification needs both user_id and user_hash.", code="identity_invalid")
        user = identity_verify(bot=bot, user_id=str(user_id), signature=str(user_hash), expires=user_expires)
    previous = visitor_previous(token=previous_token, bot=bot, origin=origin)
    visitor_id = None
    if previous is not None and previous.user_id in (None, user.pk if user is not None else None):
        visitor_id = previous.visitor_id
    return visitor_token_issue(bot=bot, origin=origin, visitor_id=visitor_id, user=user, own_origin=own_origin)


def visitor_token_verify(*, token: str, bot: Bot, own_origin: str | None = None) -> Visitor:
    """The visitor of a valid token for `bot`; expired, tampered or other-bot tokens are refused.

    The origin is checked again on every use, so removing a site from the bot's allowed origins
    cuts its open widgets off at once.
    """
    try:
        payload = signing.TimestampSigner(salt=TOKEN_SALT).unsign_object(
            token, max_age=settings.WIDGET_TOKEN_TTL_SECONDS
        )
    except signing.SignatureExpired as exc:
        raise WidgetTokenInvalid("The visitor token has expired; get a new one.", code="visitor_token_expired") from exc
    except signing.BadSignature as exc:
        raise WidgetTokenInvalid("The visitor token is not valid.") from exc
    if payload.get("b") != bot.public_id:
        raise WidgetTokenInvalid("The visitor token belongs to another bot.")
    origin_check(bot=bot, origin=payload.get("o"), own_origin=own_origin)
    user_id = payload.get("u")
    if user_id is not None and not get_user_model().objects.filter(pk=user_id, is_active=True).exists():
        # An identified visitor whose account was deleted (or deactivated) since: nothing more may attach to it.
        raise WidgetTokenInvalid("The visitor token is not valid.")
    return Visitor(bot_public_id=payload["b"], visitor_id=payload["v"], origin=payload["o"], user_id=payload.get("u"))


# --------------------------------------------------------------------------- rate limits


def rate_limit_hit(*, key: str, rate: str) -> None:
    """Count one request in a fixed window of `rate` ("count/seconds"); past the count, 429 with the
    seconds until the window ends."""
    limit, window_seconds = (int(part) for part in rate.split("/"))
    now = int(time.time())
    window = now // window_seconds
    cache_key = f"widget-rate:{key}:{window}"
    if cache.add(cache_key, 1, timeout=window_seconds + 1):
        count = 1
    else:
        try:
            count = cache.incr(cache_key)
        except ValueError:  # expired between add and incr
            cache.add(cache_key, 1, timeout=window_seconds + 1)
            count = 1
    if count > limit:
        retry_after = (window + 1) * window_seconds - now
        raise ApplicationError(
            f"Too many messages; try again in {retry_after} s.",
            code="throttled",
            status_code=429,
            extra={"retry_after": retry_after, "scope": key.split(":", 1)[0]},
        )


def widget_rate_limits(*, visitor: Visitor, ip: str, organization_id: int) -> None:
    """Per visitor, per IP and per organization (settings WIDGET_RATE_*: 'count/seconds')."""
    for scope, ident, rate in (
        ("visitor", visitor.visitor_id, settings.WIDGET_RATE_VISITOR),
        ("ip", ip, settings.WIDGET_RATE_IP),
        ("org", str(organization_id), settings.WIDGET_RATE_ORGANIZATION),
    ):
        rate_limit_hit(key=f"{scope}:{ident}", rate=rate)
