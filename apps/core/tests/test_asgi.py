"""The web server's ASGI handler keeps request threads for the next request (apps/core/asgi.py).

What it proves, through the handler itself with ASGI messages (asgiref's ApplicationCommunicator):
- one request after another runs in the same thread (none started per request), never the loop's;
- requests at the same time each run in a thread of their own, as with Django's own handler: a held
  request does not hold up another one;
- a request whose client went away while its view runs keeps its thread until the view returns (the
  handler waits for it), and the thread is reused afterwards;
- requests share the process's Redis client and its connections (Django keeps cache objects per async
  context, so each ASGI request used to build a client and open a connection of its own);
- an `AfterResponse`'s work runs once the whole body is sent, in the request's thread, and the handler
  finishes the request only after it (apps/core/responses.py).
"""

from __future__ import annotations

import asyncio
import json
import threading

import pytest
from asgiref.testing import ApplicationCommunicator
from django.test import override_settings

from apps.core.asgi import RequestThreadsASGIHandler
from apps.core.tests import asgi_urls

# Bounds on waits that end at once when the code works (they only stop a broken run from hanging).
LIMIT = 30


def scope(path: str) -> dict:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
        "headers": [(b"host", b"testserver")], "client": ("127.0.0.1", 40000), "server": ("testserver", 80),
    }  # fmt: skip


async def start(app, path: str) -> ApplicationCommunicator:
    communicator = ApplicationCommunicator(app, scope(path))
    await communicator.send_input({"type": "http.request", "body": b"", "more_body": False})
    return communicator


async def answer(communicator: ApplicationCommunicator) -> dict:
    head = await communicator.receive_output(timeout=LIMIT)
    assert head["type"] == "http.response.start" and head["status"] == 200, head
    body = b""
    while True:
        message = await communicator.receive_output(timeout=LIMIT)
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await communicator.wait(timeout=LIMIT)
    return json.loads(body)


async def until(condition, failure) -> None:
    """Poll `condition` (a state of the handler or the event loop, set by the code under test) every 10 ms until it
    holds; LIMIT bounds a broken run only, whose message `failure()` says."""
    for _ in range(LIMIT * 100):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(failure())


async def idle_threads(app, count: int) -> None:
    """Executors return to the idle list from their own thread, just after the request: wait for it."""
    await until(lambda: len(app._idle) >= count, lambda: f"{len(app._idle)} idle request threads, expected {count}")


async def request_cancelled() -> None:
    """Wait until Django has cancelled a request's processing (it does when the client leaves before the response):
    no task is processing a request any more, or the one left is being cancelled. Call it while a view runs."""

    def cancelled() -> bool:
        processing = [task for task in asyncio.all_tasks()
                      if task.get_coro().__qualname__.endswith("handle.<locals>.process_request")]  # fmt: skip
        return all(task.cancelling() for task in processing)

    await until(cancelled, lambda: "the request was not cancelled")


async def one_after_another(app, path: str, *, times: int) -> list[dict]:
    """`times` requests to `path`, each after the previous one's thread is back in the idle list."""
    answers = []
    for _ in range(times):
        answers.append(await answer(await start(app, path)))
        await idle_threads(app, 1)
    return answers


@pytest.fixture
def app():
    asgi_urls.release.clear()
    asgi_urls.after_done.clear()
    asgi_urls.held_started.clear()
    asgi_urls.stream_seen.clear()
    asgi_urls.held_stream_seen.clear()
    with override_settings(ROOT_URLCONF="apps.core.tests.asgi_urls"):
        handler = RequestThreadsASGIHandler()
        yield handler
        asgi_urls.release.set()  # a failed test must not leave a view held
        for executor in handler._idle:
            executor.shutdown(wait=True)


def test_one_request_after_another_runs_in_the_same_thread(app):
    answers = asyncio.run(one_after_another(app, "/ident/", times=5))
    assert [found["served"] for found in answers] == [1, 2, 3, 4, 5], answers  # a new thread would count 1
    assert answers[0]["thread"] != threading.get_ident()  # not the event loop's thread
    assert len(app._idle) == 1


def test_requests_at_the_same_time_run_in_threads_of_their_own(app):
    async def run():
        held = await start(app, "/held/")
        assert await asyncio.to_thread(asgi_urls.held_started.wait, LIMIT)
        # The held view occupies its thread: this request must get another one and be answered meanwhile.
        other = await answer(await start(app, "/ident/"))
        asgi_urls.release.set()
        first = await answer(held)
        return first, other

    first, other = asyncio.run(run())
    assert first["released"] and first["thread"] != other["thread"]


def test_a_request_whose_client_went_away_keeps_its_thread_until_its_view_returns(app):
    """Django lets the view finish (a thread cannot be stopped); the thread is lent again only after."""

    async def run():
        held = await start(app, "/held/")
        assert await asyncio.to_thread(asgi_urls.held_started.wait, LIMIT)
        await held.send_input({"type": "http.disconnect"})  # the client went away; the view still runs
        during = (await answer(await start(app, "/ident/")))["thread"]  # another thread serves meanwhile
        await idle_threads(app, 1)
        assert not held.future.done()  # the handler waits for the held view
        asgi_urls.release.set()
        await held.wait(timeout=LIMIT)
        await idle_threads(app, 2)  # the held view returned: its thread is idle again
        after = set()
        pair = [await start(app, "/ident/"), await start(app, "/ident/")]  # two at once take both
        after |= {(await answer(communicator))["thread"] for communicator in pair}
        return during, after

    during, after = asyncio.run(run())
    assert during in after and len(after) == 2, (during, after)


def test_requests_share_one_redis_client_and_its_connections(app):
    answers = asyncio.run(one_after_another(app, "/cache/", times=5))
    assert len({found["client"] for found in answers}) == 1, answers
    assert answers[-1]["connections"] == answers[0]["connections"] >= 1, answers  # none opened after the first


def test_work_after_the_response_runs_once_the_body_is_sent_in_the_request_thread(app):
    async def run():
        communicator = await start(app, "/after/")
        head = await communicator.receive_output(timeout=LIMIT)
        assert head["status"] == 200
        body = await communicator.receive_output(timeout=LIMIT)
        # The client has the whole answer while the work after it is still waiting to be released.
        assert body["type"] == "http.response.body" and not body.get("more_body")
        assert not asgi_urls.after_done and not communicator.future.done()
        asgi_urls.release.set()
        await communicator.wait(timeout=LIMIT)
        return json.loads(body["body"])

    sent = asyncio.run(run())
    assert asgi_urls.after_done == {"released": True, "thread": sent["thread"]}


def test_a_stream_whose_client_went_away_is_closed_in_the_request_thread(app):
    """A client that leaves mid-stream: the handler closes the response's events (GeneratorExit where they wait) in
    the request's thread, never in the event loop's, and before they end by themselves. A chat turn relies on it to
    finish and store its answer (conversations.services._turn_reply: blocking work, a model's remaining output,
    that must not run on the loop)."""

    async def run():
        communicator = await start(app, "/stream/")
        head = await communicator.receive_output(timeout=LIMIT)
        assert head["status"] == 200
        first = await communicator.receive_output(timeout=LIMIT)
        assert b"part" in first["body"] and first.get("more_body")
        await communicator.send_input({"type": "http.disconnect"})
        await communicator.wait(timeout=LIMIT)
        return threading.get_ident()

    loop_thread = asyncio.run(run())
    seen = asgi_urls.stream_seen
    assert seen["closed"] == seen["view"] != loop_thread, seen
    assert seen["context"] == f"request {seen['view']}", seen  # what the view set, the stream sees
    assert seen["sent"] < seen["parts"], seen


def test_a_response_whose_client_left_while_its_view_ran_is_closed_in_the_request_thread(app):
    """Django cancels a request whose client leaves while its view runs and drops the response the view then returns,
    unclosed. The handler closes it, in the request's thread, before the request ends: a chat turn's events answer
    their question there (conversations.services.TurnEvents; the question stayed unanswered)."""

    async def run():
        communicator = await start(app, "/held-stream/")
        assert await asyncio.to_thread(asgi_urls.held_started.wait, LIMIT)
        await communicator.send_input({"type": "http.disconnect"})
        await request_cancelled()  # Django has seen the disconnect while the view is still held
        asgi_urls.release.set()
        await communicator.wait(timeout=LIMIT)
        await idle_threads(app, 1)  # the view, and the close after it, are over
        return threading.get_ident()

    loop_thread = asyncio.run(run())
    seen = asgi_urls.held_stream_seen
    assert seen["released"] and seen["closed"] == seen["view"] != loop_thread, seen
    assert seen["read"] == 0, seen  # nothing was sent: the client had gone
