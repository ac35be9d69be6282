"""Server-sent events for any API (issue 15: moved from conversations, whose chat API and the widget's
visitor API both stream): the renderer that lets `Accept: text/event-stream` through content
negotiation, the event encoder and the unbuffered streaming response. What the events mean is the
streaming app's business (the chat's `token`/`done` events: apps/conversations/api/streaming.py)."""

import json

from asgiref.sync import sync_to_async
from django.http import StreamingHttpResponse
from rest_framework import renderers


class EventStreamRenderer(renderers.BaseRenderer):
    """Lets `Accept: text/event-stream` through negotiation; errors then arrive as an `error` event."""

    media_type = "text/event-stream"
    format = "sse"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return sse("error", data).encode()


def sse(event: str, data) -> str:
    return f"event: {event}\ndata: {json.dumps(data, default=str)}\n\n"


class StreamingResponse(StreamingHttpResponse):
    """A streaming response of a synchronous iterator that streams under ASGI too.

    The parts come from a synchronous generator (a chat turn reads the database and waits on the
    model; an export reads its rows in batches). Under WSGI Django iterates it as it is. Under ASGI
    Django's own fallback for a synchronous iterator is `sync_to_async(list)`: the whole answer is
    collected before the first byte leaves, so a stream would arrive in one piece at the end. Here each
    part is pulled on its own, in the request's thread (`thread_sensitive`: the generator's database
    connection stays in one thread), and sent as soon as it exists, while the event loop serves the
    other requests and streams.
    """

    async def __aiter__(self):
        if self.is_async:
            async for part in super().__aiter__():
                yield part
            return
        parts = iter(self.streaming_content)
        step = sync_to_async(next, thread_sensitive=True)
        while (part := await step(parts, None)) is not None:
            yield part


class EventStreamResponse(StreamingResponse):
    """The response of server-sent events (sse_response)."""


def database_connection_release() -> None:
    """A stream about to wait (seconds, on a language model) gives its pooled database connection back; the
    next query takes one again. Under ASGI a request holds its connection until the response is closed, so
    with the web server's pool (DATABASE_POOL, at most DATABASE_POOL_MAX_SIZE per process) open streams
    would otherwise hold every connection while they wait and other requests would time out (503). Only a
    pooled connection outside a transaction: without a pool, closing would cost a new connection."""
    from django.db import connection

    if connection.connection is not None and not connection.in_atomic_block and connection.pool is not None:
        connection.close()


class EventStream:
    """(event, payload) pairs as server-sent events; `shape(event, payload)` may rewrite a payload on the way.

    The response's `close()` reaches the source's even before the first event was asked for (Django's
    StreamingHttpResponse registers the `close` of the iterator it is given). A generator written in the view for
    this closes nothing then: closing a generator that never started runs none of its body, its `with` included, so
    a source whose close does work (a chat turn stores its answer: conversations.services.TurnEvents) never heard
    that its reader had left.

    `comment`, when given, is sent first as an SSE comment (`: <comment>`, which clients ignore) before the source is
    asked for anything: the response's first bytes leave at once, so a client that bounds how long it waits for a sign
    of life (the widget's WIDGET_ANSWER_IDLE_SECONDS) hears that the request arrived and was accepted even while the
    first event is still minutes away (a slow model, its retries)."""

    def __init__(self, events, shape=None, comment: str | None = None):
        self._events = iter(events)
        self._shape = shape
        self._comment = comment

    def __iter__(self):
        return self

    def __next__(self) -> str:
        if self._comment is not None:
            comment, self._comment = self._comment, None
            return f": {comment}\n\n"
        event, payload = next(self._events)
        if self._shape is not None:
            payload = self._shape(event, payload)
        return sse(event, payload)

    def close(self) -> None:
        close = getattr(self._events, "close", None)
        if close is not None:
            close()


def sse_response(events, shape=None, comment: str | None = None) -> StreamingHttpResponse:
    """A server-sent-events response of (event, payload) pairs (`EventStream`, after `comment` when given) that no
    proxy buffers or caches (WSGI and ASGI alike); closing it closes `events`, read or not."""
    response = EventStreamResponse(EventStream(events, shape, comment), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response
