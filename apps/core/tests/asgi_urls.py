"""URLs of test_asgi.py: views that report the thread they run in (one held until released), the cache
client that served them, and a response whose work after it is sent waits until released."""

import contextvars
import threading

from django.db import transaction
from django.http import JsonResponse
from django.urls import path
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.permissions import AllowAny

from apps.core.responses import AfterResponse

#: set by a test: the held view waits for it (bounded, so a broken test cannot hang the suite)
release = threading.Event()
#: set when the held view has started
held_started = threading.Event()
HOLD_LIMIT = 30
#: what the work after the `after/` response saw: its thread, and whether it was released
after_done: dict = {}
#: requests served by the current thread (thread identifiers are recycled; a count is not)
_served = threading.local()


def _thread() -> dict:
    _served.count = getattr(_served, "count", 0) + 1
    return {"thread": threading.get_ident(), "served": _served.count}


@transaction.non_atomic_requests
def ident(request):
    return JsonResponse(_thread())


@transaction.non_atomic_requests
def held(request):
    held_started.set()
    released = release.wait(timeout=HOLD_LIMIT)
    return JsonResponse({**_thread(), "released": released})


@transaction.non_atomic_requests
def cache_use(request):
    """One cache read, and what served it: the backend's client and how many connections its pool made."""
    from django.core.cache import cache

    cache.get("asgi-test")
    client = cache._cache
    pools = client._pools.values()
    return JsonResponse({"client": id(client), "connections": sum(pool._created_connections for pool in pools)})


@transaction.non_atomic_requests
@api_view(["GET"])
@authentication_classes([])
@permission_classes([AllowAny])
def after(request):
    """A response whose work after it waits for `release` (bounded), then records where it ran."""

    def work():
        after_done.update(released=release.wait(timeout=HOLD_LIMIT), thread=threading.get_ident())

    return AfterResponse({"thread": threading.get_ident()}, after=[work])


#: what the streamed view's events saw: the view's thread, the context variable the view set, and the thread that
#: closed them with what they had sent
stream_seen: dict = {}
#: set by the streamed view, read by its events (as the request id of RequestIdMiddleware is by the log lines)
view_context = contextvars.ContextVar("view_context")


@transaction.non_atomic_requests
def stream(request):
    """Server-sent events paced by 10 ms waits that end by themselves after HOLD_LIMIT seconds; closing them records
    in which thread and after how many parts (a chat turn finishes and stores its answer there when the person
    left: conversations.services._turn_reply)."""
    from apps.core.streaming import sse_response

    stream_seen["view"] = threading.get_ident()
    view_context.set(f"request {threading.get_ident()}")
    parts = HOLD_LIMIT * 100

    def events():
        sent = 0
        stream_seen["context"] = view_context.get(None)
        try:
            for _ in range(parts):
                yield "token", {"text": "part"}
                sent += 1
                release.wait(timeout=0.01)  # a pace, never set by the stream test: the client leaves meanwhile
            yield "done", {}
        except GeneratorExit:
            stream_seen.update(closed=threading.get_ident(), sent=sent, parts=parts)
            raise

    return sse_response(events())


#: what the held stream's events saw: the view's thread, the thread that closed them and whether any was read
held_stream_seen: dict = {}


class _Events:
    """Events that record their close (a chat turn answers its question there: conversations.services.TurnEvents)."""

    def __init__(self):
        self.read = 0

    def __iter__(self):
        return self

    def __next__(self):
        self.read += 1
        if self.read > 1:
            raise StopIteration
        return "token", {"text": "part"}

    def close(self):
        held_stream_seen.update(closed=threading.get_ident(), read=self.read)


@transaction.non_atomic_requests
def held_stream(request):
    """A stream whose view is held until released (bounded), as a chat turn is while its question is prepared."""
    from apps.core.streaming import sse_response

    held_stream_seen["view"] = threading.get_ident()
    held_started.set()
    held_stream_seen["released"] = release.wait(timeout=HOLD_LIMIT)
    return sse_response(_Events())


urlpatterns = [
    path("ident/", ident), path("held/", held), path("cache/", cache_use), path("after/", after),
    path("stream/", stream), path("held-stream/", held_stream),
]  # fmt: skip
