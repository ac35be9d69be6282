"""Outbound HTTP fetches that cannot be turned against the inside (issue 17, docs/sources.md).

A URL someone gives Beacon (a website to crawl, later a webhook endpoint) must never make the server
reach its own private network: private, loopback, link-local, multicast and reserved addresses are
refused unless `FETCH_ALLOWED_PRIVATE_NETWORKS` lists them. The host is resolved once by `resolve`
(the boundary tests patch), the address checked, and the connection made to that very address (the
Host header and the TLS server name keep the name), so a DNS answer that changes between the check
and the connection (rebinding) cannot switch it. Every redirect is a new URL, checked the same way.

Sizes, times and redirects are bounded by settings (`FETCH_MAX_BYTES`, `FETCH_TIMEOUT_SECONDS`,
`FETCH_MAX_REDIRECTS`); every request says who it is (`BEACON_FETCH_USER_AGENT`); a caller may name
the content types it accepts.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from django.conf import settings

REDIRECTS = {301, 302, 303, 307, 308}


class FetchError(Exception):
    """A fetch that did not give a usable answer; `code` names why, the message says it to a person."""

    def __init__(self, message: str, *, code: str = "fetch_failed"):
        super().__init__(message)
        self.message = message
        self.code = code


class FetchRefused(FetchError):
    """The URL (or a redirect) points where Beacon must not go."""

    def __init__(self, message: str):
        super().__init__(message, code="address_refused")


@dataclass
class FetchResponse:
    url: str  # after redirects
    status: int
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def resolve(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to (the single DNS look-up of a fetch)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(f"The host '{host}' could not be resolved.", code="dns_failed") from exc
    return list(dict.fromkeys(info[4][0] for info in infos))


def address_allowed(address: str, networks: Iterable[str] | None = None) -> bool:
    """A public unicast address, or one inside `networks` (CIDRs; by default
    `FETCH_ALLOWED_PRIVATE_NETWORKS`). The one rule for every outbound connection (webhooks too)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and (ip.ipv4_mapped or ip.sixtofour):
        ip = ip.ipv4_mapped or ip.sixtofour  # an IPv4 address in IPv6 clothes is judged as itself
    for network in settings.FETCH_ALLOWED_PRIVATE_NETWORKS if networks is None else networks:
        if ip in ipaddress.ip_network(network, strict=False):
            return True
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_link_local or ip.is_loopback)


def url_target(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, address) of `url`, the address checked; FetchError / FetchRefused otherwise."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise FetchError(f"'{url[:200]}' is not a valid URL.", code="invalid_url") from exc
    if parts.scheme not in ("http", "https"):
        raise FetchError("Only http and https URLs can be fetched.", code="invalid_url")
    host = parts.hostname
    if not host:
        raise FetchError(f"'{url[:200]}' has no host.", code="invalid_url")
    port = port or (443 if parts.scheme == "https" else 80)
    addresses = resolve(host, port)
    allowed = [address for address in addresses if address_allowed(address)]
    if not allowed:
        raise FetchRefused(
            f"'{host}' resolves to a private or reserved address ({', '.join(addresses) or 'none'}); "
            "Beacon does not fetch from such addresses."
        )
    return parts.scheme, host, port, allowed[0]


def pinned_connection(scheme: str, host: str, port: int, address: str, *, timeout: float):
    """An HTTP(S) connection to `address`, the one that was checked, while the Host header and the TLS
    server name (verified) keep `host`: no second DNS look-up between the check and the connection."""
    kind = _PinnedHTTPSConnection if scheme == "https" else _PinnedHTTPConnection
    return kind(host, port, address, timeout)


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host, port, address, timeout):
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self):
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host, port, address, timeout):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def fetch(
    url: str,
    *,
    headers: dict[str, str] | None = None,
    content_types: set[str] | None = None,
    max_bytes: int | None = None,
) -> FetchResponse:
    """GET `url`, following redirects (each one checked). A 2xx whose content type is not in
    `content_types` (when given) or whose body is over `max_bytes` (default `FETCH_MAX_BYTES`) is a
    FetchError; other statuses (304, 404, ...) are returned for the caller to judge."""
    max_bytes = max_bytes or settings.FETCH_MAX_BYTES
    deadline = time.monotonic() + settings.FETCH_TIMEOUT_SECONDS
    for _ in range(settings.FETCH_MAX_REDIRECTS + 1):
        response = _fetch_once(url, headers or {}, max_bytes, deadline)
        location = response.headers.get("location")
        if response.status in REDIRECTS and location:
            url = urljoin(url, location)
            continue
        if 200 <= response.status < 300 and content_types is not None and response.content_type not in content_types:
            raise FetchError(
                f"{url[:200]} answered with content type '{response.content_type or 'none'}', "
                f"not one of {', '.join(sorted(content_types))}.",
                code="content_type",
            )
        return response
    raise FetchError(f"More than {settings.FETCH_MAX_REDIRECTS} redirects from {url[:200]}.", code="too_many_redirects")


def _fetch_once(url: str, headers: dict[str, str], max_bytes: int, deadline: float) -> FetchResponse:
    scheme, host, port, address = url_target(url)
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise FetchError(f"{url[:200]} took longer than {settings.FETCH_TIMEOUT_SECONDS} s.", code="timeout")
    connection = pinned_connection(scheme, host, port, address, timeout=remaining)
    sent = {"User-Agent": settings.BEACON_FETCH_USER_AGENT, "Accept-Encoding": "identity", **headers}
    try:
        connection.request("GET", target, headers=sent)
        raw = connection.getresponse()
        received = {name.lower(): value for name, value in raw.getheaders()}
        length = received.get("content-length", "")
        if length.isdigit() and int(length) > max_bytes:
            raise FetchError(f"{url[:200]} is larger than {max_bytes:,} bytes.", code="too_large")
        body = bytearray()
        while raw.status not in REDIRECTS:
            if time.monotonic() > deadline:
                raise FetchError(f"{url[:200]} took longer than {settings.FETCH_TIMEOUT_SECONDS} s.", code="timeout")
            piece = raw.read(64 * 1024)
            if not piece:
                break
            body += piece
            if len(body) > max_bytes:
                raise FetchError(f"{url[:200]} is larger than {max_bytes:,} bytes.", code="too_large")
        return FetchResponse(url=url, status=raw.status, headers=received, body=bytes(body))
    except (OSError, http.client.HTTPException) as exc:
        if isinstance(exc, TimeoutError | socket.timeout):
            raise FetchError(
                f"{url[:200]} took longer than {settings.FETCH_TIMEOUT_SECONDS} s.", code="timeout"
            ) from exc
        raise FetchError(f"{url[:200]} could not be fetched: {exc.__class__.__name__}.") from exc
    finally:
        connection.close()
