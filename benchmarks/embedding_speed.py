"""Embedding speed: end-to-end ingestion per EMBEDDING_BACKEND (torch, onnx, onnx-int8) against a bare PyTorch
`model.encode` of the same chunks, in the same run (issue 17 item 6; target: pipeline >= 2x bare PyTorch, Recall@5
within 1 point of the float model).

Documents are pages of the PostgreSQL documentation (`apt-get install postgresql-doc-15`) as retrieval_quality.py
builds them (`--pages N`, default 40). For each backend, a fresh bot takes every page through the real pipeline
in this process (document_upload + document_ingest_now: parse, chunk, count tokens, embed, store, finalize);
the clock runs from the first upload to the last document `ready`, the model loaded (and exported) before it.
The baseline is the plainest use of the library: `SentenceTransformer(<offline weights>).encode(texts)` with
its defaults (batch size 32), over exactly the stored chunk texts (heading path included), run right before
and right after each pipeline run (their mean), so both see the same machine load; the ratio is pipeline / bare.
Also printed per backend: where the pipeline's time goes (upload, extract + chunk, encode, storing vectors,
finalize), the cosine of each stored vector to bare PyTorch's of the same text, and retrieval quality on the
same pages (retrieval_quality.py's section-title questions through the real hybrid search: R@1, R@5, MRR@10).

    python benchmarks/embedding_speed.py [--pages 40] [--backends torch,onnx,onnx-int8] [--threads N]
"""

import argparse
import os
import statistics
import time
from collections import defaultdict

import numpy as np
from _setup import django_setup, fresh_bot


class StageClock:
    """Seconds spent in each pipeline stage: wraps module functions for the duration of a run."""

    def __init__(self):
        self.seconds = defaultdict(float)
        self._undo = []

    def wrap(self, owner, name: str, stage: str):
        original = getattr(owner, name)

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[stage] += time.perf_counter() - started

        setattr(owner, name, timed)
        self._undo.append((owner, name, original))

    def restore(self):
        for owner, name, original in reversed(self._undo):
            setattr(owner, name, original)


def bare_encode_seconds(model, texts: list[str]) -> tuple[float, np.ndarray]:
    started = time.perf_counter()
    vectors = model.encode(texts, normalize_embeddings=True)
    return time.perf_counter() - started, vectors


def retrieval(corpus, organization, bot, documents: dict[int, str], embedder) -> dict:
    """retrieval_quality.py's Beacon figures for this bot: section-title questions through chunk_search."""
    from retrieval_quality import Locator, metrics

    from apps.documents.selectors import chunk_search

    locator = Locator(corpus.docs)
    vectors = embedder.encode([q.question for q in corpus.questions])
    ranked = []
    for q, vector in zip(corpus.questions, vectors, strict=True):
        hits = chunk_search(organization=organization, bot=bot, query=q.question, k=10, min_score=0.0, vector=vector)
        ranked.append([locator.hit(documents[h.document_id], h.text, q.section) for h in hits])
    return metrics(ranked)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=40)
    parser.add_argument("--backends", default="torch,onnx,onnx-int8")
    parser.add_argument("--threads", type=int, default=0, help="EMBEDDING_THREADS for ONNX Runtime (0: all CPUs)")
    args = parser.parse_args()
    django_setup()
    from django.conf import settings
    from retrieval_quality import PG_DOCS, pg_corpus
    from sentence_transformers import SentenceTransformer

    from apps.core.embeddings import get_embedder
    from apps.documents.models import Chunk, ChunkEmbedding, Document
    from apps.documents.services import pipeline
    from apps.documents.services.upload import IncomingFile, document_upload

    if not PG_DOCS.is_dir():
        raise SystemExit("Install the data first: apt-get install postgresql-doc-15")
    corpus = pg_corpus(args.pages)
    docs = corpus.docs
    settings.EMBEDDING_THREADS = args.threads
    settings.EMBEDDING_BACKEND = "torch"
    bare = SentenceTransformer(get_embedder().model_path, device="cpu")
    bare.encode(["warm up"])
    print(f"{len(docs)} PostgreSQL pages, {len(corpus.questions)} questions; pipeline batch size "
          f"{settings.EMBEDDING_BATCH_SIZE}, bare encode batch size 32 (the library's default); {os.cpu_count()} CPUs, "
          f"EMBEDDING_THREADS={args.threads}; load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    rows = []
    for backend in args.backends.split(","):
        settings.EMBEDDING_BACKEND = backend
        started = time.perf_counter()
        embedder = get_embedder()
        embedder.encode(["warm up"])  # loads the model; an ONNX backend exports it here when not cached
        load = time.perf_counter() - started
        organization, bot = fresh_bot(f"embedding speed {backend}")
        clock = StageClock()
        clock.wrap(pipeline, "document_extract_chunk", "extract + chunk")
        clock.wrap(pipeline, "document_embed", "embed")
        clock.wrap(pipeline, "document_finalize", "finalize")
        clock.wrap(pipeline, "chunk_embeddings", "encode")
        started = time.perf_counter()
        documents = {}
        for doc in docs:
            outcome = document_upload(
                organization=organization, bot=bot, files=[IncomingFile(name=doc.name, data=doc.text.encode())],
                enqueue=False,
            )[0]  # fmt: skip
            documents[pipeline.document_ingest_now(document=outcome.document).pk] = doc.name
        elapsed = time.perf_counter() - started
        clock.restore()
        failed = Document.objects.filter(pk__in=documents).exclude(status="ready").count()
        chunks = list(Chunk.objects.filter(document_id__in=documents, searchable=True).order_by("id"))
        texts = [chunk.embed_text for chunk in chunks]
        bare_after, reference = bare_encode_seconds(bare, texts)
        # The previous backend's run after is this one's run before (same chunks), else a run of its own.
        bare_before = rows[-1]["bare_after"] if rows and rows[-1]["chunks"] == len(chunks) else None
        if bare_before is None:
            bare_before, _ = bare_encode_seconds(bare, texts)
        stored = dict(
            ChunkEmbedding.objects.filter(chunk__in=chunks, model=embedder.name).values_list("chunk_id", "embedding")
        )
        vectors = np.asarray([stored[chunk.pk] for chunk in chunks], dtype=np.float32)
        cosines = (vectors * reference).sum(axis=1)
        quality = retrieval(corpus, organization, bot, documents, embedder)
        stages = dict(clock.seconds)
        stages["store vectors"] = stages.pop("embed") - stages["encode"]
        stages["upload"] = elapsed - sum(stages.values())
        bare_seconds = (bare_before + bare_after) / 2
        row = {
            "backend": backend, "chunks": len(chunks), "failed": failed, "load": load,
            "pipeline": len(chunks) / elapsed, "bare": len(chunks) / bare_seconds, "bare_after": bare_after,
            "cos_min": float(cosines.min()), "cos_mean": float(cosines.mean()), **quality,
        }  # fmt: skip
        row["ratio"] = row["pipeline"] / row["bare"]
        rows.append(row)
        split = ", ".join(f"{stage} {seconds:.1f} s" for stage, seconds in sorted(stages.items(), key=lambda s: -s[1]))
        print(
            f"{backend:>9}: {row['chunks']} chunks ({failed} documents not ready), model ready in {load:.1f} s; "
            f"pipeline {row['pipeline']:.1f} chunks/s ({elapsed:.1f} s: {split}); bare torch encode "
            f"{row['bare']:.1f} chunks/s ({bare_before:.1f} s before, {bare_after:.1f} s after); ratio "
            f"{row['ratio']:.2f}; cosine to torch min {row['cos_min']:.4f}, mean {row['cos_mean']:.4f}; "
            f"R@1 {row['recall@1']:.3f}, R@5 {row['recall@5']:.3f}, MRR@10 {row['mrr@10']:.3f}; "
            f"load average {os.getloadavg()[0]:.1f}"
        )
        bot.delete()
        organization.delete()
    bare_all = statistics.median(row["bare"] for row in rows)
    print(f"\nbare torch encode, median of the runs: {bare_all:.1f} chunks/s")
    reference = next((row for row in rows if row["backend"] == "torch"), None)
    for row in rows:
        verdict = "met" if row["ratio"] >= 2 else "NOT met"
        recall = ""
        if reference is not None:
            points = (row["recall@5"] - reference["recall@5"]) * 100
            recall = f"; Recall@5 {row['recall@5']:.3f}, {points:+.1f} points vs torch (target within 1)"
        print(f"{row['backend']:>9}: pipeline / bare torch {row['ratio']:.2f} (same-run pair), "
              f"{row['pipeline'] / bare_all:.2f} (median bare); target >= 2.00: {verdict}{recall}")  # fmt: skip


if __name__ == "__main__":
    main()
