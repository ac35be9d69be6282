"""Server-sent events for any API (issue 15: moved from conversations, whose chat API and the widget's
visitor API both stream): the renderer that lets `Accept: text/event-stream` through content
negotiation, the event encoder and the unbuffered streaming response. What the events mean is the
streaming app's business (the chat's `token`/`done` events: apps/conversations/api/streaming.py)."""

import json

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


def sse_response(events) -> StreamingHttpResponse:
    """A server-sent-events response that no proxy buffers or caches."""
    response = StreamingHttpResponse(events, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response
