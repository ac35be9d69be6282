"""Embedding providers: the offline local model for real, and the OpenAI provider against a fake
OpenAI-compatible HTTP server on localhost (the only thing faked is the remote endpoint)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from apps.core.embeddings import (
    EmbeddingError,
    LocalEmbedder,
    OpenAIEmbedder,
    TransientEmbeddingError,
    get_embedder,
)


def test_local_provider_is_loaded_once_and_normalises(settings):
    """The default provider is the shipped all-MiniLM-L6-v2: 384 dims, unit vectors, one instance."""
    embedder = get_embedder()
    assert isinstance(embedder, LocalEmbedder)
    assert embedder is get_embedder()
    assert embedder.name == "local:all-MiniLM-L6-v2"
    assert embedder.dimensions == 384
    assert embedder.max_tokens == 254
    vectors = embedder.encode(["refunds take 14 days", "money back within two weeks", "install with make run"])
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]  # meaning, not words
    assert embedder.count_tokens(["hello world", ""]) == [2, 0]


def test_settings_choose_the_provider(settings):
    """EMBEDDING_PROVIDER=openai gives the OpenAI provider; an unknown provider is refused."""
    settings.EMBEDDING_PROVIDER = "openai"
    settings.EMBEDDING_MODEL = "text-embedding-3-small"
    embedder = get_embedder()
    assert isinstance(embedder, OpenAIEmbedder)
    assert (embedder.name, embedder.dimensions) == ("openai:text-embedding-3-small", 1536)
    settings.EMBEDDING_PROVIDER = "nope"
    with pytest.raises(ValueError, match="EMBEDDING_PROVIDER"):
        get_embedder()
    settings.EMBEDDING_PROVIDER = "local"
    settings.EMBEDDING_MODEL = "all-MiniLM-L6-v2"


class FakeOpenAI(BaseHTTPRequestHandler):
    status = 200
    requests: list[dict] = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeOpenAI.requests.append(body)
        if FakeOpenAI.status != 200:
            payload = {"error": {"message": "nope", "type": "test"}}
            code = FakeOpenAI.status
        else:
            data = [
                {"object": "embedding", "index": i, "embedding": [float(len(text)), 1.0, 0.0]}
                for i, text in enumerate(body["input"])
            ]
            payload = {
                "object": "list",
                "data": data[::-1],
                "model": body["model"],
                "usage": {"prompt_tokens": 1, "total_tokens": 1},
            }
            code = 200
        raw = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_openai(settings):
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    FakeOpenAI.status, FakeOpenAI.requests = 200, []
    settings.OPENAI_BASE_URL = f"http://127.0.0.1:{server.server_port}/v1"
    settings.OPENAI_API_KEY = "test-key"
    settings.OPENAI_MAX_RETRIES = 0
    settings.OPENAI_TIMEOUT = 5
    yield FakeOpenAI
    server.shutdown()


def test_openai_provider_batches_orders_and_normalises(fake_openai):
    """Inputs go in batches; rows come back in input order (whatever the server's order), unit length."""
    embedder = OpenAIEmbedder("custom-model", batch_size=2)
    vectors = embedder.encode(["a", "bbb", "cc"])
    assert [len(r["input"]) for r in fake_openai.requests] == [2, 1]
    assert fake_openai.requests[0]["model"] == "custom-model"
    expected = np.array([[1, 1, 0], [3, 1, 0], [2, 1, 0]], dtype=np.float32)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    assert np.allclose(vectors, expected)
    assert embedder.dimensions == 3  # unknown model: probed once


@pytest.mark.parametrize(("status", "error"), [(429, TransientEmbeddingError), (503, TransientEmbeddingError),
                                               (400, EmbeddingError)])  # fmt: skip
def test_openai_errors_are_classified(fake_openai, status, error):
    """429 and 5xx are transient (the task retries them); other refusals are final."""
    fake_openai.status = status
    with pytest.raises(error) as raised:
        OpenAIEmbedder("custom-model").encode(["x"])
    assert (type(raised.value) is TransientEmbeddingError) == (status != 400)


def test_local_model_is_safe_across_threads():
    """Threads of one process counting tokens and encoding at once (gunicorn --threads) never mix
    the shared tokenizer's settings up (issue 12: two chat 500s under load)."""
    import threading

    from apps.core.embeddings import get_embedder

    embedder = get_embedder()
    errors: list[BaseException] = []
    long_text = " ".join(["token"] * 600)

    def work(n: int) -> None:
        try:
            for i in range(40):
                if (n + i) % 2:
                    assert embedder.count_tokens([long_text, "short"]) == [600, 1]
                else:
                    texts = ["a question", "a much longer question with quite a few more words in it " * (1 + i % 3)]
                    assert embedder.encode(texts).shape == (2, embedder.dimensions)
        except BaseException as exc:  # noqa: BLE001  (collected and reported below)
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_pytorch_threads_follow_the_children_embedding(monkeypatch, settings):
    """EMBEDDING_BACKEND=torch in a prefork child (issue 17 item 6): PyTorch's threads are the CPUs shared among the
    children embedding now, set per batch of 16 -- every CPU alone, half while a sibling (a real forked process)
    embeds -- instead of PyTorch's default of every core in every child. Vectors are those of one plain encode, in
    the input order. A 20-file upload through a 2-child worker: 0.65x -> 0.99x bare PyTorch (docs/benchmarks.md)."""
    import os

    import torch

    from apps.core import embeddings
    from apps.core.tests.embedding_sibling import sibling_embedding

    texts = ["refunds take 14 days", "install with make run " * 40, "", "money back"] * 5  # 20: two batches
    embedder = get_embedder()
    plain = embedder.encode(texts)
    original = torch.get_num_threads()
    calls = []
    real_set = torch.set_num_threads
    monkeypatch.setattr(torch, "set_num_threads", lambda n: (calls.append(n), real_set(n)))
    monkeypatch.setattr(embeddings, "_sharing_processes", 1)
    monkeypatch.setattr(embeddings, "_embedding_now", None)
    monkeypatch.setattr(embeddings, "_embedding_lock", None)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    embeddings.embedding_processes_share(2)
    try:
        real_set(1)
        alone = embedder.encode(texts)
        assert calls == [4]  # set once, kept for the second batch
        with sibling_embedding():
            shared = embedder.encode(texts)
        assert calls == [4, 2] and embeddings._embedding_now.value == 0
        settings.EMBEDDING_THREADS = 3  # a fixed number: PyTorch keeps its own threads
        embedder.encode(texts)
        assert calls == [4, 2]
    finally:
        real_set(original)
    np.testing.assert_allclose(alone, plain, atol=1e-5)
    np.testing.assert_allclose(shared, plain, atol=1e-5)


# --------------------------------------------------------------------------- warm-up in ingestion workers


def _worker(pool: str, *queues: str):
    """What worker_init hands its receivers, as far as the warm-up reads it: the pool and the queues consumed."""
    from types import SimpleNamespace

    return SimpleNamespace(
        pool_cls=pool, app=SimpleNamespace(amqp=SimpleNamespace(queues=SimpleNamespace(consume_from=queues)))
    )


def test_an_ingestion_workers_children_load_the_model_as_they_start_and_tasks_wait_for_it(monkeypatch, caplog):
    """The children of a prefork worker that consumes the ingestion queue warm the embedder up when they start (the
    first upload after a start waited for the model's load), in a thread of their own (billiard kills a child that
    takes over 4 s to report itself up); a task arriving meanwhile waits until the warm-up is over (imports in two
    threads at once fail); a failure is logged, not raised, and releases the tasks. A light-queue worker's children
    and solo pools never load it."""
    import threading
    from importlib import import_module

    from apps.core import embeddings

    celery_app = import_module("config.celery_app")  # the module: `config.celery_app` is also the app's name
    release, events = threading.Event(), []

    def warm_up():
        assert release.wait(timeout=60)  # a hang guard: the test releases it
        events.append("loaded")
        if events.count("loaded") == 2:
            raise OSError("the model's files are missing")

    entered = threading.Event()

    class Readiness(threading.Event):
        """The warm-up's readiness, noting when a task starts waiting on it."""

        def wait(self, timeout=None):
            entered.set()
            return super().wait(timeout)

    ready = Readiness()
    ready.set()
    monkeypatch.setattr(celery_app, "_embedder_ready", ready)
    monkeypatch.setattr(embeddings, "embedder_warm_up", warm_up)
    monkeypatch.setattr(celery_app, "_warm_embedder", False)
    for worker in (_worker("prefork", "celery"), _worker("solo", "ingestion", "celery")):
        celery_app.worker_embedder_warm_mark(worker)
        assert celery_app.worker_embedder_warm() is None
    celery_app.task_waits_for_warm_up()  # nothing to wait for: returns at once
    entered.clear()

    celery_app.worker_embedder_warm_mark(_worker("prefork", "ingestion", "celery"))
    for _ in range(2):
        before = len(events)
        warm = celery_app.worker_embedder_warm()
        task = threading.Thread(
            target=lambda: (celery_app.task_waits_for_warm_up(), events.append("task")), daemon=True
        )
        task.start()
        # The task waits for the warm-up: it is inside the readiness wait, which is not over until the release.
        assert entered.wait(timeout=60)  # a hang guard: the thread enters the wait at once
        assert not celery_app._embedder_ready.is_set()
        assert task.is_alive() and events[before:] == []
        entered.clear()
        release.set()
        for thread in (warm, task):
            thread.join(timeout=60)  # hang guards: both end once released
            assert not thread.is_alive()
        release.clear()
    assert events == ["loaded", "task", "loaded", "task"]
    assert "embedding model warm-up failed" in caplog.text and "the model's files are missing" in caplog.text
    monkeypatch.setattr(celery_app, "_warm_embedder", False)
