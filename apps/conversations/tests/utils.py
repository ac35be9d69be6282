"""Helpers of the chat tests: ingest a document now, and a fake language model at the HTTP transport.

The only thing faked is the HTTP transport of the remote language model: the real OpenAI SDK talks
to an `httpx2.MockTransport` (httpx2 is the HTTP library the pinned SDK is built on), so retries,
timeouts, status errors and SSE parsing are the SDK's own. Database, cache and embedder are real.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx2

from apps.documents.services.pipeline import document_ingest_now
from apps.documents.services.upload import IncomingFile, document_upload

LLM_MODEL = "gpt-4o-mini-2024-07-18"
SYSTEM_PROMPT = "You are Beacon's support assistant. Be brief and friendly."

Reply = Callable[[httpx2.Request], httpx2.Response]


def close_unread(response) -> None:
    """What a web server does with a response whose client left before reading it: close it. As Django's test client
    closes a streamed response, with the test's database connection kept (request_finished would close it)."""
    from django.core.signals import request_finished
    from django.db import close_old_connections

    request_finished.disconnect(close_old_connections)
    try:
        response.close()
    finally:
        request_finished.connect(close_old_connections)


def ingest(bot, name: str, data: bytes):
    """Upload `data` as a document of `bot` and run the whole pipeline now: the document ends ready."""
    document = document_upload(organization=bot.organization, bot=bot, files=[IncomingFile(name, data)], enqueue=False)[
        0
    ].document
    document = document_ingest_now(document=document)
    assert document.status == "ready", document.error
    return document


# --------------------------------------------------------------------------- fake language model


def completion(content: str, *, prompt_tokens: int = 120, completion_tokens: int = 30, model: str = LLM_MODEL) -> Reply:
    """A 200 chat.completion reply."""
    body = {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }
    return lambda request: httpx2.Response(200, json=body)


def status(code: int, message: str = "upstream trouble", headers: dict | None = None) -> Reply:
    """An error status with OpenAI's error body."""
    body = {"error": {"message": message, "type": "server_error", "param": None, "code": None}}
    return lambda request: httpx2.Response(code, json=body, headers=headers or {})


def raises(exc_type: type[Exception]) -> Reply:
    """The transport fails (timeout, connection error) instead of answering."""

    def reply(request):
        raise exc_type("simulated transport failure", request=request)

    return reply


def chunk_event(*, delta: str | None = None, usage: tuple[int, int] | None = None, model: str = LLM_MODEL) -> bytes:
    """One `data:` line of a streamed chat.completion.chunk."""
    body = {"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": model}
    body["choices"] = (
        [] if delta is None else [{"index": 0, "delta": {"content": delta}, "finish_reason": None, "logprobs": None}]
    )
    if usage is not None:
        body["usage"] = {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)}
    return f"data: {json.dumps(body)}\n\n".encode()


class _Body(httpx2.SyncByteStream):
    """A response body sent in parts; `fail` raises after the parts (the connection drops mid-answer)."""

    def __init__(self, parts: list[bytes], fail: type[Exception] | None = None):
        self.parts, self.fail = parts, fail

    def __iter__(self):
        yield from self.parts
        if self.fail is not None:
            raise self.fail("connection lost mid-stream")


def stream(deltas: list[str], *, usage: tuple[int, int] = (150, 12), fail: type[Exception] | None = None) -> Reply:
    """A 200 text/event-stream reply: one chunk per delta, a final usage chunk, [DONE] (or a failure instead)."""
    parts = [chunk_event(delta=delta) for delta in deltas]
    if fail is None:
        parts += [chunk_event(usage=usage), b"data: [DONE]\n\n"]
    headers = {"content-type": "text/event-stream"}
    return lambda request: httpx2.Response(200, headers=headers, stream=_Body(parts, fail))


class FakeLLM:
    """Records each request and answers with the next reply (the last one repeats)."""

    def __init__(self, replies: tuple[Reply, ...]):
        assert replies
        self.replies = list(replies)
        self.requests: list[httpx2.Request] = []

    def handler(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        return reply(request)

    @property
    def calls(self) -> int:
        return len(self.requests)

    @property
    def bodies(self) -> list[dict]:
        return [json.loads(request.content) for request in self.requests]
