"""Embedding speed: end-to-end ingestion per EMBEDDING_BACKEND (torch, onnx, onnx-int8) against a bare PyTorch
`model.encode` of the same chunks, in the same run (issue 17 item 6; target: pipeline >= 2x bare PyTorch).

Documents are pages of the PostgreSQL documentation (`apt-get install postgresql-doc-15`) as retrieval_quality.py
builds them (`--pages N`, default 40). For each backend, a fresh bot takes every page through the real pipeline
in this process (document_upload + document_ingest_now: parse, chunk, count tokens, embed, store, finalize);
the clock runs from the first upload to the last document `ready`, the model loaded (and exported) before it.
Right after each pipeline run, bare PyTorch encodes exactly the stored chunk texts (heading path included) with
`SentenceTransformer.encode`, same batch size, so both see the same machine load; the ratio is pipeline / bare.
Vectors: cosine of each stored vector to bare PyTorch's of the same text (min and mean).

    python benchmarks/embedding_speed.py [--pages 40] [--backends torch,onnx,onnx-int8] [--threads N]
"""

import argparse
import os
import statistics
import time

import numpy as np
from _setup import django_setup, fresh_bot


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=40)
    parser.add_argument("--backends", default="torch,onnx,onnx-int8")
    parser.add_argument("--threads", type=int, default=0, help="EMBEDDING_THREADS for ONNX Runtime (0: all CPUs)")
    args = parser.parse_args()
    django_setup()
    from django.conf import settings
    from retrieval_quality import PG_DOCS, pg_corpus

    from apps.core.embeddings import LocalEmbedder, get_embedder
    from apps.documents.models import Chunk, ChunkEmbedding, Document
    from apps.documents.services.pipeline import document_ingest_now
    from apps.documents.services.upload import IncomingFile, document_upload

    if not PG_DOCS.is_dir():
        raise SystemExit("Install the data first: apt-get install postgresql-doc-15")
    docs = pg_corpus(args.pages).docs
    settings.EMBEDDING_THREADS = args.threads
    bare = LocalEmbedder(settings.EMBEDDING_MODEL, batch_size=settings.EMBEDDING_BATCH_SIZE)
    bare.encode(["warm up"])
    print(f"{len(docs)} PostgreSQL pages, batch size {settings.EMBEDDING_BATCH_SIZE}, {os.cpu_count()} CPUs, "
          f"EMBEDDING_THREADS={args.threads}")  # fmt: skip
    rows = []
    for backend in args.backends.split(","):
        settings.EMBEDDING_BACKEND = backend
        started = time.perf_counter()
        embedder = get_embedder()
        embedder.encode(["warm up"])  # loads the model; an ONNX backend exports it here when not cached
        load = time.perf_counter() - started
        organization, bot = fresh_bot(f"embedding speed {backend}")
        started = time.perf_counter()
        ids = []
        for doc in docs:
            outcome = document_upload(
                organization=organization, bot=bot, files=[IncomingFile(name=doc.name, data=doc.text.encode())],
                enqueue=False,
            )[0]  # fmt: skip
            ids.append(document_ingest_now(document=outcome.document).pk)
        elapsed = time.perf_counter() - started
        failed = Document.objects.filter(pk__in=ids).exclude(status="ready").count()
        chunks = list(Chunk.objects.filter(document_id__in=ids, searchable=True).order_by("id"))
        texts = [chunk.embed_text for chunk in chunks]
        started = time.perf_counter()
        reference = bare.encode(texts)
        bare_elapsed = time.perf_counter() - started
        stored = dict(
            ChunkEmbedding.objects.filter(chunk__in=chunks, model=embedder.name).values_list("chunk_id", "embedding")
        )
        vectors = np.asarray([stored[chunk.pk] for chunk in chunks], dtype=np.float32)
        cosines = (vectors * reference).sum(axis=1)
        row = {
            "backend": backend, "chunks": len(chunks), "failed": failed, "load": load,
            "pipeline": len(chunks) / elapsed, "bare": len(chunks) / bare_elapsed,
            "cos_min": float(cosines.min()), "cos_mean": float(cosines.mean()),
        }  # fmt: skip
        row["ratio"] = row["pipeline"] / row["bare"]
        rows.append(row)
        print(
            f"{backend:>9}: {row['chunks']} chunks ({failed} documents not ready), model ready in {load:.1f} s; "
            f"pipeline {row['pipeline']:.1f} chunks/s, bare torch encode {row['bare']:.1f} chunks/s, "
            f"ratio {row['ratio']:.2f}; cosine to torch min {row['cos_min']:.4f}, mean {row['cos_mean']:.4f}"
        )
        bot.delete()
        organization.delete()
    bare_all = statistics.median(row["bare"] for row in rows)
    print(f"\nbare torch encode, median of the runs: {bare_all:.1f} chunks/s")
    for row in rows:
        verdict = "met" if row["ratio"] >= 2 else "NOT met"
        print(f"{row['backend']:>9}: pipeline / bare torch {row['ratio']:.2f} (same-run pair), "
              f"{row['pipeline'] / bare_all:.2f} (median bare); target >= 2.00: {verdict}")  # fmt: skip


if __name__ == "__main__":
    main()
