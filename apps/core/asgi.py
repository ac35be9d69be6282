"""Django's ASGI handler with request threads kept for the next request (config/asgi.py serves it).

Django runs a request's synchronous code (middleware, views, the response's close) in a thread of the
request's own: `ASGIHandler` enters an asgiref `ThreadSensitiveContext`, which starts a one-thread
executor for the request and joins it at the end. Starting and joining that thread was most of the
HTTP overhead of a small answer on 2 cores (py-spy of /health/live/ under load: `Thread.start` and the
join in about a quarter of the server's samples; 2.2 ms over HTTP for a view that takes 0.23 ms).

`RequestThreadsASGIHandler` hands each request a one-thread executor of its own as before, but takes
it from a list of idle ones and puts it back when the request is over, through asgiref's own
`ThreadSensitiveContext(executor=...)` (the caller owns the executor; it is not shut down on exit). A
request's code still runs in one thread that no other request uses at the same time, as Django
expects; threads are reused one request after another, as in any threaded WSGI server. An executor
goes back to the idle list only once everything submitted to it has finished (a client that went away
mid-request leaves the view running: its thread is not lent out before the view returns), and at most
`IDLE_THREADS` wait there; the rest are shut down.

It also runs the synchronous middleware chain, view included, in that thread with one switch from the
event loop (as a WSGI server would), where Django's async chain switched three times: our middlewares and
WhiteNoise are synchronous, so the async chain ran them in the thread, handed the inner call back to the
loop, which handed the view to the thread again. Measured interleaved over HTTP (load 2.6): /health/live/
1.47 -> 1.28 ms, a cached recommendations list 6.66 -> 6.51 ms. Async views would still work (Django runs
them through async_to_sync from the thread); the project has none.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core.handlers.asgi import ASGIHandler

logger = logging.getLogger(__name__)

#: idle request threads one process keeps (more concurrent requests start new ones, as Django does)
IDLE_THREADS = 32


class RequestThreadsASGIHandler(ASGIHandler):
    def __init__(self):
        super().__init__()
        self._idle: list[ThreadPoolExecutor] = []

    def load_middleware(self, is_async=False):
        """The synchronous middleware chain (module docstring), whatever ASGIHandler asks for."""
        super().load_middleware(is_async=False)

    async def get_response_async(self, request):
        """The whole synchronous chain, view included, in the request's thread: one switch from the event
        loop instead of three (the async chain hands a sync-only middleware's inner call back to the loop,
        which hands the view to the thread again).

        A client that leaves while the view runs: Django cancels the request and drops, unclosed, the response the
        view goes on to return, so whatever its close() finishes never happened (a chat turn whose client left
        while its question was prepared stayed unanswered: conversations.services.TurnEvents). Here that response is
        closed in the request's thread as soon as the view returns (`_Handover`); the thread was busy with the view
        anyway, and is lent to no other request before it is done. In this task's own context: the context
        variables the view sets (the request id of the log lines) stay visible while the response streams."""
        handover = _Handover()
        try:
            return await sync_to_async(handover.respond, thread_sensitive=True)(self.get_response, request)
        except asyncio.CancelledError:
            response = handover.abandon()
            if response is not None:  # the view returned just as the client left: closed here, however cancelled
                closing = asyncio.ensure_future(sync_to_async(response.close, thread_sensitive=True)())
                while not closing.done():
                    try:
                        await asyncio.shield(closing)
                    except asyncio.CancelledError:
                        continue
                    except Exception:
                        logger.exception("closing the response of a request whose client left failed")
            raise

    def _executor_take(self) -> ThreadPoolExecutor:
        try:
            return self._idle.pop()
        except IndexError:
            return ThreadPoolExecutor(max_workers=1, thread_name_prefix="request")

    def _executor_return(self, executor: ThreadPoolExecutor) -> None:
        """Back to the idle list once the work already submitted has finished (a no-op queued behind it
        runs last); called from the event loop, completed in the executor's thread."""

        def done(_future) -> None:
            if len(self._idle) < IDLE_THREADS:
                self._idle.append(executor)  # list.append is atomic: no lock needed across threads
            else:
                executor.shutdown(wait=False)

        executor.submit(_nothing).add_done_callback(done)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":  # as ASGIHandler: Django serves HTTP only
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        executor = self._executor_take()
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)
        finally:
            self._executor_return(executor)


class _Handover:
    """The view's response passed from the request's thread to the event loop, or closed in the thread when the
    loop has stopped waiting for it (the client left): whichever side comes second under the lock knows it."""

    def __init__(self):
        self._lock = threading.Lock()
        self._abandoned = False
        self._response = None

    def respond(self, get_response, request):
        response = get_response(request)
        with self._lock:
            if not self._abandoned:
                self._response = response
                return response
        try:
            response.close()
        except Exception:
            logger.exception("closing the response of a request whose client left failed")
        return response

    def abandon(self):
        """The loop stops waiting: None when the thread will close the response itself, else the response it had
        already handed over (the view returned just as the client left), for the caller to close."""
        with self._lock:
            self._abandoned = True
            return self._response


def _nothing() -> None:
    return None


def get_asgi_application() -> RequestThreadsASGIHandler:
    """django.core.asgi.get_asgi_application with this handler."""
    import django

    django.setup(set_prefix=False)
    return RequestThreadsASGIHandler()
