"""Deliveries through a real Celery worker to a local HTTP server (docs/webhooks.md).

The receiver is http.server on 127.0.0.1 in a thread; this test allows http:// and that address
(WEBHOOK_ALLOW_HTTP, WEBHOOK_ALLOWED_PRIVATE) and retries without delay (WEBHOOK_RETRY_BASE_SECONDS=0).
Coverage: a 500 is recorded and retried, then the 200 succeeds; the signature verifies with the snippet
of docs/webhooks.md (run as written) and fails with another secret or a changed body; a replay is
received again with the same event id and a fresh attempt recorded; a document made ready by the
ingestion worker is announced (document.ready) end to end.
"""

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from apps.bots.tests.factories import BotFactory
from apps.conversations.models import Conversation, Message
from apps.organizations.models import Role
from apps.organizations.tests.factories import MembershipFactory
from apps.webhooks.models import WebhookDelivery
from conftest import client_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

DOCS = Path(__file__).resolve().parents[3] / "docs" / "webhooks.md"


def documented_verifier():
    """`beacon_signature_valid` exactly as docs/webhooks.md shows it."""
    text = DOCS.read_text(encoding="utf-8")
    code = re.search(r"<!-- verification snippet.*?-->\n```python\n(.*?)```", text, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, str(DOCS), "exec"), namespace)  # our own documentation
    return namespace["beacon_signature_valid"]


class Receiver:
    """A local webhook receiver: answers each POST with the next status of `statuses` (then 200)."""

    def __init__(self, statuses=()):
        self.statuses = list(statuses)
        self.requests: list[tuple[dict, bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"failed on purpose" if status >= 500 else b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks?source=beacon"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def wait(self, count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.requests) >= count, self.requests


@pytest.fixture
def receiver(settings):
    settings.WEBHOOK_ALLOW_HTTP = True
    settings.WEBHOOK_ALLOWED_PRIVATE = ["127.0.0.1"]
    settings.WEBHOOK_RETRY_BASE_SECONDS = 0
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    receiver = Receiver()
    receiver.thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


def wait_delivery(pk: int, *, status: str, attempts: int, timeout: float = 60) -> WebhookDelivery:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        delivery = WebhookDelivery.objects.get(pk=pk)
        if delivery.status == status and delivery.attempt_count >= attempts:
            return delivery
        time.sleep(0.05)
    raise AssertionError(WebhookDelivery.objects.filter(pk=pk).values().first())


def register(client, organization, url: str, events: list[str]) -> dict:
    response = client.post(f"/api/v1/orgs/{organization.slug}/webhooks/", {"url": url, "events": events}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_feedback_is_delivered_signed_retried_and_replayable(celery_worker, receiver):
    owner = MembershipFactory(role=Role.OWNER)
    organization = owner.organization
    client = client_for(owner.user)
    hook = register(client, organization, receiver.url, ["conversation.feedback"])
    bot = BotFactory(organization=organization)
    conversation = Conversation.objects.create(organization=organization, bot=bot, user=owner.user)
    answer = Message.objects.create(
        organization=organization, conversation=conversation, role=Message.Role.ASSISTANT, content="14 days."
    )
    receiver.statuses = [500]  # the first attempt fails
    feedback = (
        f"/api/v1/orgs/{organization.slug}/bots/{bot.pk}/conversations/{conversation.pk}/messages/{answer.pk}/feedback/"
    )

    assert client.post(feedback, {"value": 1, "comment": "Spot on"}, format="json").status_code == 200

    receiver.wait(2)
    delivery = wait_delivery(WebhookDelivery.objects.get().pk, status="succeeded", attempts=2)
    (_first_headers, first_body), (headers, body) = receiver.requests
    assert first_body == body  # a retry sends the same bytes
    envelope = json.loads(body)
    assert envelope["type"] == "conversation.feedback" and envelope["id"] == str(delivery.event_id)
    assert envelope["organization_id"] == organization.pk
    assert envelope["data"] == {
        "bot_id": bot.pk, "conversation_id": conversation.pk, "message_id": answer.pk, "value": 1, "comment": "Spot on",
    }  # fmt: skip
    assert headers["Beacon-Event"] == "conversation.feedback" and headers["Beacon-Delivery"] == str(delivery.pk)
    valid = documented_verifier()
    assert valid(hook["secret"], headers["Beacon-Signature"], body)
    assert not valid("whsec_other", headers["Beacon-Signature"], body)
    assert not valid(hook["secret"], headers["Beacon-Signature"], body.replace(b"Spot on", b"Spot off"))
    old = re.sub(r"t=\d+", f"t={int(time.time()) - 3600}", headers["Beacon-Signature"])
    assert not valid(hook["secret"], old, body)  # an hour-old timestamp (and its signature no longer matches)

    detail = client.get(f"/api/v1/orgs/{organization.slug}/webhooks/{hook['id']}/deliveries/{delivery.pk}/").json()
    assert [(a["number"], a["status_code"], a["response_excerpt"]) for a in detail["attempts"]] == [
        (1, 500, "failed on purpose"),
        (2, 200, "ok"),
    ]
    assert detail["status"] == "succeeded" and detail["last_status_code"] == 200

    replay = f"/api/v1/orgs/{organization.slug}/webhooks/{hook['id']}/deliveries/{delivery.pk}/replay/"
    assert client.post(replay).status_code == 202
    receiver.wait(3)
    wait_delivery(delivery.pk, status="succeeded", attempts=3)
    headers, replayed = receiver.requests[2]
    assert json.loads(replayed)["id"] == str(delivery.event_id) and replayed == body
    assert valid(hook["secret"], headers["Beacon-Signature"], replayed)


def test_a_receiver_that_keeps_failing_ends_failed_after_the_capped_attempts(celery_worker, receiver):
    from apps.documents.services.pipeline import document_fail
    from apps.documents.tests.factories import DocumentFactory

    owner = MembershipFactory(role=Role.OWNER)
    register(client_for(owner.user), owner.organization, receiver.url, ["document.failed"])
    document = DocumentFactory(bot=BotFactory(organization=owner.organization))
    receiver.statuses = [500, 503, 502, 500]

    document_fail(document_id=document.pk, message="Unreadable.")

    delivery = wait_delivery(WebhookDelivery.objects.get().pk, status="failed", attempts=3)
    assert list(delivery.attempts.values_list("status_code", flat=True)) == [500, 503, 502]
    assert len(receiver.requests) == 3  # WEBHOOK_MAX_ATTEMPTS, no more


def test_a_ready_document_is_announced_end_to_end(celery_worker, receiver):
    owner = MembershipFactory(role=Role.OWNER)
    organization = owner.organization
    client = client_for(owner.user)
    register(client, organization, receiver.url, ["document.ready"])
    bot = BotFactory(organization=organization)

    response = client.post(
        f"/api/v1/orgs/{organization.slug}/bots/{bot.pk}/documents/text/",
        {"title": "Refunds", "text": "Refunds are possible within 14 days of purchase."},
        format="json",
    )

    assert response.status_code == 201, response.content
    receiver.wait(1, timeout=120)
    envelope = json.loads(receiver.requests[0][1])
    assert envelope["type"] == "document.ready"
    assert envelope["data"] == {"bot_id": bot.pk, "document_id": response.json()["document"]["id"], "status": "ready"}
