"""The chat's server-sent events as the schema documents them, shared by every chat channel (the chat
API here, the widget's visitor API in apps/widget/). The generic renderer, encoder and response are
in apps/core/streaming.py."""

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
