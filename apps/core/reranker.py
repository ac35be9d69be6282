"""Rerankers, chosen by settings: `RERANKER=none` (default), `local` or `http`.

A reranker scores (query, passage) pairs jointly (a cross-encoder), which orders a short list of
candidates better than the fused retrieval score can. `get_reranker()` returns None when off.
Every reranker gives `name` and `rerank(query, documents) -> list[float]`, one relevance score per
document, in the documents' order (higher is more relevant; the scale is the model's own).

- `http`: POST {RERANKER_URL}/rerank. Sends the Cohere/Jina shape
  {"model", "query", "documents": [...], "top_n"} plus TEI's {"texts": [...]} (TEI ignores the
  rest); reads Cohere/Jina {"results": [{"index", "relevance_score"}]} or TEI [{"index", "score"}].
  Any failure (connection, timeout, HTTP error, malformed answer) raises `RerankerError`; the
  search then keeps its fused order (apps.documents.selectors.chunk_search).
- `local`: a sentence-transformers CrossEncoder loaded from RERANKER_MODEL, a directory on disk
  (never a hub download at run time). No package on the registries ships cross-encoder weights
  inside its wheel, so `local` needs the model copied to the machine; a missing model is a
  `RerankerConfigError` at first use, never a silent fallback.
"""

from __future__ import annotations

import json
import os
import threading
import urllib.error
import urllib.request
from functools import cached_property
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

_lock = threading.Lock()
_reranker: tuple | None = None


class RerankerError(Exception):
    """The reranker failed (outage, timeout, bad answer); the caller keeps its own order."""


class RerankerConfigError(ImproperlyConfigured):
    """RERANKER settings that cannot work (unknown kind, no URL, no model on disk)."""


class HttpReranker:
    def __init__(self, url: str, *, model: str = "", api_key: str = "", timeout: float = 5.0):
        if not url:
            raise RerankerConfigError("RERANKER=http needs RERANKER_URL (the service's base URL, without /rerank).")
        self.url = url.rstrip("/") + "/rerank"
        self.model = model
        self.api_key = api_key
        self.timeout = timeout

    @property
    def name(self) -> str:
        return f"http:{self.model or self.url}"

    def rerank(self, query: str, documents: list[str]) -> list[float]:
        if not documents:
            return []
        body = {"query": query, "documents": documents, "texts": documents, "top_n": len(documents)}
        if self.model:
            body["model"] = self.model
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(self.url, data=json.dumps(body).encode(), headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                payload = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise RerankerError(f"reranker answered HTTP {exc.code}") from exc
        except (OSError, ValueError) as exc:  # URLError, timeouts, refused connections, bad JSON
            raise RerankerError(f"reranker unreachable or unreadable: {exc}") from exc
        return parse_scores(payload, len(documents))


def parse_scores(payload, count: int) -> list[float]:
    """Scores in the documents' order from a Cohere/Jina or TEI answer; RerankerError when malformed
    or when a document is missing (a partial ranking would mix two scales)."""
    results = payload.get("results") if isinstance(payload, dict) else payload
    if not isinstance(results, list):
        raise RerankerError("reranker answer has no results list")
    scores: list[float | None] = [None] * count
    for item in results:
        if not isinstance(item, dict):
            raise RerankerError("reranker answer has a result that is not an object")
        index = item.get("index")
        score = item.get("relevance_score", item.get("score"))
        valid_index = isinstance(index, int) and not isinstance(index, bool) and 0 <= index < count
        if not valid_index or not isinstance(score, (int, float)) or isinstance(score, bool):
            raise RerankerError(f"reranker answer has an invalid result: {str(item)[:200]}")
        scores[index] = float(score)
    if any(score is None for score in scores):
        raise RerankerError("reranker answer leaves documents unscored")
    return scores


class LocalReranker:
    def __init__(self, model: str, *, device: str = "cpu"):
        if not model or not Path(model).is_dir():
            raise RerankerConfigError(
                "RERANKER=local needs RERANKER_MODEL: the directory of a sentence-transformers cross-encoder "
                f"on this machine (got {model!r}); no model is downloaded at run time."
            )
        self.model_name = model
        self.device = device
        self._use = threading.Lock()  # one tokenizer object per model: not thread-safe (see embeddings.py)

    @property
    def name(self) -> str:
        return f"local:{Path(self.model_name).name}"

    @cached_property
    def model(self):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import CrossEncoder

        try:
            return CrossEncoder(self.model_name, device=self.device)
        except (OSError, ValueError) as exc:
            message = f"RERANKER_MODEL {self.model_name!r} is not a loadable cross-encoder: {exc}"
            raise RerankerConfigError(message) from exc

    def rerank(self, query: str, documents: list[str]) -> list[float]:
        if not documents:
            return []
        with self._use:
            scores = self.model.predict([(query, document) for document in documents], show_progress_bar=False)
        return [float(score) for score in scores]


def build_reranker():
    kind = settings.RERANKER
    if kind == "none":
        return None
    if kind == "http":
        return HttpReranker(
            settings.RERANKER_URL,
            model=settings.RERANKER_MODEL,
            api_key=settings.RERANKER_API_KEY,
            timeout=settings.RERANKER_TIMEOUT,
        )
    if kind == "local":
        return LocalReranker(settings.RERANKER_MODEL, device=settings.EMBEDDING_DEVICE)
    raise RerankerConfigError(f"RERANKER must be 'none', 'local' or 'http', not {kind!r}")


def get_reranker():
    """The process-wide reranker for the current settings, or None when RERANKER=none."""
    global _reranker
    wanted = (
        settings.RERANKER,
        settings.RERANKER_MODEL,
        settings.RERANKER_URL,
        settings.RERANKER_API_KEY,
        settings.RERANKER_TIMEOUT,
    )
    with _lock:
        if _reranker is None or _reranker[0] != wanted:
            _reranker = (wanted, build_reranker())
        return _reranker[1]
