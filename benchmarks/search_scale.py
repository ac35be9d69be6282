"""Search at scale: 100k chunks in one bot. In one run:
- dense recall@10 of the HNSW index against exact search (target >= 0.95);
- median latency of Beacon's hybrid query (HNSW + GIN) against the same query forced to exact
  sequential scans (target: >= 10x faster).

Data: chunk texts are built from paragraphs of the PostgreSQL documentation
(`apt-get install postgresql-doc-15`) plus random words from it; vectors are the real
all-MiniLM-L6-v2 embeddings of 2,000 of those paragraphs with Gaussian noise added (encoding
100k chunks on 2 CPU cores would take about an hour, and the index does not care where vectors
come from, only how they are spread). Queries are real embeddings of documentation section
titles, and the titles themselves as the text half. Exact and index runs each use a fresh
connection (psycopg prepares statements after 5 runs, and a plan cached under one setting
would leak into the other).

    python benchmarks/search_scale.py [--chunks 100000] [--queries 100] [--explain]
"""

import argparse
import random
import statistics
import time

from _setup import django_setup, fresh_bot


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--fresh", action="store_true", help="rebuild the data even if a previous run left it")
    parser.add_argument("--explain", action="store_true", help="print the plan of one hybrid query (EXPLAIN ANALYZE)")
    args = parser.parse_args()
    django_setup()
    import numpy as np
    from django.conf import settings
    from django.db import connection, transaction
    from retrieval_quality import PG_DOCS, load_pg_pages, pg_questions

    from apps.core.embeddings import get_embedder
    from apps.documents.lexeme_stats import lexeme_stats_rebuild
    from apps.documents.models import BotTextStats
    from apps.documents.selectors import chunk_search
    from apps.documents.services.embeddings import embedding_index_ensure, embedding_index_name

    if not PG_DOCS.is_dir():
        raise SystemExit("Install the data first: apt-get install postgresql-doc-15")
    rng = random.Random(args.seed)
    np_rng = np.random.default_rng(args.seed)
    pages = load_pg_pages(400)
    paragraphs = [p for page in pages for s in page["sections"] for p in s["paragraphs"] if len(p) > 80]
    rng.shuffle(paragraphs)
    base = paragraphs[:2000]
    vocabulary = [w for p in paragraphs[:5000] for w in p.split() if w.isalpha()]
    embedder = get_embedder()
    print(f"encoding {len(base)} base paragraphs ...", flush=True)
    base_vectors = embedder.encode(base)

    organization, bot = _existing(args.chunks)
    if bot is None:
        organization, bot = fresh_bot(f"search benchmark {args.chunks}", min_score=0.0)
        # Building the graph once after the load is faster than maintaining it row by row.
        with connection.cursor() as cursor:
            cursor.execute(f"DROP INDEX IF EXISTS {embedding_index_name(embedder.name)}")
        _load(organization, bot, args.chunks, base, base_vectors, vocabulary, rng, np_rng, embedder)
    else:
        print(f"reusing the {args.chunks} chunks of bot {bot.pk} (pass --fresh to rebuild)")
    if not BotTextStats.objects.filter(bot=bot).exists():
        # The chunks were loaded in bulk, past the services: count the BM25 term statistics once.
        chunks, lexemes = lexeme_stats_rebuild(bot_id=bot.pk)
        print(f"term statistics: {chunks} chunks, {lexemes} lexemes")
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '1GB'")
    embedding_index_ensure(model=embedder.name, dimensions=embedder.dimensions)
    print(f"HNSW index ready in {time.perf_counter() - started:.0f} s")

    titles = [q.question for q in pg_questions(pages)]
    rng.shuffle(titles)
    titles = titles[: args.queries]
    query_vectors = embedder.encode(titles)
    dims = embedder.dimensions
    dense_sql = f"""
        SELECT e.chunk_id FROM documents_chunkembedding e JOIN documents_chunk c ON c.id = e.chunk_id
        WHERE e.model = %s AND c.organization_id = %s AND c.bot_id = %s AND c.searchable
        ORDER BY (e.embedding::vector({dims})) <=> %s::vector({dims}) LIMIT 10"""

    def literal(vector):
        return "[" + ",".join(f"{x:.7f}" for x in vector) + "]"

    def run(exact: bool):
        connection.close()  # a fresh connection: no plan prepared under the other setting
        dense, latencies = [], []
        with connection.cursor() as cursor:
            if exact:
                cursor.execute("SET enable_indexscan = off; SET enable_bitmapscan = off")
            for vector in query_vectors:
                with transaction.atomic():
                    cursor.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
                    cursor.execute(
                        "SELECT set_config('hnsw.ef_search', %s, true)", [str(settings.SEARCH_HNSW_EF_SEARCH)]
                    )
                    cursor.execute(dense_sql, [embedder.name, organization.pk, bot.pk, literal(vector)])
                    dense.append([row[0] for row in cursor.fetchall()])
            for title, vector in zip(titles, query_vectors, strict=True):
                began = time.perf_counter()
                chunk_search(organization=organization, bot=bot, query=title, k=10, min_score=0.0, vector=vector)
                latencies.append(time.perf_counter() - began)
        connection.close()
        return dense, latencies

    exact_dense, exact_latency = run(exact=True)
    index_dense, index_latency = run(exact=False)
    recall = statistics.mean(len(set(a) & set(b)) / 10 for a, b in zip(index_dense, exact_dense, strict=True))
    exact_median = statistics.median(exact_latency) * 1000
    index_median = statistics.median(index_latency) * 1000
    speedup = exact_median / index_median
    print(f"\nchunks: {args.chunks}, queries: {len(titles)}")
    print(f"dense recall@10, HNSW vs exact: {recall:.3f}  (target >= 0.95: {'met' if recall >= 0.95 else 'NOT met'})")
    print(f"hybrid query median: {index_median:.1f} ms with indexes, {exact_median:.1f} ms exact scan")
    print(f"speed-up: x{speedup:.1f}  (target >= 10: {'met' if speedup >= 10 else 'NOT met'})")
    if args.explain:
        _explain(organization, bot, titles[0], query_vectors[0])


def _explain(organization, bot, title, vector):
    """The plan of one hybrid query as chunk_search runs it (EXPLAIN ANALYZE of its very statement): which
    indexes serve it, per text-search configuration (issue 17: the question is parsed per configuration)."""
    from django.db import connection

    from apps.documents.selectors import chunk_search

    plans = []

    def explain(execute, sql, params, many, context):
        if "WITH configs AS" in sql and not sql.startswith("EXPLAIN"):
            context["cursor"].execute("EXPLAIN (ANALYZE, COSTS OFF) " + sql, params)
            plans.append([row[0] for row in context["cursor"].fetchall()])
        return execute(sql, params, many, context)

    with connection.execute_wrapper(explain):
        chunk_search(organization=organization, bot=bot, query=title, k=10, min_score=0.0, vector=vector)
    print(f"\nEXPLAIN ANALYZE of the hybrid query for {title!r}:")
    print("\n".join(plans[0]))


def _existing(count: int):
    from apps.bots.models import Bot

    if "--fresh" in __import__("sys").argv:
        for bot in Bot.objects.filter(name=f"search benchmark {count}"):
            bot.documents.all().delete()
            bot.delete()
        return None, None
    bot = Bot.objects.filter(name=f"search benchmark {count}").select_related("organization").first()
    return (bot.organization, bot) if bot else (None, None)


def _load(organization, bot, count, base, base_vectors, vocabulary, rng, np_rng, embedder):
    """100k distinct vectors in the real embedding space: each is a random mix of three real
    paragraph embeddings plus noise; its text is the main paragraph plus random words."""
    import numpy as np
    from django.db import connection, transaction

    from apps.documents.models import Chunk, ChunkEmbedding, Document

    started = time.perf_counter()
    documents = Document.objects.bulk_create(
        [
            Document(organization=organization, bot=bot, title=f"Doc {i}", source="text", kind="txt",
                     sha256=f"{bot.pk:08d}{i:056d}", status="ready")
            for i in range(100)
        ]
    )  # fmt: skip
    dims = embedder.dimensions
    batch = 5000
    for start in range(0, count, batch):
        rows, vectors = [], []
        for index in range(start, min(start + batch, count)):
            main, second, third = (rng.randrange(len(base)) for _ in range(3))
            text = base[main] + " " + " ".join(rng.choices(vocabulary, k=20))
            rows.append(
                Chunk(organization=organization, bot=bot, document=documents[index % 100], position=index,
                      text=text, content_hash=f"{index}", searchable=True, token_count=100,
                      search_config="english")
            )  # fmt: skip
            mixed = base_vectors[main] + 0.6 * base_vectors[second] + 0.3 * base_vectors[third]
            mixed = mixed / np.linalg.norm(mixed) + np_rng.normal(0, 0.2 / np.sqrt(dims), dims)
            vectors.append(mixed / np.linalg.norm(mixed))
        with transaction.atomic():
            created = Chunk.objects.bulk_create(rows, batch_size=batch)
            ChunkEmbedding.objects.bulk_create(
                [
                    ChunkEmbedding(chunk_id=c.pk, model=embedder.name, embedding=v)
                    for c, v in zip(created, vectors, strict=True)
                ],
                batch_size=batch,
            )
        print(f"  {start + len(rows)} chunks", flush=True)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE documents_chunk SET search_vector = to_tsvector('english', text) WHERE bot_id = %s", [bot.pk]
        )
        cursor.execute("ANALYZE documents_chunk; ANALYZE documents_chunkembedding;")
    print(f"loaded {count} chunks in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
