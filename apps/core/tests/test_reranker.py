"""Rerankers (apps/core/reranker.py), against a real local HTTP server (tests/rerank_server.py).

Coverage: RERANKER=none -> no reranker; http with the Cohere/Jina answer and with TEI's, the request
carrying model, query, documents/texts, top_n and the bearer key; scores come back in the documents'
order; an HTTP 500, a stopped server (connection refused) and malformed answers raise RerankerError;
RERANKER=http without a URL, RERANKER=local without a model directory and an unknown RERANKER raise a
configuration error naming the setting.
"""

import pytest

from apps.core.reranker import (
    HttpReranker,
    LocalReranker,
    RerankerConfigError,
    RerankerError,
    get_reranker,
    parse_scores,
)
from apps.core.tests.rerank_server import RerankServer

DOCUMENTS = ["Parcels ship on Tuesday.", "Refunds take 14 days.", "Refunds: refunds are slow."]


def test_none_is_the_default_and_gives_no_reranker(settings):
    """RERANKER=none: get_reranker() is None (search keeps the fused order)."""
    settings.RERANKER = "none"
    assert get_reranker() is None


@pytest.mark.parametrize("shape", ["cohere", "tei"])
def test_http_reranker_reads_both_answer_shapes(settings, shape):
    """Cohere/Jina and TEI answers give one score per document, in the documents' order."""
    with RerankServer(shape=shape) as server:
        settings.RERANKER, settings.RERANKER_URL = "http", server.url + "/"
        settings.RERANKER_MODEL, settings.RERANKER_API_KEY = "rerank-test", "sekret"
        reranker = get_reranker()
        assert isinstance(reranker, HttpReranker)

        scores = reranker.rerank("how long do refunds take", DOCUMENTS)

    assert scores == [0.0, 2.0, 1.0]
    [request] = server.requests
    assert request["path"] == "/rerank" and request["auth"] == "Bearer sekret"
    assert request["body"] == {
        "model": "rerank-test",
        "query": "how long do refunds take",
        "documents": DOCUMENTS,
        "texts": DOCUMENTS,
        "top_n": 3,
    }


def test_http_error_and_outage_raise_reranker_error():
    """A 500, then the server gone (connection refused): RerankerError, never another exception."""
    with RerankServer(status=500) as server, pytest.raises(RerankerError, match="HTTP 500"):
        HttpReranker(server.url).rerank("q", DOCUMENTS)
    with pytest.raises(RerankerError, match="unreachable"):
        # The server is closed: loopback refuses at once; the short timeout only bounds a hang.
        HttpReranker(server.url, timeout=2).rerank("q", DOCUMENTS)


@pytest.mark.parametrize(
    "payload",
    [
        {"results": [{"index": 0, "relevance_score": 1}]},  # a document left unscored
        {"results": [{"index": 5, "relevance_score": 1}, {"index": 0, "relevance_score": 1}]},
        {"results": [{"index": 0, "relevance_score": "high"}, {"index": 1, "relevance_score": 1}]},
        {"data": []},
        ["not an object", "either"],
        "nonsense",
    ],
)
def test_malformed_answers_raise_reranker_error(payload):
    """Anything but a full, well-typed ranking is a RerankerError (a partial one would mix scales)."""
    with pytest.raises(RerankerError):
        parse_scores(payload, 2)


def test_configuration_errors_name_the_setting(settings, tmp_path):
    """http without a URL, local without a model directory, an unknown kind: RerankerConfigError."""
    settings.RERANKER, settings.RERANKER_URL = "http", ""
    with pytest.raises(RerankerConfigError, match="RERANKER_URL"):
        get_reranker()
    settings.RERANKER, settings.RERANKER_MODEL = "local", "cross-encoder/ms-marco-MiniLM-L-6-v2"
    with pytest.raises(RerankerConfigError, match="RERANKER_MODEL"):
        get_reranker()
    settings.RERANKER = "magic"
    with pytest.raises(RerankerConfigError, match="'none', 'local' or 'http'"):
        get_reranker()


def test_local_reranker_refuses_a_directory_without_a_model(tmp_path):
    """A directory that holds no cross-encoder: a configuration error at first use, not a hub download."""
    reranker = LocalReranker(str(tmp_path))
    with pytest.raises(RerankerConfigError, match="not a loadable cross-encoder"):
        reranker.rerank("q", ["a"])
