"""Chat: time from question received to first byte sendable (LLM excluded), at 10k and 100k chunks.

Measures `turn_prepare` — the monthly-limit check, storing the user's message, embedding the
question, hybrid retrieval and prompt assembly: everything a turn does before the language model
writes its first token — on bots of 10k and 100k chunks (built as in search_scale.py, reused when a
previous run left them). Reports median and p95 per size, the growth from 10k to 100k, and the
ratio to a floor measured in the same run: embedding the question alone.
Target: median under 50 ms at 100k chunks.

    python benchmarks/chat_first_byte.py [--queries 100]
"""

import argparse
import random
import statistics
import time

from _setup import django_setup, fresh_bot


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--queries", type=int, default=100)
    args = parser.parse_args()
    django_setup()
    import numpy as np
    from retrieval_quality import PG_DOCS, load_pg_pages, pg_questions
    from search_scale import _existing, _load

    from apps.conversations.services import conversation_create, turn_prepare
    from apps.core.embeddings import get_embedder
    from apps.documents.services.embeddings import embedding_index_ensure
    from apps.organizations.models import Plan

    if not PG_DOCS.is_dir():
        raise SystemExit("Install the data first: apt-get install postgresql-doc-15")
    rng = random.Random(11)
    embedder = get_embedder()
    pages = load_pg_pages(400)
    titles = [q.question for q in pg_questions(pages)]
    rng.shuffle(titles)
    titles = titles[: args.queries]

    bots = {}
    base = base_vectors = vocabulary = None
    for size in (10_000, 100_000):
        organization, bot = _existing(size)
        if bot is None:
            if base is None:
                paragraphs = [p for page in pages for s in page["sections"] for p in s["paragraphs"] if len(p) > 80]
                rng.shuffle(paragraphs)
                base = paragraphs[:2000]
                vocabulary = [w for p in paragraphs[:5000] for w in p.split() if w.isalpha()]
                print(f"encoding {len(base)} base paragraphs ...", flush=True)
                base_vectors = embedder.encode(base)
            organization, bot = fresh_bot(f"search benchmark {size}", min_score=0.0)
            _load(organization, bot, size, base, base_vectors, vocabulary, rng, np.random.default_rng(size), embedder)
        # Unlimited messages: the benchmark must not trip the plan's monthly limit.
        organization.plan = Plan.objects.get(code="enterprise")
        organization.save(update_fields=["plan"])
        bots[size] = bot
    embedding_index_ensure(model=embedder.name, dimensions=embedder.dimensions)

    floor = []
    for title in titles:
        started = time.perf_counter()
        embedder.encode([title])
        floor.append(time.perf_counter() - started)
    results = {}
    for size, bot in bots.items():
        conversation = conversation_create(organization=bot.organization, bot=bot)
        for title in titles[:5]:  # warm the caches of this bot's index pages
            turn_prepare(conversation=conversation, content=title)
        timings = []
        for title in titles:
            started = time.perf_counter()
            turn = turn_prepare(conversation=conversation, content=title)
            timings.append(time.perf_counter() - started)
            assert turn.messages is not None  # something was retrieved and a prompt built
        results[size] = timings

    floor_median = statistics.median(floor) * 1000
    print(f"\nqueries: {len(titles)}; floor (embedding the question alone): median {floor_median:.1f} ms")
    for size, timings in results.items():
        median = statistics.median(timings) * 1000
        print(
            f"{size:>7} chunks: median {median:.1f} ms, p95 {percentile(timings, 0.95) * 1000:.1f} ms "
            f"(x{median / floor_median:.1f} the floor)"
        )
    growth = statistics.median(results[100_000]) / statistics.median(results[10_000])
    median_100k = statistics.median(results[100_000]) * 1000
    print(f"growth 10k -> 100k chunks (10x the data): median x{growth:.2f}")
    print(f"target (median < 50 ms at 100k): {'met' if median_100k < 50 else 'NOT met'}")


if __name__ == "__main__":
    main()
