"""Webhooks API: /api/v1/orgs/{org}/webhooks/[{id}/[deliveries/[{id}/[replay/]]]] (docs/webhooks.md).

Coverage: create (201, the secret once, never again in reads), list/detail/patch/delete; bad input is a
400 with a message (http:// without WEBHOOK_ALLOW_HTTP, a loopback, private or link-local address
without WEBHOOK_ALLOWED_PRIVATE, an unknown event, no events, a user name in the URL); members and API
keys are refused (403); another organization's member and owner get 404 on every webhook route and
method, with nothing changed; deliveries list and detail (payload, attempts); replay re-enqueues on
commit. Deliveries through a worker: test_deliveries_worker.py.
"""

from unittest import mock

import pytest

from apps.organizations.models import Role
from apps.organizations.tests.factories import MembershipFactory, OrganizationFactory, api_key_for
from apps.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from apps.webhooks.tests.factories import WebhookDeliveryFactory, WebhookEndpointFactory
from conftest import client_for

pytestmark = pytest.mark.django_db

PUBLIC = "https://93.184.215.14/hooks"  # a public address literal: no DNS in tests; never contacted here


def hooks_url(organization, suffix: str = "") -> str:
    return f"/api/v1/orgs/{organization.slug}/webhooks/{suffix}"


@pytest.fixture
def admin(organization):
    return client_for(MembershipFactory(organization=organization, role=Role.ADMIN).user)


def test_create_shows_the_secret_once(organization, admin):
    response = admin.post(
        hooks_url(organization),
        {"url": PUBLIC, "events": ["document.ready", "conversation.feedback", "document.ready"], "description": "CRM"},
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    endpoint = WebhookEndpoint.objects.get()
    assert body["secret"] == endpoint.secret and endpoint.secret.startswith("whsec_")
    assert body["events"] == ["conversation.feedback", "document.ready"]
    assert endpoint.organization == organization and body["url"] == PUBLIC and body["is_active"] is True
    listed = admin.get(hooks_url(organization)).json()
    assert listed["count"] == 1 and "secret" not in listed["results"][0]
    assert "secret" not in admin.get(hooks_url(organization, f"{endpoint.pk}/")).json()


def test_update_and_delete(organization, admin):
    endpoint = WebhookEndpointFactory(organization=organization)
    url = hooks_url(organization, f"{endpoint.pk}/")

    response = admin.patch(url, {"events": ["plan.limit_reached"], "is_active": False}, format="json")

    assert response.status_code == 200
    endpoint.refresh_from_db()
    assert endpoint.events == ["plan.limit_reached"] and endpoint.is_active is False
    WebhookDeliveryFactory(endpoint=endpoint)
    assert admin.delete(url).status_code == 204
    assert not WebhookEndpoint.objects.exists() and not WebhookDelivery.objects.exists()


@pytest.mark.parametrize(
    "payload, message",
    [
        ({"url": "http://93.184.215.14/h", "events": ["document.ready"]}, "Webhook URLs must use https://."),
        ({"url": "https://127.0.0.1/h", "events": ["document.ready"]}, "resolves to 127.0.0.1, a private, loopback"),
        ({"url": "https://10.1.2.3/h", "events": ["document.ready"]}, "resolves to 10.1.2.3, a private"),
        ({"url": "https://169.254.169.254/latest", "events": ["document.ready"]}, "resolves to 169.254.169.254"),
        ({"url": "https://localhost/h", "events": ["document.ready"]}, "a private, loopback or reserved address"),
        # Carrier-grade NAT space is not "private" to Python but not public either: the rule shared
        # with every outbound fetch (core.fetch.address_allowed) refuses it.
        ({"url": "https://100.64.1.2/h", "events": ["document.ready"]}, "resolves to 100.64.1.2"),
        ({"url": "https://u:p@93.184.215.14/h", "events": ["document.ready"]}, "url: "),
        ({"url": PUBLIC, "events": ["document.eaten"]}, 'events[0]: "document.eaten" is not a valid choice.'),
        ({"url": PUBLIC, "events": []}, "events: "),
        ({"url": "ftp://93.184.215.14/h", "events": ["document.ready"]}, "url: "),
        ({"events": ["document.ready"]}, "url: "),
    ],
)
def test_bad_input_is_a_400_with_a_message(organization, admin, payload, message):
    response = admin.post(hooks_url(organization), payload, format="json")
    assert response.status_code == 400, response.content
    assert message in response.json()["error"]["message"]
    assert not WebhookEndpoint.objects.exists()


def test_patch_checks_the_url_too(organization, admin):
    endpoint = WebhookEndpointFactory(organization=organization)
    response = admin.patch(hooks_url(organization, f"{endpoint.pk}/"), {"url": "https://192.168.0.9/"}, format="json")
    assert response.status_code == 400
    assert "192.168.0.9" in response.json()["error"]["message"]


def test_settings_allow_http_and_listed_private_addresses(organization, admin, settings):
    settings.WEBHOOK_ALLOW_HTTP = True
    settings.WEBHOOK_ALLOWED_PRIVATE = ["127.0.0.1"]
    ok = admin.post(
        hooks_url(organization), {"url": "http://127.0.0.1:9/h", "events": ["document.ready"]}, format="json"
    )
    assert ok.status_code == 201
    other = admin.post(
        hooks_url(organization), {"url": "http://10.0.0.1/h", "events": ["document.ready"]}, format="json"
    )
    assert other.status_code == 400


def test_members_and_api_keys_are_refused(organization, member):
    endpoint = WebhookEndpointFactory(organization=organization)
    keyed = client_for(member)
    _, key = api_key_for(organization)
    keyed_api = client_for(member)
    keyed_api.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    for client in (keyed, keyed_api):
        assert client.get(hooks_url(organization)).status_code == 403
        assert client.get(hooks_url(organization, f"{endpoint.pk}/")).status_code == 403


def all_routes(organization, endpoint, delivery) -> list[tuple[str, str]]:
    base = hooks_url(organization)
    one = f"{base}{endpoint.pk}/"
    return [
        ("get", base), ("post", base), ("get", one), ("patch", one), ("delete", one),
        ("get", f"{one}deliveries/"), ("get", f"{one}deliveries/{delivery.pk}/"),
        ("post", f"{one}deliveries/{delivery.pk}/replay/"),
    ]  # fmt: skip


@pytest.mark.parametrize("role", [Role.MEMBER, Role.OWNER])
def test_another_organization_gets_404_on_every_route(organization, role):
    endpoint = WebhookEndpointFactory(organization=organization)
    delivery = WebhookDeliveryFactory(endpoint=endpoint)
    stranger = client_for(MembershipFactory(organization=OrganizationFactory(), role=role).user)
    before = list(WebhookEndpoint.objects.values_list("pk", "url", "events", "is_active"))

    for method, url in all_routes(organization, endpoint, delivery):
        response = getattr(stranger, method)(url, {"url": PUBLIC, "events": ["document.ready"]}, format="json")
        assert response.status_code == 404, (method, url, response.content)
        assert response.json()["error"]["code"] == "not_found"

    assert list(WebhookEndpoint.objects.values_list("pk", "url", "events", "is_active")) == before
    assert WebhookDelivery.objects.get().status == WebhookDelivery.Status.PENDING


def test_another_organizations_ids_under_own_slug_are_404(organization, admin):
    foreign = WebhookEndpointFactory()
    delivery = WebhookDeliveryFactory(endpoint=foreign)
    own = WebhookEndpointFactory(organization=organization)
    for method, url in all_routes(organization, foreign, delivery)[2:]:
        assert getattr(admin, method)(url, {}, format="json").status_code == 404, (method, url)
    # A delivery of another endpoint under one's own endpoint: 404 as well.
    assert admin.get(hooks_url(organization, f"{own.pk}/deliveries/{delivery.pk}/")).status_code == 404


def test_deliveries_list_and_detail(organization, admin):
    endpoint = WebhookEndpointFactory(organization=organization)
    older, newer = WebhookDeliveryFactory(endpoint=endpoint), WebhookDeliveryFactory(endpoint=endpoint)
    WebhookAttempt.objects.create(
        delivery=older, number=1, started_at=older.created_at, status_code=500, response_excerpt="boom", duration_ms=3
    )

    listed = admin.get(hooks_url(organization, f"{endpoint.pk}/deliveries/")).json()
    detail = admin.get(hooks_url(organization, f"{endpoint.pk}/deliveries/{older.pk}/")).json()

    assert [row["id"] for row in listed["results"]] == [newer.pk, older.pk]
    assert detail["payload"] == {"bot_id": 1, "document_id": 2, "status": "ready"}
    assert detail["attempts"] == [
        {
            "number": 1,
            "started_at": older.created_at.isoformat().replace("+00:00", "Z"),
            "status_code": 500,
            "duration_ms": 3,
            "response_excerpt": "boom",
            "error": "",
        }
    ]


def test_replay_enqueues_after_commit(organization, admin, django_capture_on_commit_callbacks):
    endpoint = WebhookEndpointFactory(organization=organization)
    delivery = WebhookDeliveryFactory(endpoint=endpoint, status=WebhookDelivery.Status.FAILED, attempt_count=6)
    replay = hooks_url(organization, f"{endpoint.pk}/deliveries/{delivery.pk}/replay/")
    with (
        mock.patch("workers.tasks.webhooks.webhook_deliver_task.apply_async") as publish,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = admin.post(replay)
    assert response.status_code == 202 and response.json()["status"] == "pending"
    publish.assert_called_once_with((delivery.pk,))
