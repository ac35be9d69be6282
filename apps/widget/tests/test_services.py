"""Widget security primitives (apps/widget/services.py): origins, visitor tokens, identity, rate limits.

Against the real database and the real Redis cache; time is moved by signing with a past clock.
"""

import time
from unittest import mock

import pytest
from django.core import signing

from apps.bots.tests.factories import BotFactory
from apps.core.exceptions import ApplicationError
from apps.organizations.models import Role
from apps.organizations.tests.factories import MembershipFactory
from apps.widget import services as widget

pytestmark = pytest.mark.django_db

SITE = "https://shop.example.com"


@pytest.fixture
def bot():
    return BotFactory(allowed_origins=[SITE])


def test_origins(bot):
    """Listed sites and Beacon's own preview origin pass; others, empty and 'null' do not."""
    assert widget.origin_allowed(bot=bot, origin=SITE)
    assert widget.origin_allowed(bot=bot, origin="HTTPS://SHOP.EXAMPLE.COM/")
    assert widget.origin_allowed(bot=bot, origin=widget.beacon_origin())
    assert not widget.origin_allowed(bot=bot, origin="https://evil.example.com")
    assert not widget.origin_allowed(bot=bot, origin="")
    assert not widget.origin_allowed(bot=bot, origin="null")
    with pytest.raises(widget.WidgetDenied) as denied:
        widget.origin_check(bot=bot, origin="https://evil.example.com")
    assert denied.value.status_code == 403


def test_a_site_listed_with_its_default_port_is_the_browsers_origin(bot):
    """Browsers never send a scheme's default port in Origin: a site listed with it (the bot API accepts
    https://shop.example.com:443) must still get its widget, and its frame-ancestors entry."""
    from apps.widget.pages import frame_csp

    bot.allowed_origins = ["https://shop.example.com:443", "http://blog.example.com:80", "http://app.example.com:8080"]
    assert widget.origin_allowed(bot=bot, origin="https://shop.example.com")
    assert widget.origin_allowed(bot=bot, origin="http://blog.example.com")
    assert widget.origin_allowed(bot=bot, origin="http://app.example.com:8080")
    assert not widget.origin_allowed(bot=bot, origin="http://app.example.com")
    assert not widget.origin_allowed(bot=bot, origin="https://blog.example.com")  # http's port is not https's
    assert not widget.origin_allowed(bot=bot, origin="http://shop.example.com")
    assert frame_csp(bot).endswith(
        "frame-ancestors 'self' http://app.example.com:8080 http://blog.example.com https://shop.example.com"
    )


def test_empty_allow_list_admits_only_the_preview(bot):
    """No allowed origins: only Beacon's own preview page may embed the widget."""
    bot.allowed_origins = []
    assert widget.origin_allowed(bot=bot, origin=widget.beacon_origin())
    assert not widget.origin_allowed(bot=bot, origin=SITE)


def test_token_round_trip(bot):
    """A token issued for an allowed origin verifies for the same bot, with its visitor and origin."""
    token, visitor = widget.visitor_token_issue(bot=bot, origin=SITE)
    assert bot.identity_secret not in token
    assert widget.visitor_token_verify(token=token, bot=bot) == visitor
    assert visitor.origin == SITE and visitor.visitor_id.startswith("v_") and visitor.user_id is None


def test_token_for_a_disallowed_origin_is_not_issued(bot):
    """No token for a site that is not allowed."""
    with pytest.raises(widget.WidgetDenied):
        widget.visitor_token_issue(bot=bot, origin="https://evil.example.com")


def test_expired_tampered_and_wrong_bot_tokens(bot, settings):
    """Expired, tampered and other-bot tokens are refused with 401 and a reason."""
    with mock.patch("time.time", return_value=time.time() - settings.WIDGET_TOKEN_TTL_SECONDS - 5):
        old, _ = widget.visitor_token_issue(bot=bot, origin=SITE)
    with pytest.raises(widget.WidgetTokenInvalid) as expired:
        widget.visitor_token_verify(token=old, bot=bot)
    assert expired.value.get_codes() == "visitor_token_expired"

    token, _ = widget.visitor_token_issue(bot=bot, origin=SITE)
    with pytest.raises(widget.WidgetTokenInvalid):
        widget.visitor_token_verify(token=token[:-2] + ("AA" if token[-2:] != "AA" else "BB"), bot=bot)
    forged = signing.TimestampSigner(salt="another purpose").sign_object({"b": bot.public_id, "v": "x", "o": SITE})
    with pytest.raises(widget.WidgetTokenInvalid):
        widget.visitor_token_verify(token=forged, bot=bot)
    other = BotFactory(organization=bot.organization, allowed_origins=[SITE])
    with pytest.raises(widget.WidgetTokenInvalid) as wrong_bot:
        widget.visitor_token_verify(token=token, bot=other)
    assert "another bot" in str(wrong_bot.value.detail)


def test_removing_an_origin_cuts_open_tokens(bot):
    """Tokens are re-checked against the allow-list on every use."""
    token, _ = widget.visitor_token_issue(bot=bot, origin=SITE)
    bot.allowed_origins = []
    bot.save()
    with pytest.raises(widget.WidgetDenied):
        widget.visitor_token_verify(token=token, bot=bot)


def test_identity_verification(bot):
    """A valid HMAC of the member's external id links the member; a wrong one or unknown id is refused."""
    member = MembershipFactory(organization=bot.organization, role=Role.MEMBER, external_id="crm-42")
    signature = widget.identity_signature(bot=bot, user_id="crm-42")
    assert widget.identity_verify(bot=bot, user_id="crm-42", signature=signature) == member.user
    assert (
        widget.identity_verify(
            bot=bot, user_id=member.user.email, signature=widget.identity_signature(bot=bot, user_id=member.user.email)
        )
        == member.user
    )
    with pytest.raises(widget.WidgetTokenInvalid) as bad:
        widget.identity_verify(bot=bot, user_id="crm-42", signature="0" * 64)
    assert bad.value.get_codes() == "identity_invalid"
    with pytest.raises(widget.WidgetTokenInvalid) as unknown:
        widget.identity_verify(
            bot=bot, user_id="crm-99", signature=widget.identity_signature(bot=bot, user_id="crm-99")
        )
    assert unknown.value.get_codes() == "identity_unknown"
    old_secret_signature = signature
    bot.identity_secret = "bis_rotated"
    with pytest.raises(widget.WidgetTokenInvalid):
        widget.identity_verify(bot=bot, user_id="crm-42", signature=old_secret_signature)


def test_member_of_another_organization_is_not_linked(bot):
    """An external id of another organization's member does not identify anyone here."""
    MembershipFactory(role=Role.MEMBER, external_id="crm-7")
    with pytest.raises(widget.WidgetTokenInvalid):
        widget.identity_verify(bot=bot, user_id="crm-7", signature=widget.identity_signature(bot=bot, user_id="crm-7"))


def test_rate_limits_in_redis(bot, settings, rate_clock):
    """Per visitor: the (limit+1)th request in a window is a 429 with retry_after; other visitors are not."""
    settings.WIDGET_RATE_VISITOR = "3/60"
    settings.WIDGET_RATE_IP = "100/60"
    settings.WIDGET_RATE_ORGANIZATION = "100/60"
    _, visitor = widget.visitor_token_issue(bot=bot, origin=SITE)
    _, other = widget.visitor_token_issue(bot=bot, origin=SITE)
    for _ in range(3):
        widget.widget_rate_limits(visitor=visitor, ip="10.0.0.1", organization_id=bot.organization_id)
    with pytest.raises(ApplicationError) as limited:
        widget.widget_rate_limits(visitor=visitor, ip="10.0.0.1", organization_id=bot.organization_id)
    assert limited.value.status_code == 429
    assert 0 < limited.value.extra["retry_after"] <= 60
    assert limited.value.extra["scope"] == "visitor"
    widget.widget_rate_limits(visitor=other, ip="10.0.0.1", organization_id=bot.organization_id)


def test_ip_and_organization_limits(bot, settings, rate_clock):
    """Many visitors from one IP, or across one organization, hit their own limits."""
    settings.WIDGET_RATE_VISITOR = "100/60"
    settings.WIDGET_RATE_IP = "2/60"
    settings.WIDGET_RATE_ORGANIZATION = "3/60"
    visitors = [widget.visitor_token_issue(bot=bot, origin=SITE)[1] for _ in range(4)]
    widget.widget_rate_limits(visitor=visitors[0], ip="10.0.0.2", organization_id=bot.organization_id)
    widget.widget_rate_limits(visitor=visitors[1], ip="10.0.0.2", organization_id=bot.organization_id)
    with pytest.raises(ApplicationError) as by_ip:
        widget.widget_rate_limits(visitor=visitors[2], ip="10.0.0.2", organization_id=bot.organization_id)
    assert by_ip.value.extra["scope"] == "ip"
    widget.widget_rate_limits(visitor=visitors[3], ip="10.0.0.3", organization_id=bot.organization_id)
    with pytest.raises(ApplicationError) as by_org:
        widget.widget_rate_limits(visitor=visitors[3], ip="10.0.0.4", organization_id=bot.organization_id)
    assert by_org.value.extra["scope"] == "org"
