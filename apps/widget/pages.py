"""The widget's pages: the loader script (in the host page), the chat panel (the iframe, with its
Content-Security-Policy) and Beacon's own preview page. The visitor API the panel calls is api.py."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView, redirect_to_login
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.http import require_GET
from rest_framework.exceptions import NotFound

from apps.bots import selectors
from apps.bots.models import Bot
from apps.users.throttles import LOGIN_THROTTLED, login_throttle_wait
from apps.widget import services as widget
from apps.widget.selectors import preview_viewer_allowed, widget_config

LANGUAGES = {"en", "fr", "de", "es", "nl"}


def _language(value: str | None) -> str:
    value = (value or "en").split("-")[0].lower()
    return value if value in LANGUAGES else "en"


def _bot_or_none(public_id: str) -> Bot | None:
    try:
        return selectors.bot_get_public(public_id=public_id)
    except NotFound:
        return None


@require_GET
def loader_js(request, public_id: str):
    """The per-bot loader script (no secrets in it: the public id and Beacon's address)."""
    bot = _bot_or_none(public_id)
    if bot is None:
        return HttpResponse(
            "/* Beacon: no widget with this id. */\n", status=404, content_type="application/javascript"
        )
    response = render(
        request,
        "widget/loader.js",
        {"public_id": bot.public_id, "base_url": widget.own_origin(request)},
        content_type="application/javascript; charset=utf-8",
    )
    response["Cache-Control"] = "public, max-age=300"
    response["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


def frame_csp(bot: Bot) -> str:
    ancestors = " ".join(["'self'", *sorted({widget.normalise_origin(o) for o in bot.allowed_origins})])
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
        f"base-uri 'none'; form-action 'none'; frame-ancestors {ancestors}"
    )


@require_GET
@xframe_options_exempt  # framing is governed by the CSP frame-ancestors list instead
def frame_page(request, public_id: str):
    """The chat panel, inside the iframe. Only the bot's allowed origins (and Beacon) may frame it."""
    bot = _bot_or_none(public_id)
    if bot is None:
        return HttpResponse("No widget with this id.", status=404, content_type="text/plain")
    config = widget_config(bot)
    response = render(
        request,
        "widget/frame.html",
        {
            "bot": bot,
            "config": config,
            "lang": _language(request.GET.get("lang")),
            "restore_wait_ms": round(settings.WIDGET_RESTORE_WAIT_SECONDS * 1000),
            "answer_idle_ms": round(settings.WIDGET_ANSWER_IDLE_SECONDS * 1000),
        },
    )
    response["Content-Security-Policy"] = frame_csp(bot)
    response["Referrer-Policy"] = "no-referrer"
    response["Cache-Control"] = "no-store"
    return response


@require_GET
def preview_page(request, public_id: str):
    """Beacon's own page with the widget on it: for the organization's members and staff."""
    bot = _bot_or_none(public_id)
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path(), login_url=reverse("widget:sign-in"))
    if bot is None or not preview_viewer_allowed(request.user, bot):
        return HttpResponse("No widget with this id.", status=404, content_type="text/plain")
    snippet = bot.widget_snippet(widget.own_origin(request))
    return render(request, "widget/preview.html", {"bot": bot, "snippet": snippet, "public_id": bot.public_id})


class PreviewSignInForm(AuthenticationForm):
    """Any active account, not only staff: the preview itself admits only the bot's organization (and staff). The
    login throttles of the API and the admin apply (the same buckets), before the password is checked."""

    def clean(self):
        wait = login_throttle_wait(self.request, self.cleaned_data.get("username"))
        if wait is not None:
            raise ValidationError(LOGIN_THROTTLED, code="throttled", params={"wait": wait})
        return super().clean()


class PreviewSignInView(LoginView):
    """The preview page's sign-in. It used to send everyone to the admin's login, which refuses any account that is
    not staff: an organization's owners and members, to whom the bot API gives `widget_preview_url`, could never open
    it. (Django's LoginView: CSRF-protected, a new session on sign-in, `next` only to this site.)"""

    form_class = PreviewSignInForm
    template_name = "widget/sign_in.html"

    def get_default_redirect_url(self):
        return reverse("widget:sign-in")
