"""Where a webhook may go: https:// only (http:// with WEBHOOK_ALLOW_HTTP), and never to a private,
loopback, link-local, multicast or reserved address unless WEBHOOK_ALLOWED_PRIVATE names the host or
its network. Checked when an endpoint is saved and again at every attempt, on every address the name
resolves to; the attempt then connects to the address that was checked (no second lookup, so a name
cannot resolve to a public address for the check and a private one for the connection), and
redirects are never followed."""

from __future__ import annotations

import http.client
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings


class WebhookUrlError(ValueError):
    """The URL may not be used; the message says why (shown to people as a 400)."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # path and query
    address: str  # the checked IP address the connection goes to


def _allowed_anyway(host: str, address) -> bool:
    for entry in settings.WEBHOOK_ALLOWED_PRIVATE:
        entry = entry.strip().lower()
        if entry == host:
            return True
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def _refused(address) -> bool:
    if getattr(address, "ipv4_mapped", None):
        address = address.ipv4_mapped
    return (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


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
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise WebhookUrlError(f"The host name '{host}' does not resolve.") from exc
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    for raw in addresses:
        address = ipaddress.ip_address(raw.split("%", 1)[0])
        if _refused(address) and not _allowed_anyway(host, address):
            raise WebhookUrlError(
                f"'{host}' resolves to {address}, a private, loopback or reserved address; webhooks go to public "
                "addresses only (WEBHOOK_ALLOWED_PRIVATE lists exceptions)."
            )
    return Target(scheme=scheme, host=host, port=port, path=path, address=addresses[0])


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, target: Target, timeout: float):
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = target.address

    def connect(self):
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, target: Target, timeout: float):
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = target.address

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def connection_for(target: Target, *, timeout: float) -> http.client.HTTPConnection:
    """A connection to the checked address (TLS verified against the host name for https)."""
    kind = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
    return kind(target, timeout)
