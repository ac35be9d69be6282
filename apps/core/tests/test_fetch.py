"""Safe outbound fetches (apps/core/fetch.py): private addresses refused unless allow-listed, at
connect time, after every redirect and whatever name resolves to them; limits; User-Agent; types."""

import pytest

from apps.core import fetch as fetch_module
from apps.core.fetch import FetchError, FetchRefused, address_allowed, fetch
from apps.core.tests.local_site import LocalSite, Page


@pytest.fixture
def site():
    with LocalSite() as site:
        site.pages["/page"] = Page(b"<html><body><p>Hello</p></body></html>")
        site.pages["/text"] = Page(b"plain words", content_type="text/plain")
        yield site


@pytest.fixture
def allow_loopback(settings):
    settings.FETCH_ALLOWED_PRIVATE_NETWORKS = ["127.0.0.1/32"]
    return settings


def test_allow_listed_site_is_fetched_with_our_user_agent(site, allow_loopback):
    allow_loopback.BEACON_FETCH_USER_AGENT = "BeaconBot/test (+https://beacon.example/bot)"
    response = fetch(site.url("/page"))
    assert response.status == 200
    assert response.content_type == "text/html"
    assert b"Hello" in response.body
    assert site.requests[-1][1]["user-agent"] == "BeaconBot/test (+https://beacon.example/bot)"


def test_without_the_allow_list_the_same_url_is_refused(site, settings):
    settings.FETCH_ALLOWED_PRIVATE_NETWORKS = []
    with pytest.raises(FetchRefused) as refused:
        fetch(site.url("/page"))
    assert "private or reserved address" in refused.value.message
    assert site.requests == []  # refused before any connection


def test_a_redirect_to_a_private_address_is_refused(site, allow_loopback):
    """The first host is allowed (127.0.0.1/32); its redirect to 127.0.0.2 (loopback too) is not."""
    site.pages["/go"] = Page(status=302, headers={"Location": site.url("/page", host="127.0.0.2")})
    site.pages["/go-local"] = Page(status=302, headers={"Location": site.url("/page")})
    assert fetch(site.url("/go-local")).body.startswith(b"<html>")  # an allowed target is followed
    with pytest.raises(FetchRefused):
        fetch(site.url("/go"))
    assert site.paths() == ["/go-local", "/page", "/go"]


def test_a_name_resolving_to_a_private_address_is_refused(site, settings, monkeypatch):
    settings.FETCH_ALLOWED_PRIVATE_NETWORKS = []
    with pytest.raises(FetchRefused):
        fetch(site.url("/page", host="localhost"))  # the real resolver: 127.0.0.1 / ::1
    monkeypatch.setattr(fetch_module, "resolve", lambda host, port: ["10.1.2.3"])
    with pytest.raises(FetchRefused):
        fetch("http://intranet.example/")
    assert site.requests == []


def test_the_connection_goes_to_the_address_resolved_once(site, allow_loopback, monkeypatch):
    """One look-up per URL; the socket connects to that address while the Host header keeps the name,
    so a second (rebinding) answer is never asked for."""
    calls = []

    def resolve(host, port):
        calls.append(host)
        return ["127.0.0.1"] if len(calls) == 1 else ["10.9.9.9"]

    monkeypatch.setattr(fetch_module, "resolve", resolve)
    response = fetch(f"http://docs.example:{site.port}/page")
    assert response.status == 200
    assert calls == ["docs.example"]
    assert site.requests[-1][1]["host"] == f"docs.example:{site.port}"


def test_limits_and_content_types(site, allow_loopback):
    allow_loopback.FETCH_MAX_BYTES = 5
    with pytest.raises(FetchError) as large:
        fetch(site.url("/page"))
    assert large.value.code == "too_large"
    allow_loopback.FETCH_MAX_BYTES = 1024
    with pytest.raises(FetchError) as typed:
        fetch(site.url("/text"), content_types={"text/html"})
    assert typed.value.code == "content_type"
    site.pages["/loop"] = Page(status=302, headers={"Location": "/loop"})
    allow_loopback.FETCH_MAX_REDIRECTS = 2
    with pytest.raises(FetchError) as loop:
        fetch(site.url("/loop"))
    assert loop.value.code == "too_many_redirects"
    assert site.paths().count("/loop") == 3


def test_non_http_urls_are_refused():
    for url in ["ftp://example.com/", "file:///etc/passwd", "gopher://127.0.0.1/"]:
        with pytest.raises(FetchError) as refused:
            fetch(url)
        assert refused.value.code == "invalid_url"


@pytest.mark.parametrize(
    "address, allowed",
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("10.0.0.1", False),
        ("172.16.5.4", False),
        ("192.168.1.1", False),
        ("127.0.0.1", False),
        ("169.254.169.254", False),
        ("224.0.0.1", False),
        ("240.0.0.1", False),
        ("0.0.0.0", False),
        ("::1", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("::ffff:127.0.0.1", False),
        ("2002:7f00:1::1", False),
        ("2002:808:808::1", True),
        ("64:ff9b::7f00:1", False),
        ("100.64.0.1", False),
    ],
)
def test_address_rules(settings, address, allowed):
    settings.FETCH_ALLOWED_PRIVATE_NETWORKS = []
    assert address_allowed(address) is allowed


def test_allow_list_opens_only_its_networks(settings):
    settings.FETCH_ALLOWED_PRIVATE_NETWORKS = ["10.0.0.0/8"]
    assert address_allowed("10.20.30.40")
    assert not address_allowed("192.168.0.1")
