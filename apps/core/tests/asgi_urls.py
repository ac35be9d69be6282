"""URLs of test_asgi.py: views that report the thread they run in, one of them held until released."""

import threading

from django.db import transaction
from django.http import JsonResponse
from django.urls import path

#: set by a test: the held view waits for it (bounded, so a broken test cannot hang the suite)
release = threading.Event()
#: set when the held view has started
held_started = threading.Event()
HOLD_LIMIT = 30
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


urlpatterns = [path("ident/", ident), path("held/", held)]
