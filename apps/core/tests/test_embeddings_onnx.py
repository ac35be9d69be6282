"""The local model on ONNX Runtime (EMBEDDING_BACKEND=onnx|onnx-int8, issue 17 item 6): chosen by the setting,
exported once from the offline weights into a cache and reused, vectors interchangeable with PyTorch's, a
missing onnxruntime refused at startup, and the CPUs shared among a prefork worker's children. The export (about
10 s) runs once per session, into a temporary folder."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command

from apps.core import embeddings
from apps.core.embeddings import LocalEmbedder, OnnxEmbedder, embedder_check, get_embedder
from apps.core.tests.embedding_sibling import sibling_embedding

# In process, or in processes of its own: `make test` runs it beside the main lane (docs/testing.md, Lanes).
pytestmark = pytest.mark.beside

ROOT = Path(__file__).resolve().parents[3]
TEXTS = [
    "Refunds take 14 days after the return arrives.",
    "Money back within two weeks.",
    "Install with make run.",
    "VACUUM reclaims storage occupied by dead tuples; " * 30,  # longer than the model's 256 tokens
    "",
    "Überprüfen Sie die Einstellungen — café, naïve, 東京.",
]


@pytest.fixture(scope="session")
def onnx_dir(tmp_path_factory):
    """A cache holding both exports, made once for the session."""
    folder = tmp_path_factory.mktemp("onnx")
    OnnxEmbedder("all-MiniLM-L6-v2", quantized=True, cache_dir=folder).encode(["export"])
    return folder


@pytest.fixture
def onnx_settings(settings, onnx_dir):
    settings.EMBEDDING_ONNX_DIR = str(onnx_dir)
    yield settings
    settings.EMBEDDING_BACKEND = "torch"
    get_embedder()  # the process-wide provider back to the suite's default


def test_the_backend_setting_selects_the_runtime(onnx_settings):
    """torch -> LocalEmbedder on PyTorch; onnx / onnx-int8 -> ONNX Runtime on the float / int8 export, under the
    same `name` (stored beside each vector: no reembed on a switch); anything else is refused."""
    assert type(get_embedder()) is LocalEmbedder
    for backend, quantized, file in [("onnx", False, "model.onnx"), ("onnx-int8", True, "model-int8.onnx")]:
        onnx_settings.EMBEDDING_BACKEND = backend
        embedder = get_embedder()
        assert isinstance(embedder, OnnxEmbedder)
        assert embedder.quantized is quantized
        assert (embedder.name, embedder.dimensions, embedder.max_tokens) == ("local:all-MiniLM-L6-v2", 384, 254)
        assert embedder.encode(["hello"]).shape == (1, 384)
        assert embedder.onnx_path.name == file and embedder.onnx_path.is_relative_to(onnx_settings.EMBEDDING_ONNX_DIR)
    onnx_settings.EMBEDDING_BACKEND = "tensorflow"
    with pytest.raises(ImproperlyConfigured, match="EMBEDDING_BACKEND must be one of torch, onnx, onnx-int8"):
        get_embedder()


def test_onnx_vectors_match_torch(onnx_dir):
    """Float ONNX gives PyTorch's vectors (cosine >= 0.999 each); int8 stays close (>= 0.97 each, >= 0.985 on
    average) and keeps meaning first. Unit length, empty text and truncation included."""
    torch_vectors = LocalEmbedder("all-MiniLM-L6-v2").encode(TEXTS)
    for quantized, worst, average in [(False, 0.999, 0.9995), (True, 0.97, 0.985)]:
        vectors = OnnxEmbedder("all-MiniLM-L6-v2", quantized=quantized, cache_dir=onnx_dir, batch_size=4).encode(TEXTS)
        assert vectors.shape == torch_vectors.shape and vectors.dtype == np.float32
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
        cosines = (vectors * torch_vectors).sum(axis=1)
        assert cosines.min() >= worst and cosines.mean() >= average, (quantized, cosines)
        assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


def test_the_export_is_cached(onnx_dir, monkeypatch):
    """A second load reuses the files (no export, files untouched); other weights get another folder."""
    files = sorted(onnx_dir.rglob("*.onnx"))
    assert [file.name for file in files] == ["model-int8.onnx", "model.onnx"]
    before = [(file.stat().st_ino, file.stat().st_mtime_ns) for file in files]

    def no_export(*args, **kwargs):
        raise AssertionError("exported again")

    monkeypatch.setattr(embeddings, "_onnx_export_float", no_export)
    monkeypatch.setattr("onnxruntime.quantization.quantize_dynamic", no_export)
    for quantized in (False, True):
        embedder = OnnxEmbedder("all-MiniLM-L6-v2", quantized=quantized, cache_dir=onnx_dir)
        assert embedder.encode(["cached"]).shape == (1, 384)
    assert [(file.stat().st_ino, file.stat().st_mtime_ns) for file in files] == before
    assert sorted(onnx_dir.rglob("*.onnx")) == files  # no stray partial files


def test_embeddings_export_command(onnx_settings, capsys):
    """`manage.py embeddings_export` writes (here: finds) the export in EMBEDDING_ONNX_DIR and says where."""
    call_command("embeddings_export", "--backend", "onnx-int8")
    out = capsys.readouterr().out
    assert out.startswith("onnx-int8: ") and out.strip().endswith("model-int8.onnx")
    assert Path(out.split(": ", 1)[1].strip()).is_relative_to(onnx_settings.EMBEDDING_ONNX_DIR)


def test_missing_onnxruntime_is_refused_at_startup(settings, monkeypatch):
    """Without onnxruntime an ONNX backend stops django.setup() with a clear ImproperlyConfigured (not a 500 on
    the first upload); torch and the openai provider do not need it."""
    real_find_spec = embeddings.importlib.util.find_spec
    monkeypatch.setattr(
        embeddings.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "onnxruntime" else real_find_spec(name, *a),
    )
    settings.EMBEDDING_BACKEND = "onnx-int8"
    with pytest.raises(ImproperlyConfigured, match="EMBEDDING_BACKEND=onnx-int8 needs onnxruntime"):
        embedder_check()
    settings.EMBEDDING_PROVIDER = "openai"
    embedder_check()
    settings.EMBEDDING_PROVIDER, settings.EMBEDDING_BACKEND = "local", "torch"
    embedder_check()

    # The real startup, in a process where onnxruntime cannot be imported.
    code = "import sys; sys.modules['onnxruntime'] = None; import django; django.setup()"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", "EMBEDDING_BACKEND": "onnx"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured: EMBEDDING_BACKEND=onnx needs onnxruntime" in result.stderr


def test_the_export_is_fused_and_the_int8_graph_quantized(onnx_dir, tmp_path, monkeypatch):
    """Export version 3 (issue 17 item 6): eager attention fused by ONNX Runtime's transformer optimizer (one
    Attention per layer, bias + GELU; skip + LayerNorm left as Add + LayerNormalization, in the file and in the
    session), and int8 over the fused graph (quantized attention and matrix products, 7-bit weights only without
    VNNI: the cache folder says which)."""
    import onnx

    (float_path,) = onnx_dir.rglob("model.onnx")
    (int8_path,) = onnx_dir.rglob("model-int8.onnx")
    float_ops = [node.op_type for node in onnx.load(float_path, load_external_data=False).graph.node]
    assert float_ops.count("Attention") == 6  # all-MiniLM-L6-v2 has 6 layers
    assert float_ops.count("BiasGelu") == 6
    assert "SkipLayerNormalization" not in float_ops and float_ops.count("LayerNormalization") == 12
    int8_ops = {node.op_type for node in onnx.load(int8_path, load_external_data=False).graph.node}
    assert {"QAttention", "MatMulInteger", "DynamicQuantizeLinear"} <= int8_ops
    assert "Attention" not in int8_ops
    # The session does not fuse them either: its optimized graph (written out) keeps the LayerNormalizations.
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    unfused = embeddings.SKIP_LAYER_NORM_UNFUSED
    cpu = ["CPUExecutionProvider"]
    onnxruntime.InferenceSession(str(int8_path), options, providers=cpu, disabled_optimizers=unfused)
    optimized = [node.op_type for node in onnx.load(tmp_path / "optimized.onnx").graph.node]
    assert "SkipLayerNormalization" not in optimized and optimized.count("LayerNormalization") == 12

    # The other kind of CPU gets a folder of its own (its int8 file differs); the export is stubbed here.
    model_path = OnnxEmbedder("all-MiniLM-L6-v2", quantized=False, cache_dir=tmp_path).model_path
    vnni = embeddings.cpu_has_vnni()
    monkeypatch.setattr(embeddings, "_onnx_export_float", lambda model, target: target.write_bytes(b"stub"))
    here = embeddings.onnx_export(None, model_path, cache_dir=tmp_path, quantized=False)
    monkeypatch.setattr(embeddings, "cpu_has_vnni", lambda: not vnni)
    there = embeddings.onnx_export(None, model_path, cache_dir=tmp_path, quantized=False)
    assert here.name == there.name == "model.onnx" and here.parent != there.parent


def test_prefork_worker_children_share_the_cpus(onnx_dir):
    """EMBEDDING_THREADS=0 in a prefork worker (issue 17 item 6): each child gets CPUs / children threads (at
    least 1) instead of one per CPU each (two children on two cores preempted each other's threads); solo and
    thread pools keep every CPU for their one embedding process. Real WorkControllers (built, not started), in a
    process of their own: the share is process-wide, inherited by the forked children."""
    code = (
        "import os, sys, django; django.setup()\n"
        "from config.celery_app import app\n"
        "from apps.core import embeddings\n"
        "from apps.core.embeddings import OnnxEmbedder\n"
        "for pool, count in [('solo', 2), ('threads', 4), ('prefork', 2), ('prefork', 'auto')]:\n"
        "    embeddings.embedding_processes_share(1)\n"
        "    app.WorkController(pool_cls=pool, concurrency=count, hostname='probe@test', queues=['ingestion'])\n"
        "    embedder = OnnxEmbedder('all-MiniLM-L6-v2', quantized=True, cache_dir=sys.argv[1])\n"
        "    threads = embedder.session.get_session_options().intra_op_num_threads\n"
        "    print(pool, count, embeddings._sharing_processes, embedder.threads, threads)\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    # The probe loads Django and four ONNX Runtime sessions (seconds each on 2 cores): the timeout only stops a
    # hung child from hanging the suite; nothing here measures time.
    result = subprocess.run(
        [sys.executable, "-c", code, str(onnx_dir)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    cpus = len(os.sched_getaffinity(0))
    half = max(1, cpus // 2)
    assert result.stdout.split("\n")[-5:-1] == [
        f"solo 2 1 {cpus} {cpus}",
        f"threads 4 1 {cpus} {cpus}",
        f"prefork 2 2 {half} {half}",
        f"prefork auto {cpus} 1 1",
    ]
    # An explicit EMBEDDING_THREADS is kept whatever the pool.
    assert OnnxEmbedder("all-MiniLM-L6-v2", quantized=True, cache_dir=onnx_dir, threads=3).threads == 3


def test_a_child_embedding_alone_takes_every_cpu(onnx_dir, monkeypatch):
    """EMBEDDING_THREADS=0 among prefork children: the share follows how many embed right now, decided before
    each run (ONNX_ROWS_PER_THREAD texts per thread) -- alone, a child runs on every CPU (a single upload, the
    last document of a crawl); while a sibling embeds, on its share. The count lives in shared memory that forked
    children update (a real fork here), and a child's turn ends with its encode, also when it fails."""
    monkeypatch.setattr(embeddings, "_sharing_processes", 1)
    monkeypatch.setattr(embeddings, "_embedding_now", None)
    monkeypatch.setattr(embeddings, "_embedding_lock", None)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})  # 4 CPUs, whatever this machine has
    embeddings.embedding_processes_share(2)
    counter = embeddings._embedding_now
    embedder = OnnxEmbedder("all-MiniLM-L6-v2", quantized=True, cache_dir=onnx_dir)
    assert (embedder.adaptive, embedder.threads) == (True, 2)

    embedder.encode(["warm up"])
    assert set(embedder._sessions) == {2, 4} and counter.value == 0  # both made at the first encode
    options = embedder._sessions[4].get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    runs = []  # the thread count of each session run
    for threads, session in embedder._sessions.items():
        monkeypatch.setattr(session, "run", lambda *args, _run=session.run, _threads=threads: (
            runs.append(_threads), _run(*args))[1])  # fmt: skip

    alone = embedder.encode(TEXTS)
    assert runs == [4] and counter.value == 0  # alone: every CPU, all 6 texts in one run of up to 4 x 2

    with sibling_embedding():  # a forked child holding its turn
        assert counter.value == 1
        assert embeddings.embedding_threads_now() == 4  # not counting this process yet: would be alone
        runs.clear()
        shared = embedder.encode(TEXTS)
        assert runs == [2, 2]  # its share while the sibling embedded: runs of up to 2 x 2 texts
    assert counter.value == 0
    # Alone, the six texts went in one run; shared, in runs of four and two. int8 quantizes each run's activations
    # with one scale, so a text's vector moves slightly with its run-mates (here an empty text and one of 256
    # tokens): close, not equal (the float graph gives the same vectors whatever the runs, see the test below).
    assert ((alone * shared).sum(axis=1) > 0.96).all()

    def tokenizer_fails(*args, **kwargs):
        assert counter.value == 1  # inside the turn
        raise RuntimeError("tokenizer failed")

    with monkeypatch.context() as patch:
        patch.setattr(type(embedder.model.tokenizer), "__call__", tokenizer_fails)
        with pytest.raises(RuntimeError, match="tokenizer failed"):
            embedder.encode(TEXTS)  # a failing encode ends its turn too
    assert counter.value == 0

    # The count's lock held for good (a sibling killed while holding it): no wait, no count, the fixed share.
    # Nobody else holds it here, so this takes it at once; the bound only turns a lock leaked by a broken turn
    # into a failure instead of a hung suite (nothing waits on anything slow).
    assert embeddings._embedding_lock.acquire(timeout=1)
    try:
        with embeddings.embedding_turn():
            assert counter.value == 0
    finally:
        embeddings._embedding_lock.release()

    # An explicit EMBEDDING_THREADS is fixed: one session, whoever embeds.
    fixed = OnnxEmbedder("all-MiniLM-L6-v2", quantized=True, cache_dir=onnx_dir, threads=3)
    fixed.encode(TEXTS)
    assert (fixed.adaptive, set(fixed._sessions)) == (False, {3})
    embeddings.embedding_processes_share(1)
    assert embeddings._embedding_now is None and embeddings.embedding_threads_now() == 4


class _RecordingSession:
    """An ONNX Runtime session that records the shape of every batch it runs."""

    def __init__(self, session):
        self.session, self.shapes = session, []

    def get_inputs(self):
        return self.session.get_inputs()

    def run(self, outputs, feed):
        self.shapes.append(feed["input_ids"].shape)
        return self.session.run(outputs, feed)


def test_batches_are_ordered_by_tokens_so_each_pads_little(onnx_dir, monkeypatch):
    """Texts go to the model longest first by token count, ONNX_ROWS_PER_THREAD per thread at a time, each run
    padded to its own longest: code (many tokens per character) and prose (few) are never batched by their
    characters. The vectors are the ones each text gets alone (float export)."""
    assert embeddings.ONNX_ROWS_PER_THREAD == 2
    texts = [
        "x=f(a[1],b[2]);y=g(c{3})",  # 25 characters, many tokens
        "Refunds are processed quickly and simply",  # 40 characters, few tokens
        "i+=1;j-=2;k*=3;",  # 15 characters, many tokens
        "Customers appreciate it",  # 23 characters, few tokens
    ]
    embedder = OnnxEmbedder("all-MiniLM-L6-v2", quantized=False, cache_dir=onnx_dir, threads=1)
    lengths = [len(ids) for ids in embedder.tokenize(texts)["input_ids"]]
    by_tokens = sorted(lengths, reverse=True)
    assert sorted(range(4), key=lambda row: -len(texts[row])) != sorted(range(4), key=lambda row: -lengths[row])
    recording = embedder._sessions[1] = _RecordingSession(embedder.session_for(1))
    vectors = embedder.encode(texts)
    assert recording.shapes == [(2, by_tokens[0]), (2, by_tokens[2])]
    alone = np.vstack([embedder.encode([text]) for text in texts])
    assert np.allclose((vectors * alone).sum(axis=1), 1, atol=1e-5)
