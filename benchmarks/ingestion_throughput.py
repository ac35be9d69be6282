"""Ingestion throughput through real Celery workers, as deployed: chunks per second from a bulk upload to the
last document `ready`, against a bare PyTorch `model.encode` of the same chunk texts in the same run (issue 17
item 6; target: end to end >= 2x bare PyTorch).

Documents are pages of the PostgreSQL documentation (`apt-get install postgresql-doc-15`) as
retrieval_quality.py builds them, uploaded in one request (`document_upload` with every file, as a bulk upload
or a crawl's pages arrive). A worker on the `ingestion` queue is started on the embedded Redis (its own dbs)
and database with the deployed pool: prefork, `--concurrency` children (docker-compose's CELERY_CONCURRENCY,
default 2), the given EMBEDDING_BACKEND and EMBEDDING_THREADS (0: the CPUs shared among the children). The
clock runs from the upload to the last document `ready`, the workers' model loaded before it (a warm-up
document per child). The baseline is the plainest use of the library on the whole machine:
`SentenceTransformer(<offline weights>).encode(texts)` with its defaults (batch size 32, PyTorch's threads =
the CPUs) over exactly the stored chunk texts (heading path included), run right before and right after the
pipeline (their mean), so both see the same machine load; the ratio is pipeline / bare. The same encode with
PyTorch's best batch size on this kind of text (`--tuned-batch`, 8: 15% faster than 32 on 628 chunks) is
printed too, so the ratio can also be read against PyTorch at its best.

`--one-file` uploads the pages as one Markdown file instead (a single large upload: one child embeds it, alone on
the machine, so EMBEDDING_THREADS=0 gives it every CPU).

    python benchmarks/ingestion_throughput.py [--pages 40] [--one-file] [--backend onnx-int8] [--concurrency 2]
        [--threads 0]
"""

import argparse
import os
import signal
import subprocess
import sys
import time

from _setup import ROOT, django_setup, fresh_bot


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=40)
    parser.add_argument("--backend", default="onnx-int8", help="EMBEDDING_BACKEND of the workers")
    parser.add_argument("--concurrency", type=int, default=2, help="worker children (1: one process)")
    parser.add_argument("--threads", type=int, default=0, help="EMBEDDING_THREADS of the workers (0: CPUs / children)")
    parser.add_argument("--one-file", action="store_true", help="upload the pages as one document")
    parser.add_argument("--tuned-batch", type=int, default=8, help="batch size of the tuned bare encode (0: skip)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from apps.core import embedded

    # Broker, results and cache on Redis dbs of the benchmark's own (13-15), for this process and its worker.
    os.environ["REDIS_URL"] = embedded.redis_url(13)
    django_setup()
    from retrieval_quality import PG_DOCS, pg_corpus
    from sentence_transformers import SentenceTransformer

    from apps.core.embeddings import get_embedder
    from apps.documents.models import Chunk, Document
    from apps.documents.services.upload import IncomingFile, document_upload

    if not PG_DOCS.is_dir():
        raise SystemExit("Install the data first: apt-get install postgresql-doc-15")
    docs = pg_corpus(args.pages).docs
    texts = []
    bare = SentenceTransformer(get_embedder().model_path, device="cpu")
    bare.encode(["warm up"])
    organization, bot = fresh_bot("ingestion benchmark")
    env = {
        **os.environ, "DJANGO_LOG_LEVEL": "WARNING", "EMBEDDING_BACKEND": args.backend,
        "EMBEDDING_THREADS": str(args.threads), "WORKER_NICENESS": "0",
    }  # fmt: skip
    pool = ["--pool", "solo"] if args.concurrency == 1 else ["--pool", "prefork", f"--concurrency={args.concurrency}"]
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config.celery_app", "worker", "-Q", "ingestion", *pool,
         "-l", "warning", "-n", f"bench-{os.getpid()}@%h"],
        cwd=ROOT, env=env, start_new_session=True,
    )  # fmt: skip
    try:
        from config.celery_app import app

        deadline = time.monotonic() + 120
        while not app.control.ping(timeout=1.0):
            if time.monotonic() > deadline or worker.poll() is not None:
                raise SystemExit("the worker did not start")
        # Warm every child's model (an ONNX backend exports it on first use) with tiny documents, off the clock.
        warm = document_upload(
            organization=organization,
            bot=bot,
            files=[IncomingFile(f"warm-{n}.md", f"# Warm {n}\n\nWarm up {n}.".encode()) for n in range(4)],
        )
        _wait([outcome.document.pk for outcome in warm], Document)
        ids = []
        started = time.perf_counter()
        outcomes = document_upload(
            organization=organization,
            bot=bot,
            files=[IncomingFile(name="pages.md", data="\n\n".join(doc.text for doc in docs).encode())]
            if args.one_file
            else [IncomingFile(name=doc.name, data=doc.text.encode()) for doc in docs],
        )
        ids = [outcome.document.pk for outcome in outcomes]
        _wait(ids, Document)
        elapsed = time.perf_counter() - started
        load = os.getloadavg()[0]
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)
    failed = Document.objects.filter(pk__in=ids).exclude(status="ready").count()
    chunks = list(Chunk.objects.filter(document_id__in=ids, searchable=True).order_by("id"))
    texts = [chunk.embed_text for chunk in chunks]
    bare_seconds, tuned_seconds = [], []
    for _ in range(2):  # before (the worker is gone; the model is warm) and after would differ only by load
        started = time.perf_counter()
        bare.encode(texts)
        bare_seconds.append(time.perf_counter() - started)
        if args.tuned_batch:
            started = time.perf_counter()
            bare.encode(texts, batch_size=args.tuned_batch)
            tuned_seconds.append(time.perf_counter() - started)
    bot.delete()
    organization.delete()
    pipeline_rate = len(chunks) / elapsed
    bare_rate = len(texts) / (sum(bare_seconds) / len(bare_seconds))
    ratio = pipeline_rate / bare_rate
    print(
        f"documents: {len(ids)} ({failed} not ready), chunks: {len(chunks)}; backend {args.backend}, "
        f"{args.concurrency} worker process(es), EMBEDDING_THREADS={args.threads}; {os.cpu_count()} CPUs"
    )
    print(f"pipeline (upload -> ready through the worker): {pipeline_rate:.1f} chunks/s in {elapsed:.1f} s "
          f"(load average {load:.1f})")  # fmt: skip
    print(f"bare model.encode on the same texts:           {bare_rate:.1f} chunks/s "
          f"({', '.join(f'{s:.1f}' for s in bare_seconds)} s; load average {os.getloadavg()[0]:.1f})")  # fmt: skip
    print(f"ratio: {ratio:.2f}  (target >= 2.00: {'met' if ratio >= 2 else 'NOT met'})")
    if tuned_seconds:
        tuned_rate = len(texts) / (sum(tuned_seconds) / len(tuned_seconds))
        seconds = ", ".join(f"{s:.1f}" for s in tuned_seconds)
        print(f"bare model.encode, batch size {args.tuned_batch}:         {tuned_rate:.1f} chunks/s ({seconds} s); "
              f"ratio to it: {pipeline_rate / tuned_rate:.2f}")  # fmt: skip


def _wait(ids, Document, timeout=1800):
    deadline = time.monotonic() + timeout
    while Document.objects.filter(pk__in=ids, status__in=["pending", "processing"]).exists():
        if time.monotonic() > deadline:
            raise SystemExit("documents did not finish in time")
        time.sleep(0.1)


if __name__ == "__main__":
    main()
