"""Ingestion throughput: chunks per second from upload to `ready` through a real Celery worker,
against `model.encode` alone on the same chunk texts, in the same run.

Documents are pages of the PostgreSQL documentation (`apt-get install postgresql-doc-15`), as in
retrieval_quality.py. A worker process (solo pool, the `ingestion` queue) is started on the
embedded Redis (its own db) and database; the clock runs from the first upload to the last
document `ready`. The baseline then encodes exactly the stored chunk texts (heading path
included) with the same model and batch size in this process. Target: ratio >= 0.8.

    python benchmarks/ingestion_throughput.py [--pages 40]
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
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from apps.core import embedded

    # Broker, results and cache on Redis dbs of the benchmark's own (13-15), for this process and its worker.
    os.environ["REDIS_URL"] = embedded.redis_url(13)
    django_setup()
    from retrieval_quality import DOCS, load_pages, page_markdown

    from apps.core.embeddings import get_embedder
    from apps.documents.models import Chunk, Document
    from apps.documents.services.upload import IncomingFile, document_upload

    if not DOCS.is_dir():
        raise SystemExit("Install the data first: apt-get install postgresql-doc-15")
    pages = load_pages(args.pages)
    organization, bot = fresh_bot("ingestion benchmark")
    env = {**os.environ, "DJANGO_LOG_LEVEL": "WARNING"}
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config.celery_app", "worker", "-Q", "ingestion", "--pool", "solo",
         "-l", "warning", "-n", f"bench-{os.getpid()}@%h"],
        cwd=ROOT, env=env, start_new_session=True,
    )  # fmt: skip
    try:
        from config.celery_app import app

        deadline = time.monotonic() + 60
        while not app.control.ping(timeout=1.0):
            if time.monotonic() > deadline or worker.poll() is not None:
                raise SystemExit("the worker did not start")
        # Warm the worker's model with one tiny document, outside the clock.
        warm = document_upload(
            organization=organization, bot=bot, files=[IncomingFile("warm.md", b"# Warm\n\nWarm up.")]
        )[0].document
        _wait([warm.pk], Document)
        started = time.perf_counter()
        ids = []
        for page in pages:
            outcome = document_upload(
                organization=organization,
                bot=bot,
                files=[IncomingFile(page["name"].replace(".html", ".md"), page_markdown(page).encode())],
            )[0]
            ids.append(outcome.document.pk)
        _wait(ids, Document)
        elapsed = time.perf_counter() - started
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
    failed = Document.objects.filter(pk__in=ids).exclude(status="ready").count()
    chunks = list(Chunk.objects.filter(document_id__in=ids, searchable=True).order_by("id"))
    pipeline_rate = len(chunks) / elapsed

    embedder = get_embedder()
    embedder.encode(["warm up"])
    texts = [chunk.embed_text for chunk in chunks]
    started = time.perf_counter()
    embedder.encode(texts)
    bare_rate = len(texts) / (time.perf_counter() - started)

    ratio = pipeline_rate / bare_rate
    print(f"documents: {len(ids)} ({failed} not ready), chunks: {len(chunks)}")
    print(f"pipeline (upload -> ready through the worker): {pipeline_rate:.1f} chunks/s in {elapsed:.1f} s")
    print(f"bare model.encode on the same texts:           {bare_rate:.1f} chunks/s")
    print(f"ratio: {ratio:.2f}  (target >= 0.80: {'met' if ratio >= 0.8 else 'NOT met'})")


def _wait(ids, Document, timeout=1800):
    deadline = time.monotonic() + timeout
    while Document.objects.filter(pk__in=ids, status__in=["pending", "processing"]).exists():
        if time.monotonic() > deadline:
            raise SystemExit("documents did not finish in time")
        time.sleep(0.1)


if __name__ == "__main__":
    main()
