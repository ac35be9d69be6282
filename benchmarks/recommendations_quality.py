"""Recommendation quality and serving latency: Beacon's engine against MostPopular, item-kNN and
implicit ALS, on a MovieLens-format data set, in one run; every Beacon source alone (ALS, co-occurrence,
EASE, RP3beta, sequence, content, popularity, trending, course order, graph paths) and the served blend
as ratios to implicit ALS tuned on the same validation split.

Regimes: `--regime movielens` (default; or any real `u.data` with `--data`) and `--regime learning`
(`learning_synth.py`: courses of ordered lessons, prerequisites, sequential progress; events are
completions), where the course and graph sources have something to earn: their learnt importance
in the blend is printed.

1. Data: `u.data` (user, item, rating, timestamp; tab-separated) and, when present beside it,
   `u.item` (titles and genres). Default: the synthetic generator `movielens_synth.py` (1,000 users
   x 10,000 items: popularity skew, latent tastes, drift over time); `--data PATH` takes a real
   file or folder (e.g. MovieLens 100K's `ml-100k/`).
2. Split: each user's last 20% of positives (rating >= 4) by time are held out (test); the user's
   later events leave training too (engine.metrics.temporal_holdout).
3. Beacon: a fresh organization gets its members through `POST .../members/sync/`, its catalog
   (title, genres as tags) through `POST .../content/bulk/`, embeddings through the catalog's own
   embedding service, and only the TRAINING events through `POST .../interactions/batch/`
   (kind `rate`, value = the rating), all with an API key through Django's test client. The
   engine is trained by the same service as the Celery task (blend weights learnt on a validation
   split cut from the training events, never from the test split); each test user's top 10 comes
   from the serving path (`recommendations_serve`: pgvector, rules, reasons, logs).
4. Baselines, on the same training events, in this process: MostPopular; item-kNN (cosine over
   the users x items positive matrix; neighbourhood size chosen on the same validation split);
   implicit ALS with Beacon's hyper-parameters and ALS tuned on the same validation split
   (factors x alpha grid). Every method skips the items the user rated in training.
5. Latency (sampled test users): a recommendation request through the API with a cache miss
   (the user's cache version bumped first) and a hit; the engine call alone; against a bare
   pgvector HNSW query (the CF query alone) and a bare Redis GET of the cached list.

    python benchmarks/recommendations_quality.py [--data PATH] [--regime movielens|learning] [--users 1000]
        [--items 10000] [--courses 300] [--latency-users 200] [--no-embeddings]

Runs in its own database (`beacon_bench_rec`, or `$BENCH_DATABASE`; dropped and re-created) and Redis dbs
10-12 (broker, results, cache).
"""

import argparse
import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from _setup import ROOT, django_setup

# Two regimes can run side by side with another BENCH_DATABASE *and* another REDIS_URL database (e.g. 13):
# both organizations are number 1 of their database, so in one Redis they would share cached lists.
DATABASE = os.environ.get("BENCH_DATABASE", "beacon_bench_rec")
sys.path.insert(0, str(ROOT))


def fresh_database(embedded) -> None:
    import psycopg

    info = embedded.postgres_ensure()
    with psycopg.connect(
        host=info.socket_dir, port=info.port, user=info.user, dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


# --------------------------------------------------------------------------- baselines (pure numpy)


class Baselines:
    """Classic recommenders on a users x items positive matrix (dense indexes)."""

    def __init__(self, n_users, n_items, users, items, positive, seen_users, seen_items):
        mask = positive
        self.matrix = sp.csr_matrix(
            (np.ones(mask.sum(), dtype=np.float32), (users[mask], items[mask])), shape=(n_users, n_items)
        )
        self.matrix.sum_duplicates()
        self.matrix.data[:] = 1.0
        self.seen = sp.csr_matrix(
            (np.ones(len(seen_users)), (seen_users, seen_items)), shape=(n_users, n_items)
        ).tocsr()
        self.n_items = n_items

    def _top(self, scores, user, k=10):
        scores = np.asarray(scores, dtype=np.float64).ravel().copy()
        scores[self.seen[user].indices] = -np.inf
        top = np.argpartition(-scores, k)[:k]
        return [int(i) for i in top[np.argsort(-scores[top])] if np.isfinite(scores[i])]

    def most_popular(self, users):
        popularity = np.asarray(self.matrix.sum(axis=0)).ravel()
        return {u: self._top(popularity, u) for u in users}

    def item_knn(self, users, neighbors=None):
        counts = np.sqrt(np.asarray(self.matrix.sum(axis=0)).ravel())
        inverse = sp.diags(1.0 / np.maximum(counts, 1e-9))
        sim = (inverse @ (self.matrix.T @ self.matrix) @ inverse).tocsr().astype(np.float32)
        sim.setdiag(0)
        sim.eliminate_zeros()
        if neighbors:
            sim = _keep_top(sim, neighbors)
        return {u: self._top((self.matrix[u] @ sim).toarray(), u) for u in users}

    def als(self, users, *, factors, regularization, alpha, iterations=15):
        from implicit.cpu.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1, "blas"):
            model = AlternatingLeastSquares(
                factors=factors, regularization=regularization, alpha=alpha, iterations=iterations, random_state=7,
                num_threads=1,
            )  # fmt: skip
            model.fit(self.matrix, show_progress=False)
        # every method skips the items the user rated in training (liked or not)
        out = {}
        for user in users:
            out[user] = self._top(model.item_factors @ model.user_factors[user], user)
        return out


def _keep_top(matrix, k):
    rows, cols, vals = [], [], []
    for i in range(matrix.shape[0]):
        start, end = matrix.indptr[i], matrix.indptr[i + 1]
        idx, data = matrix.indices[start:end], matrix.data[start:end]
        if len(data) > k:
            keep = np.argpartition(-data, k)[:k]
            idx, data = idx[keep], data[keep]
        rows.append(np.full(len(idx), i))
        cols.append(idx)
        vals.append(data)
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=matrix.shape)


# --------------------------------------------------------------------------- main


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, help="u.data file or a folder with u.data (and u.item)")
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--items", type=int, default=10000)
    parser.add_argument("--regime", choices=["movielens", "learning"], default="movielens")
    parser.add_argument("--courses", type=int, default=300, help="courses of the learning regime")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--latency-users", type=int, default=200)
    parser.add_argument("--no-embeddings", action="store_true", help="skip catalog embeddings (no content source)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    from apps.core import embedded

    os.environ.setdefault("REDIS_URL", embedded.redis_url(10))
    os.environ.setdefault("DJANGO_DEBUG", "false")
    os.environ["BEACON_DATABASE_NAME"] = DATABASE
    fresh_database(embedded)
    django_setup(database=DATABASE)

    from django.core.cache import cache
    from movielens_synth import generate, read
    from rest_framework.test import APIClient

    from apps.organizations.models import Membership, Organization, Plan
    from apps.organizations.services import api_key_create
    from apps.progress.models import ContentItem
    from apps.recommendations.engine.metrics import ranking_metrics, temporal_holdout

    # ---------------------------------------------------------------- data and split
    structure = {}  # learning regime: item -> parent, position, prerequisites, kind
    if args.data:
        ratings, catalog = read(args.data)
        source = str(args.data)
    elif args.regime == "learning":
        from learning_synth import generate as learning_generate

        started = time.perf_counter()
        rows, structure = learning_generate(users=args.users, courses=args.courses, seed=args.seed)
        ratings = [(u, i, float(r), t) for u, i, r, t in rows]
        catalog = {item: (entry["title"], entry["tags"]) for item, entry in structure.items()}
        source = f"synthetic learning platform (seed {args.seed}, {time.perf_counter() - started:.1f} s to generate)"
    else:
        started = time.perf_counter()
        rows, items = generate(users=args.users, items=args.items, seed=args.seed)
        ratings = [(u, i, float(r), t) for u, i, r, t in rows]
        catalog = {}
        from movielens_synth import GENRES

        for item_id, title, _release, genres in items:
            catalog[item_id] = (title, [GENRES[g] for g in genres])
        source = f"synthetic (seed {args.seed}, {time.perf_counter() - started:.1f} s to generate)"
    user_ids = sorted({r[0] for r in ratings})
    item_ids = sorted({r[1] for r in ratings} | set(catalog))
    uidx = {u: n for n, u in enumerate(user_ids)}
    iidx = {i: n for n, i in enumerate(item_ids)}
    users = np.array([uidx[r[0]] for r in ratings])
    items = np.array([iidx[r[1]] for r in ratings])
    values = np.array([r[2] for r in ratings])
    times = np.array([r[3] for r in ratings], dtype=np.float64)
    positive = values >= 4
    split = temporal_holdout(users, items, times, positive, fraction=0.2)
    train = split.train
    print(f"data: {source}")
    print(
        f"{len(ratings):,} ratings ({positive.mean():.0%} >= 4), {len(user_ids):,} users, {len(item_ids):,} items; "
        f"training events {train.sum():,}, held-out positives {sum(map(len, split.test.values())):,} "
        f"of {len(split.test):,} users",
        flush=True,
    )

    # ---------------------------------------------------------------- load into Beacon through the API
    plan = Plan.objects.get(code="enterprise")
    tag = os.urandom(3).hex()
    organization = Organization.objects.create(name=f"recommendations benchmark {tag}", slug=f"rec-{tag}", plan=plan)
    _key, raw_key = api_key_create(organization=organization, name="bench", scopes=["read", "write", "members:sync"])
    client = APIClient(HTTP_HOST="localhost")
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw_key}")
    base = f"/api/v1/orgs/{organization.slug}"

    def post(path, body):
        response = client.generic("POST", base + path, json.dumps(body), content_type="application/json")
        assert response.status_code in (200, 201), (path, response.status_code, response.content[:500])
        return response.json()

    started = time.perf_counter()
    for start in range(0, len(user_ids), 5000):
        post("/members/sync/", {"members": [
            {"external_id": str(u), "email": f"ml{u}-{tag}@bench.example.com"} for u in user_ids[start : start + 5000]
        ]})  # fmt: skip
    for start in range(0, len(item_ids), 5000):
        rows = []
        for item in item_ids[start : start + 5000]:
            title, genres = catalog.get(item, (f"Item {item}", []))
            kind = structure[item]["kind"] if item in structure else "video"
            rows.append({"external_id": str(item), "title": title[:300] or f"Item {item}", "kind": kind,
                         "tags": [g.lower() for g in genres][:20]})  # fmt: skip
        post("/content/bulk/", {"items": rows})
    if structure:  # second pass, every item known: courses and prerequisites
        linked = [
            {"external_id": str(item), "title": entry["title"], "kind": entry["kind"], "tags": entry["tags"],
             "parent_external_id": str(entry["parent"]) if entry["parent"] else None, "position": entry["position"],
             "prerequisite_external_ids": [str(p) for p in entry["prerequisites"]]}
            for item, entry in structure.items() if entry["parent"] or entry["prerequisites"]
        ]  # fmt: skip
        for start in range(0, len(linked), 5000):
            post("/content/bulk/", {"items": linked[start : start + 5000]})
    load_catalog = time.perf_counter() - started

    started = time.perf_counter()
    train_rows = np.flatnonzero(train)
    for start in range(0, len(train_rows), 5000):
        events = []
        for n in train_rows[start : start + 5000]:
            user, item, rating, ts = ratings[n]
            events.append({
                "idempotency_key": f"ml-{n}", **({"kind": "complete"} if structure else {"kind": "rate",
                                                                                       "value": float(rating)}),
                "user_external_id": str(user), "item_external_id": str(item),
                "occurred_at": datetime.fromtimestamp(ts, tz=UTC).isoformat().replace("+00:00", "Z"),
            })  # fmt: skip
        result = post("/interactions/batch/", {"events": events})
        assert result.get("created", len(events)) == len(events), result
    load_events = time.perf_counter() - started
    print(f"loaded members and catalog in {load_catalog:.1f} s, {len(train_rows):,} events in {load_events:.1f} s "
          f"({len(train_rows) / load_events:,.0f} events/s through the batch API)", flush=True)  # fmt: skip

    embed_seconds = 0.0
    if not args.no_embeddings:
        from apps.progress.services import content_embed_missing

        started = time.perf_counter()
        count = content_embed_missing(organization=organization, enqueue=False)
        embed_seconds = time.perf_counter() - started
        print(f"embedded {count:,} items in {embed_seconds:.0f} s", flush=True)

    from apps.recommendations.engine.ranking import RankRequest
    from apps.recommendations.services import recommendations_serve, recommender_train

    started = time.perf_counter()
    model = recommender_train(organization_id=organization.pk)
    train_seconds = time.perf_counter() - started
    per_100k = train_seconds / max(len(train_rows), 1) * 100_000
    print(f"trained model v{model.version} in {train_seconds:.1f} s ({per_100k:.0f} s per 100,000 events; "
          f"load average {os.getloadavg()[0]:.1f}); blend: {model.validation.get('blend')}, importance "
          f"{model.validation.get('importance')}; history half-life {model.params['history_half_life']} events, "
          f"popularity half-life {model.params['popularity_half_life_days']} days, trending half-life "
          f"{model.params['trending_half_life_days']} days, ALS recency half-life {model.params['cf_half_life']} "
          f"events; validation {model.validation}",
          flush=True)  # fmt: skip

    member_of = dict(Membership.objects.filter(organization=organization).values_list("external_id", "user_id"))
    external_of = dict(ContentItem.objects.filter(organization=organization).values_list("id", "external_id"))
    test_users = sorted(split.test)
    started = time.perf_counter()
    beacon = {}
    for user in test_users:
        served = recommendations_serve(
            organization=organization, user_id=member_of[str(user_ids[user])], request=RankRequest(size=10),
            offset=0, limit=10,
        )  # fmt: skip
        beacon[user] = [iidx[int(external_of[e["item"]["id"]])] for e in served["results"]]
    serve_seconds = time.perf_counter() - started

    # ---------------------------------------------------------------- each Beacon source alone (offline)
    solo, solo_seconds = sources_alone(organization, model, member_of, external_of, user_ids, iidx, test_users)

    # ---------------------------------------------------------------- baselines
    n_users, n_items = len(user_ids), len(item_ids)
    seen_users, seen_items = users[train], items[train]
    baselines = Baselines(n_users, n_items, users[train], items[train], positive[train], seen_users, seen_items)

    # Validation split for the baselines' own settings: the same rule, cut from the training events.
    inner = temporal_holdout(users[train], items[train], times[train], positive[train], fraction=0.2)
    tr = np.flatnonzero(train)[inner.train]
    val_base = Baselines(n_users, n_items, users[tr], items[tr], positive[tr], users[tr], items[tr])
    val_users = sorted(inner.test)

    def val_ndcg(recs):
        return ranking_metrics(recs, inner.test, n_items=n_items)["ndcg"]

    knn_choice = max([None, 50, 200], key=lambda k: val_ndcg(val_base.item_knn(val_users, neighbors=k)))
    grid = [(f, a) for f in (32, 64, 128) for a in (1.0, 10.0, 40.0)]
    als_choice = max(grid, key=lambda fa: val_ndcg(val_base.als(val_users, factors=fa[0], regularization=0.05,
                                                                alpha=fa[1])))  # fmt: skip
    from django.conf import settings

    tuned_name = f"implicit ALS (tuned: {als_choice[0]} factors, alpha {als_choice[1]:g})"
    results = {
        "Beacon (served blend)": ranking_metrics(beacon, split.test, n_items=n_items),
        **{
            f"Beacon source alone: {name}": ranking_metrics(recs, split.test, n_items=n_items)
            for name, recs in solo.items()
        },
        "MostPopular": ranking_metrics(baselines.most_popular(test_users), split.test, n_items=n_items),
        f"item-kNN (cosine, k={knn_choice or 'all'})": ranking_metrics(
            baselines.item_knn(test_users, neighbors=knn_choice), split.test, n_items=n_items
        ),
        f"implicit ALS (Beacon's settings: {settings.REC_CF_FACTORS} factors, alpha {settings.REC_CF_ALPHA:g})": (
            ranking_metrics(
                baselines.als(
                    test_users,
                    factors=settings.REC_CF_FACTORS,
                    regularization=settings.REC_CF_REGULARIZATION,
                    alpha=settings.REC_CF_ALPHA,
                ),
                split.test,
                n_items=n_items,
            )
        ),
        tuned_name: ranking_metrics(
            baselines.als(test_users, factors=als_choice[0], regularization=0.05, alpha=als_choice[1]),
            split.test,
            n_items=n_items,
        ),
    }
    print(f"\nquality on {len(test_users):,} test users (top 10; Beacon served {serve_seconds:.1f} s in all)")
    als_ndcg = results[tuned_name]["ndcg"] or 1e-12
    print(f"{'method':64s} {'P@10':>7s} {'R@10':>7s} {'nDCG@10':>8s} {'/ ALS':>6s} {'coverage':>9s}")
    for name, m in results.items():
        print(f"{name:64s} {m['precision']:7.4f} {m['recall']:7.4f} {m['ndcg']:8.4f} {m['ndcg'] / als_ndcg:6.3f} "
              f"{m['coverage']:9.4f}")  # fmt: skip
    ours = results["Beacon (served blend)"]["ndcg"]
    best_other = max((m["ndcg"], name) for name, m in results.items() if not name.startswith("Beacon"))
    print(f"Beacon served blend nDCG@10 / tuned ALS: x{ours / als_ndcg:.3f} (target 1.10: "
          f"{'met' if ours >= 1.10 * als_ndcg else 'NOT met'}); / best baseline ({best_other[1]}): "
          f"x{ours / best_other[0]:.3f}", flush=True)  # fmt: skip
    print(f"learnt importance of each source in the blend: {model.validation.get('importance')} "
          f"(course/graph learnt when the validation split shows enough of them: "
          f"{model.validation.get('structure_hits')})")  # fmt: skip

    # ---------------------------------------------------------------- latency
    latency = measure_latency(organization, client, base, member_of, user_ids, test_users, model, args, cache)
    latency.update(measure_http_latency(organization, raw_key, latency.pop("people")))
    if args.json:
        seconds = {"train": train_seconds, "train_per_100k_events": per_100k, "embed": embed_seconds,
                   "load_events": load_events, "sources_alone": solo_seconds}  # fmt: skip
        figures = {"source": source, "quality": results, "latency": latency, "seconds": seconds,
                   "model": {"params": model.params, "validation": model.validation}}  # fmt: skip
        args.json.write_text(json.dumps(figures, indent=2, default=str))


def sources_alone(organization, model, member_of, external_of, user_ids, iidx, test_users):
    """Top 10 of every Beacon source alone for the test users: the engine's offline model fitted on
    the same training events with the served model's learnt settings (as evaluate_recommendations)."""
    from dataclasses import fields

    from apps.recommendations.engine.offline import EngineParams, OfflineModel
    from apps.recommendations.services import catalog_load, item_vectors_load, training_events_load

    started = time.perf_counter()
    events, _ = training_events_load(organization_id=organization.pk)
    names = {f.name for f in fields(EngineParams)}
    params = EngineParams(**{key: value for key, value in model.params.items() if key in names})
    vectors = item_vectors_load(organization_id=organization.pk, item_ids=events.item_ids)
    catalog = catalog_load(organization_id=organization.pk, item_ids=events.item_ids)
    offline = OfflineModel(events, n_users=len(events.user_ids), n_items=len(events.item_ids), params=params,
                           item_vectors=vectors, catalog=catalog).fit()  # fmt: skip
    row_of = {int(user): row for row, user in enumerate(events.user_ids)}
    sources = ["cf", "cooccurrence", "ease", "rp3beta", "sequence", "content", "popular", "trending"]
    if offline.catalog is not None:
        sources += ["course", "graph"]
    out = {name: {} for name in sources}
    out["blend (offline, with the graph mirror)"] = {}
    for user in test_users:
        row = row_of.get(member_of[str(user_ids[user])])
        for name in out:
            if row is None:
                out[name][user] = []
                continue
            if name.startswith("blend"):
                picked = offline.recommend(row)
            else:
                picked = offline.recommend(row, weights={name: 1.0}, sources=(name,))
            out[name][user] = [iidx[int(external_of[int(events.item_ids[i])])] for i in picked]
    if not offline.catalog:
        del out["blend (offline, with the graph mirror)"]
    return out, time.perf_counter() - started


def measure_latency(organization, client, base, member_of, user_ids, test_users, model, args, cache):
    import redis
    from django.conf import settings
    from django.db import connection, transaction

    from apps.recommendations.engine import cache as rec_cache
    from apps.recommendations.engine.ranking import RankRequest
    from apps.recommendations.engine.sources import CF_SQL, user_factor_get, vector_literal
    from apps.recommendations.services import recommendations_serve

    rng = np.random.default_rng(args.seed)
    sample = rng.choice(test_users, size=min(args.latency_users, len(test_users)), replace=False)
    people = [member_of[str(user_ids[u])] for u in sample]

    def median_ms(values):
        return statistics.median(values) * 1000

    # Baseline 1: the bare pgvector HNSW query of the CF source (user factor given).
    vectors = [user_factor_get(model=model, user_id=p) for p in people]
    sql = CF_SQL.format(dims=int(model.dims))
    bare_index = []
    for vector in vectors:
        if vector is None:
            continue
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
            cursor.execute("SELECT set_config('hnsw.ef_search', %s, true)", [str(settings.REC_HNSW_EF_SEARCH)])
            cursor.execute(
                sql, {"vec": vector_literal(vector), "model": model.pk, "n": settings.REC_CANDIDATES_PER_SOURCE}
            )
            cursor.fetchall()
        bare_index.append(time.perf_counter() - started)

    # Baseline 3: the framework floor, an organization-scoped API call that does nearly nothing
    # (an empty list of bots) with the same API key: routing, auth, tenancy, transaction, rendering.
    floor = []
    for _ in people:
        started = time.perf_counter()
        client.get(base + "/bots/")
        floor.append(time.perf_counter() - started)

    url = base + "/recommendations/"
    api_miss, api_hit, engine_miss, engine_hit, bare_get = [], [], [], [], []
    raw = redis.Redis.from_url(settings.CACHE_REDIS_URL)
    for person in people:
        rec_cache.recommendation_cache_invalidate_user(organization_id=organization.pk, user_id=person)
        started = time.perf_counter()
        response = client.get(url, {"user": person, "limit": 10})
        api_miss.append(time.perf_counter() - started)
        assert response.status_code == 200 and not response.json()["cached"], response.content[:300]
        started = time.perf_counter()
        response = client.get(url, {"user": person, "limit": 10})
        api_hit.append(time.perf_counter() - started)
        assert response.json()["cached"]

        rec_cache.recommendation_cache_invalidate_user(organization_id=organization.pk, user_id=person)
        request = RankRequest(size=10)
        for bucket in (engine_miss, engine_hit):
            started = time.perf_counter()
            recommendations_serve(organization=organization, user_id=person, request=request, offset=0, limit=10)
            bucket.append(time.perf_counter() - started)
        # Baseline 2: a bare Redis GET of the cached list (the bytes Django stored for the hit).
        key = cache.make_key(rec_cache.list_key(organization_id=organization.pk, user_id=person,
                                                params=request.cache_params()))  # fmt: skip
        started = time.perf_counter()
        payload = raw.get(key)
        bare_get.append(time.perf_counter() - started)
        assert payload is not None
    out = {
        "users": len(people),
        "bare_pgvector_query_ms": median_ms(bare_index),
        "bare_redis_get_ms": median_ms(bare_get),
        "api_floor_ms": median_ms(floor),
        "api_miss_ms": median_ms(api_miss),
        "api_hit_ms": median_ms(api_hit),
        "engine_miss_ms": median_ms(engine_miss),
        "engine_hit_ms": median_ms(engine_hit),
    }
    out["load_average"] = os.getloadavg()[0]
    print(
        f"\nlatency, median of {len(people)} users "
        f"({len(user_ids):,} users x {organization_items(organization):,} items; "
        f"load average {out['load_average']:.1f} on {os.cpu_count()} cores)"
    )
    print(f"  bare pgvector HNSW query (CF source alone)    {out['bare_pgvector_query_ms']:7.2f} ms")
    print(f"  bare Redis GET of the cached list             {out['bare_redis_get_ms']:7.2f} ms")
    print(f"  API floor (empty bots list, same API key)     {out['api_floor_ms']:7.2f} ms")
    print(f"  API request, cache miss                       {out['api_miss_ms']:7.2f} ms  "
          f"x{out['api_miss_ms'] / out['bare_pgvector_query_ms']:.1f} the bare index query  "
          f"(target < 50 ms: {'met' if out['api_miss_ms'] < 50 else 'NOT met'})")  # fmt: skip
    print(f"  API request, cache hit                        {out['api_hit_ms']:7.2f} ms  "
          f"x{out['api_hit_ms'] / out['bare_redis_get_ms']:.1f} the bare GET, "
          f"x{out['api_hit_ms'] / out['api_floor_ms']:.2f} the API floor  "
          f"(target < 5 ms: {'met' if out['api_hit_ms'] < 5 else 'NOT met'})")  # fmt: skip
    print(
        f"  engine call (no HTTP), miss / hit             {out['engine_miss_ms']:7.2f} / {out['engine_hit_ms']:.2f} ms"
    )
    out["people"] = people
    return out


def measure_http_latency(organization, raw_key: str, people: list[int]) -> dict:
    """The same requests over HTTP, as a client of `make run` sees them: the web server of the embedded
    stack (devstack's command: gunicorn with one uvicorn worker, config.asgi, access log on) in a process
    of its own on this benchmark's database, one keep-alive connection. Its floors: /health/live/ (HTTP,
    ASGI and the middleware, no database) and the empty bots list (plus API key authentication, throttling
    and the request's transaction)."""
    import http.client
    import socket
    import subprocess

    from apps.core.management.commands.devstack import web_command
    from apps.recommendations.engine import cache as rec_cache

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = web_command(host="127.0.0.1", port=port)
    command[command.index("--workers") + 1] = "1"
    server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    headers = {"Authorization": f"Api-Key {raw_key}", "Host": "localhost"}
    try:
        deadline = time.monotonic() + 120  # the worker loads Django and the embedding model first
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the web server did not start") from None
                time.sleep(0.2)
        client = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

        def get(path: str) -> tuple[float, dict]:
            started = time.perf_counter()
            client.request("GET", path, headers=headers)
            response = client.getresponse()
            body = response.read()
            elapsed = time.perf_counter() - started
            assert response.status == 200, (path, response.status, body[:300])
            return elapsed, json.loads(body)

        base = f"/api/v1/orgs/{organization.slug}"
        for _ in range(20):  # the worker's first requests (imports, pools)
            get(base + "/bots/")
        health = [get("/health/live/")[0] for _ in people]
        floor = [get(base + "/bots/")[0] for _ in people]
        miss, hit = [], []
        for person in people:
            rec_cache.recommendation_cache_invalidate_user(organization_id=organization.pk, user_id=person)
            elapsed, body = get(f"{base}/recommendations/?user={person}&limit=10")
            assert not body["cached"]
            miss.append(elapsed)
            elapsed, body = get(f"{base}/recommendations/?user={person}&limit=10")
            assert body["cached"]
            hit.append(elapsed)
        # Steady traffic: every list cached, each hit after another user's hit (the loop above asks each hit right
        # after its own miss, whose log write runs once that response is sent, apps/core/responses.py).
        steady = []
        for person in people:
            elapsed, body = get(f"{base}/recommendations/?user={person}&limit=10")
            assert body["cached"]
            steady.append(elapsed)
        client.close()
    finally:
        server.terminate()
        server.wait(timeout=60)
    out = {name: statistics.median(values) * 1000
           for name, values in (("http_health_ms", health), ("http_floor_ms", floor), ("http_miss_ms", miss),
                                ("http_hit_ms", hit), ("http_steady_hit_ms", steady))}  # fmt: skip
    print(f"  over HTTP (make run's web server, 1 worker; load average {os.getloadavg()[0]:.1f}):")
    print(f"    floor without database (/health/live/)     {out['http_health_ms']:7.2f} ms")
    print(f"    API floor (empty bots list)                 {out['http_floor_ms']:7.2f} ms")
    print(f"    cache miss                                  {out['http_miss_ms']:7.2f} ms  "
          f"(target < 50 ms: {'met' if out['http_miss_ms'] < 50 else 'NOT met'})")  # fmt: skip
    for label, name in (
        ("cache hit, right after its own miss", "http_hit_ms"),
        ("cache hit, steady (after another hit)", "http_steady_hit_ms"),
    ):
        print(f"    {label:<44s}{out[name]:7.2f} ms  x{out[name] / out['http_floor_ms']:.2f} the API floor  "
              f"(target < 5 ms: {'met' if out[name] < 5 else 'NOT met'})")  # fmt: skip
    return out


def organization_items(organization) -> int:
    from apps.progress.models import ContentItem

    return ContentItem.objects.filter(organization=organization).count()


if __name__ == "__main__":
    main()
