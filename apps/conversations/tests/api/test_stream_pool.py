"""A streamed answer waiting on the language model holds no database connection (apps/core/streaming.py,
`database_connection_release`).

The web server pools its connections (config/asgi.py, DATABASE_POOL) and a request holds its connection
until its response is closed, so a stream that kept its connection while the model wrote (seconds) would
take one of the process's DATABASE_POOL_MAX_SIZE for that long. Proved on the real server: config.asgi served
by uvicorn in a process of its own on the test database with a pool of ONE connection, the language model a
local server (OPENAI_BASE_URL) that sends one delta and then holds its reply. While a stream is held after its
first token, another request that needs the database is answered at once (it would wait the pool's timeout
and get a 503 if the stream held the connection); then the stream finishes and its answer is stored.
"""

from __future__ import annotations

import http.client
import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from apps.bots.tests.factories import BotFactory
from apps.conversations.models import Message
from apps.conversations.tests.api.test_stream_asgi import _events
from apps.conversations.tests.utils import chunk_event, ingest
from apps.core.tests.test_database_pool import asgi_server_process
from apps.documents.tests import samples
from apps.organizations.services import api_key_create
from conftest import client_for, token_pair

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

# Bounds on waits that end at once when the code works (they only stop a broken run from hanging).
HOLD_LIMIT = 60
POOL_TIMEOUT = 5  # seconds a request waits for the only pooled connection before its 503


class _HeldModel(BaseHTTPRequestHandler):
    """POST /v1/chat/completions, streamed: one delta, then nothing until `release` is set."""

    release = threading.Event()

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        self.wfile.write(chunk_event(delta="Refunds are processed"))
        self.wfile.flush()
        type(self).release.wait(timeout=HOLD_LIMIT)
        self.wfile.write(chunk_event(delta=" within 14 days [1]."))
        self.wfile.write(chunk_event(usage=(150, 12)))
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()

    def log_message(self, *args):
        pass


@pytest.fixture
def held_model():
    _HeldModel.release.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HeldModel)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    _HeldModel.release.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def pooled_server(held_model):
    """config.asgi on uvicorn, pooled with a single connection, its model the held local server."""
    with asgi_server_process(
        DATABASE_POOL_MIN_SIZE="1", DATABASE_POOL_MAX_SIZE="1", DATABASE_POOL_TIMEOUT=str(POOL_TIMEOUT),
        OPENAI_BASE_URL=f"http://127.0.0.1:{held_model}/v1", OPENAI_API_KEY="test-key", OPENAI_MAX_RETRIES="0",
    ) as port:  # fmt: skip
        yield port


def test_a_stream_waiting_on_the_model_leaves_the_pool_to_other_requests(pooled_server, organization, member):
    bot = BotFactory(organization=organization, min_score=0.3)
    ingest(bot, "guide.md", samples.md())
    base = f"/api/v1/orgs/{organization.slug}"
    conversation = client_for(member).post(f"{base}/bots/{bot.pk}/conversations/", {}, format="json").json()["id"]
    _key, raw_key = api_key_create(organization=organization, name=f"pool-{secrets.token_hex(3)}", scopes=["read"])

    stream = http.client.HTTPConnection("127.0.0.1", pooled_server, timeout=HOLD_LIMIT)
    stream.request(
        "POST", f"{base}/bots/{bot.pk}/conversations/{conversation}/messages/",
        body=json.dumps({"content": "How long do refunds take?"}),
        headers={"Authorization": f"Bearer {token_pair(member)['access']}", "Content-Type": "application/json",
                 "Accept": "text/event-stream"},
    )  # fmt: skip
    response = stream.getresponse()
    events = _events(response)
    assert next(events) == ("token", {"text": "Refunds are processed"})  # the model is now holding its reply
    try:
        other = http.client.HTTPConnection("127.0.0.1", pooled_server, timeout=HOLD_LIMIT)
        other.request("GET", f"{base}/bots/", headers={"Authorization": f"Api-Key {raw_key}", "Host": "localhost"})
        answer = other.getresponse()
        body = answer.read()
        assert answer.status == 200, body[:300]  # with the connection held: a 503 after POOL_TIMEOUT
        assert [found["id"] for found in json.loads(body)["results"]] == [bot.pk]
    finally:
        _HeldModel.release.set()
    rest = list(events)
    name, done = rest[-1]
    assert name == "done" and done["status"] == "ok", rest
    stored = Message.objects.get(pk=done["message_id"])
    assert stored.content == done["content"] == "Refunds are processed within 14 days [1]."
    stream.close()
