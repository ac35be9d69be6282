"""Where a webhook may go: https:// only (http:// with WEBHOOK_ALLOW_HTTP), and never to a private,
loopback, link-local, multicast or reserved address unless WEBHOOK_ALLOWED_PRIVATE names the host or
its network. Checked when an endpoint is saved and again at every attempt, on every address the name
resolves to; the attempt then connects to the address that was checked (no second lookup, so a name
cannot resolve to a public address for the check and a private one for the connection), and
redirects are never followed. The address rule, the look-up and the pinned connection are the ones
of every outbound fetch (apps/core/fetch.py); only the URL rules and the allow-list are webhooks' own."""

from __future__ import annotations

import http.client
import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from apps.core.fetch import FetchError, address_allowed, pinned_connection, resolve


class WebhookUrlError(ValueError):
    """The URL may not be used; the message says why (shown to people as a 400)."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # path and query
    address: str  # the checked IP address the connection goes to


def _allowed(host: str, address: str) -> bool:
    """Public (the rule of every outbound connection, `core.fetch.address_allowed`), or listed in
    WEBHOOK_ALLOWED_PRIVATE by host name or by a network holding it."""
    entries = [entry.strip().lower() for entry in settings.WEBHOOK_ALLOWED_PRIVATE if entry.strip()]
    if host in entries:
        return True
    return address_allowed(address, networks=[entry for entry in entries if _is_network(entry)])


def _is_network(entry: str) -> bool:
    try:
        ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return False
    return True


def webhook_url_parse(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path) of an acceptable URL, or WebhookUrlError."""
    parts = urlsplit(url)
    allowed = ("https", "http") if settings.WEBHOOK_ALLOW_HTTP else ("https",)
    if parts.scheme not in allowed:
        raise WebhookUrlError("Webhook URLs must use https://.")
    if parts.username or parts.password:
        raise WebhookUrlError("Webhook URLs may not carry a user name or password.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise WebhookUrlError("The port of the URL is not a number from 1 to 65535.") from exc
    if not parts.hostname:
        raise WebhookUrlError("The URL has no host.")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname.lower(), port, path


def webhook_url_resolve(url: str) -> Target:
    """The URL's target after the checks of the module docstring; WebhookUrlError otherwise."""
    scheme, host, port, path = webhook_url_parse(url)
    try:
        addresses = resolve(host, port)
    except FetchError as exc:
        raise WebhookUrlError(f"The host name '{host}' does not resolve.") from exc
    for address in addresses:
        if not _allowed(host, address):
            raise WebhookUrlError(
                f"'{host}' resolves to {address}, a private, loopback or reserved address; webhooks go to public "
                "addresses only (WEBHOOK_ALLOWED_PRIVATE lists exceptions)."
            )
    return Target(scheme=scheme, host=host, port=port, path=path, address=addresses[0])


def connection_for(target: Target, *, timeout: float) -> http.client.HTTPConnection:
    """A connection to the checked address (TLS verified against the host name for https)."""
    return pinned_connection(target.scheme, target.host, target.port, target.address, timeout=timeout)
