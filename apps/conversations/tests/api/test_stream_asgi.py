"""Streamed answers under the production web server: ASGI (config.asgi) on a real uvicorn server.

What it proves:
- a streamed answer leaves the server event by event: every client receives its first `token` while
  the language model is still answering (Django's own fallback for a synchronous iterator under
  ASGI would collect the whole answer first, and nothing would arrive until the model finished);
- more streams are open at once than the former gthread pool had threads (3 processes x 2 threads:
  six), and a plain request is still answered meanwhile;
- each stream then finishes with its `done` event and the stored answer.

The model is faked at its HTTP boundary (the OpenAI SDK's transport): each reply sends one delta,
then holds until the test releases it.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time

import httpx2
import pytest
import uvicorn

from apps.bots.tests.factories import BotFactory
from apps.conversations.models import Message
from apps.conversations.tests.utils import chunk_event, ingest
from apps.documents.tests import samples
from conftest import client_for, token_pair

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

STREAMS = 8  # more than the six threads of the former default web server
# Bounds on waits that end at once when the code works (they only stop a broken run from hanging): a
# buffered stream never shows a first token, so the barrier breaks after FIRST_TOKEN_LIMIT seconds.
FIRST_TOKEN_LIMIT = 60
HOLD_LIMIT = 2 * FIRST_TOKEN_LIMIT
QUESTION = "How long do refunds take?"


class _HeldBody(httpx2.SyncByteStream):
    """The model's streamed reply: one delta, then nothing until `release` is set, then the rest."""

    def __init__(self, release: threading.Event):
        self.release = release

    def __iter__(self):
        yield chunk_event(delta="Refunds are processed")
        # The test sets the event as soon as every client has seen its first token (or when it fails).
        # Bounded only so that a broken run cannot hang the suite; never released means the connection
        # drops mid-answer, and the stored answer is an error the test rejects.
        if not self.release.wait(timeout=HOLD_LIMIT):
            raise httpx2.ReadError("the test never released the model's reply")
        yield chunk_event(delta=" within 14 days [1].")
        yield chunk_event(usage=(150, 12))
        yield b"data: [DONE]\n\n"


@pytest.fixture
def asgi_server():
    """config.asgi served by uvicorn in a thread of this process (the test database is shared)."""
    from config.asgi import application

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(application, lifespan="off", log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    # uvicorn sets `started` once it accepts connections; bounded so a server that cannot start fails
    # the test instead of hanging it (it starts in well under a second).
    deadline = time.monotonic() + 30
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield sock.getsockname()[1]
    server.should_exit = True
    thread.join(timeout=30)  # uvicorn exits within its next tick (0.1 s); the bound only guards a hang
    sock.close()


def _events(response):
    """(event, data) pairs read from an open SSE response as they arrive."""
    name = None
    while line := response.fp.readline():
        line = line.decode().rstrip("\n")
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            yield name, json.loads(line.removeprefix("data: "))


def test_concurrent_streams_arrive_event_by_event_under_asgi(asgi_server, organization, member, llm):
    bot = BotFactory(organization=organization, min_score=0.3)
    ingest(bot, "guide.md", samples.md())
    release = threading.Event()
    headers = {"content-type": "text/event-stream"}
    fake = llm(lambda request: httpx2.Response(200, headers=headers, stream=_HeldBody(release)))
    api = client_for(member)
    base = f"/api/v1/orgs/{organization.slug}/bots/{bot.pk}/conversations/"
    conversations = [api.post(base, {}, format="json").json()["id"] for _ in range(STREAMS)]
    token = token_pair(member)["access"]
    first_tokens = threading.Barrier(STREAMS + 1, timeout=FIRST_TOKEN_LIMIT)
    results: dict[int, list] = {}

    def ask(conversation_id: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", asgi_server, timeout=HOLD_LIMIT)
        connection.request(
            "POST",
            f"{base}{conversation_id}/messages/",
            body=json.dumps({"content": QUESTION}),
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
                "Accept": "text/event-stream",
            },
        )
        response = connection.getresponse()
        events = []
        for name, data in _events(response):
            events.append((name, data))
            if len(events) == 1:
                first_tokens.wait()  # every stream holds its first token before any goes on
        results[conversation_id] = [response.status, response.getheader("Content-Type"), events]
        connection.close()

    clients = [threading.Thread(target=ask, args=(pk,)) for pk in conversations]
    for client in clients:
        client.start()
    try:
        # All STREAMS clients have their first token while every model reply is still held: the stream
        # is not buffered, and the streams are open at the same time.
        first_tokens.wait()
        assert fake.calls == STREAMS
        # A plain request is answered while the streams are open.
        health = http.client.HTTPConnection("127.0.0.1", asgi_server, timeout=FIRST_TOKEN_LIMIT)
        health.request("GET", "/health/live")
        assert health.getresponse().status == 200
    finally:
        release.set()
        for client in clients:
            client.join(timeout=HOLD_LIMIT)  # released: each stream ends at once; a bound, not a pause

    assert sorted(results) == sorted(conversations)
    for conversation_id, (status, content_type, events) in results.items():
        assert (status, content_type) == (200, "text/event-stream")
        assert events[0] == ("token", {"text": "Refunds are processed"})
        name, done = events[-1]
        assert name == "done" and done["status"] == "ok"
        answer = Message.objects.get(pk=done["message_id"])
        assert answer.conversation_id == conversation_id
        assert answer.content == done["content"] == "Refunds are processed within 14 days [1]."
