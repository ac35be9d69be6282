"""Server-sent events for chat answers, shared by every chat channel (the chat API here, the widget's
visitor API in apps/widget/views.py): the renderer that lets `Accept: text/event-stream` through
content negotiation, the event encoder and the unbuffered streaming response."""

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


# One server-sent event as clients (and schemathesis) read it: `event` names it, `data` is one JSON
# document. `token` carries {text} as the answer is written, `done` the finished turn, `error` the
# error envelope of a request refused after negotiation.
EVENT_STREAM_SCHEMA = {
    "type": "object",
    "required": ["event", "data"],
    "properties": {
        "event": {"type": "string", "enum": ["token", "done", "error"]},
        "data": {"type": "string", "description": "One JSON document."},
    },
}


def sse(event: str, data) -> str:
    return f"event: {event}\ndata: {json.dumps(data, default=str)}\n\n"


def sse_response(events) -> StreamingHttpResponse:
    """A server-sent-events response that no proxy buffers or caches."""
    response = StreamingHttpResponse(events, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response
