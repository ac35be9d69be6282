"""Graph drain throughput: outbox rows/s into the embedded FalkorDB graph (issue 12).

1. Data. A realistic organization made with bulk inserts: 1,000 members with profile interests,
   2,000 catalog items (100 courses; lessons, articles, videos and quizzes with tags, categories,
   parents and prerequisites; tag names with quotes and backslashes, as real catalogs have), 100,000
   interactions of every kind (`rate` with values, `purchase` with amounts) and the progress rows
   they imply. Its outbox rows are written through the app's own `graph_outbox_*` services, in
   1% slices of every entity kind in turn, so rows of all kinds interleave in id (= claim) order and
   any prefix of the outbox has the same mix as the whole.
2. Drain. The organization's subgraph is deleted, then `graph_sync_drain()` runs with the current
   settings until the outbox is empty. Reported: rows/s (target >= 2,000 on 2 cores), and that the
   graph's counts equal PostgreSQL's (users, items, INTERACTED, COMPLETED, TAGGED).
3. Baseline, same run, same rows: the subgraph is deleted again, the same outbox rows are written
   again, and the drain runs as it did before issue 12: one managed transaction per query
   (`driver.execute_query`, no reused session) and the previous claim and batch settings (500
   rows per claim, 50 rows and 3,000 bytes per query). It runs for --baseline-seconds (default 60;
   0 = until empty): the interleaved order makes its rows/s comparable with a partial run. (The
   pre-issue-12 drain without string escaping could not finish at all: any tag with a quote failed
   its whole claim, so the old code as is would measure ~0 rows/s; the baseline keeps the escaping
   to measure the transport and batching alone.)

    python benchmarks/graph_drain.py [--users 1000] [--items 2000] [--events 100000] [--baseline-seconds 60]

Runs in a database of its own (`beacon_bench_graph`, dropped and re-created at each run); the
organization's subgraph is deleted at the end.
"""

import argparse
import contextlib
import datetime as dt
import os
import random
import secrets
import sys
import time

from _setup import ROOT, django_setup

DATABASE = "beacon_bench_graph"
SLICES = 100
TAGS = [f"tag-{n}" for n in range(150)] + [
    "C++",
    "machine learning",
    "naïve",
    "O'Reilly",
    "rock 'n' roll",
    'say "hi"',
    "C:\\new",
    "émoji 🎓",
]
CATEGORIES = [f"Category {n}" for n in range(30)] + ["Craft's corner"]
KINDS = (
    ["view"] * 5 + ["start"] * 3 + ["complete"] * 2 + ["like", "save", "share", "purchase", "rate", "rate", "dismiss"]
)


def fresh_database(embedded) -> None:
    import psycopg

    info = embedded.postgres_ensure()
    with psycopg.connect(
        host=info.socket_dir, port=info.port, user=info.user, dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    embedded.postgres_ensure()


def make_organization(users: int, items: int, events: int, rng: random.Random):
    """The organization and the outbox keys of everything in it: (users, items, progress pairs, interaction keys)."""
    from django.utils import timezone

    from apps.organizations.models import Membership, Organization, Plan, Role
    from apps.progress.models import ContentItem, ContentPrerequisite, Interaction, Progress
    from apps.users.models import User

    tag = secrets.token_hex(4)
    organization = Organization.objects.create(
        name=f"Graph drain {tag}", slug=f"bench-graph-{tag}", plan=Plan.objects.get(code="enterprise")
    )
    people = User.objects.bulk_create(
        [
            User(
                email=f"u{n}-{tag}@bench.example.com",
                password="!",
                is_active=True,
                interests=rng.sample(TAGS, rng.randrange(0, 6)),
            )
            for n in range(users)
        ],
        batch_size=2_000,
    )
    Membership.objects.bulk_create(
        [
            Membership(organization=organization, user=user, role=rng.choice([Role.MEMBER] * 9 + [Role.ADMIN]))
            for user in people
        ]
    )
    courses = ContentItem.objects.bulk_create(
        [
            ContentItem(
                organization=organization,
                title=f"Course {n}",
                kind="course",
                tags=rng.sample(TAGS, 3),
                categories=rng.sample(CATEGORIES, 1),
            )
            for n in range(items // 20)
        ]
    )
    kinds = ["lesson", "article", "video", "quiz"]
    rest = ContentItem.objects.bulk_create(
        [
            ContentItem(
                organization=organization,
                title=f"Item {n}",
                kind=kinds[n % 4],
                external_id=f"i{n}",
                parent=courses[n % len(courses)] if n % 3 else None,
                position=n,
                difficulty=rng.choice([None, 1, 2, 3, 4, 5]),
                active=rng.random() > 0.05,
                tags=rng.sample(TAGS, rng.randrange(0, 7)),
                categories=rng.sample(CATEGORIES, rng.randrange(0, 3)),
            )
            for n in range(items - len(courses))
        ],
        batch_size=2_000,
    )
    catalog = courses + rest
    prerequisites = {(rest[n].pk, rest[rng.randrange(0, n)].pk) for n in range(1, len(rest)) if rng.random() < 0.3}
    ContentPrerequisite.objects.bulk_create(
        [ContentPrerequisite(organization=organization, item_id=a, prerequisite_id=b) for a, b in prerequisites]
    )
    now = timezone.now()
    rows = []
    for _ in range(events):
        kind = rng.choice(KINDS)
        value = float(rng.randrange(1, 6)) if kind == "rate" else (19.99 if kind == "purchase" else None)
        rows.append(
            Interaction(
                organization=organization,
                user=rng.choice(people),
                item=rng.choice(catalog),
                kind=kind,
                weight=rng.choice([1.0, 0.5, 2.0, 1.25]),
                value=value,
                occurred_at=now - dt.timedelta(seconds=rng.randrange(10**7)),
            )
        )
    Interaction.objects.bulk_create(rows, batch_size=5_000)
    progress = {}
    for event in rows:
        if event.kind in ("start", "complete"):
            done = event.kind == "complete"
            if (event.user_id, event.item_id) not in progress or done:
                progress[(event.user_id, event.item_id)] = Progress(
                    organization=organization,
                    user_id=event.user_id,
                    item_id=event.item_id,
                    status=Progress.Status.COMPLETED if done else Progress.Status.IN_PROGRESS,
                    percent=100 if done else 40,
                    score=rng.choice([None, 55.5, 100.0, 80]) if done else None,
                    completed_at=event.occurred_at if done else None,
                    started_at=event.occurred_at,
                )
    Progress.objects.bulk_create(list(progress.values()), batch_size=5_000)
    keys = sorted({(event.user_id, event.item_id, event.kind) for event in rows})
    return organization, [u.pk for u in people], [i.pk for i in catalog], sorted(progress), keys


def write_outbox(organization_id: int, users, items, pairs, keys) -> int:
    """All rows through the services, 1% of every kind in turn (interleaved claim order)."""
    from django.db import transaction

    from apps.graph import sync as graph_sync
    from apps.graph.models import GraphOutbox

    rng = random.Random(1)
    parts = [list(users), list(items), list(pairs), list(keys)]
    for part in parts:
        rng.shuffle(part)
    with transaction.atomic():
        for n in range(SLICES):
            users_, items_, pairs_, keys_ = (part[n::SLICES] for part in parts)
            graph_sync.graph_outbox_users(organization_id=organization_id, user_ids=users_)
            graph_sync.graph_outbox_content(organization_id=organization_id, item_ids=items_)
            graph_sync.graph_outbox_progress(organization_id=organization_id, pairs=pairs_)
            graph_sync.graph_outbox_interactions(organization_id=organization_id, keys=keys_)
    return GraphOutbox.objects.filter(organization_id=organization_id).count()


def drain(max_seconds: float) -> tuple[int, float, int]:
    """(rows applied, seconds, rows dead) of drains run back to back until empty or max_seconds."""
    from apps.graph.sync import graph_sync_drain

    applied = dead = 0
    started = time.perf_counter()
    while True:
        left = max_seconds - (time.perf_counter() - started)
        if left <= 0:
            break
        result = graph_sync_drain(max_seconds=left)
        if result.error:
            raise SystemExit(f"drain failed: {result.error}")
        applied += result.applied
        dead += result.dead
        if result.rounds == 0:
            break
        elapsed = time.perf_counter() - started
        print(f"  {applied:>9,} rows in {elapsed:6.1f} s: {applied / elapsed:,.0f} rows/s", flush=True)
    return applied, time.perf_counter() - started, dead


def graph_counts(organization_id: int) -> dict:
    from apps.core.graph import graph_query

    patterns = {
        "users": "(:User {organization_id: $org})",
        "items": "(:Content {organization_id: $org})",
        "interacted": "(:User {organization_id: $org})-[:INTERACTED {organization_id: $org}]->()",
        "completed": "(:User {organization_id: $org})-[:COMPLETED {organization_id: $org}]->()",
        "tagged": "(:Content {organization_id: $org})-[:TAGGED {organization_id: $org}]->()",
    }
    return {
        name: graph_query(f"MATCH {pattern} RETURN count(*) AS n", {"org": organization_id})[0]["n"]
        for name, pattern in patterns.items()
    }


def postgres_counts(organization, users, items, keys) -> dict:
    from apps.progress.models import ContentItem, Progress

    return {
        "users": len(users),
        "items": len(items),
        "interacted": len(keys),
        "completed": Progress.objects.filter(organization=organization, status=Progress.Status.COMPLETED).count(),
        "tagged": sum(
            len(set(t)) for t in ContentItem.objects.filter(organization=organization).values_list("tags", flat=True)
        ),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=1_000)
    parser.add_argument("--items", type=int, default=2_000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--baseline-seconds", type=float, default=60.0, help="0: until the outbox is empty")
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from apps.core import embedded

    os.environ.setdefault("REDIS_URL", embedded.redis_url(5))
    os.environ.setdefault("DJANGO_DEBUG", "false")
    os.environ["BEACON_DATABASE_NAME"] = DATABASE
    fresh_database(embedded)
    django_setup(database=DATABASE)
    from django.conf import settings
    from django.test.utils import override_settings

    from apps.graph import projection as graph_projection
    from apps.graph import sync as graph_sync
    from apps.graph.projection import organization_subgraph_delete

    graph_sync.graph_sync_kick = lambda: None  # the benchmark drains in this process, no worker
    rng = random.Random(args.seed)
    print(f"making {args.users:,} members, {args.items:,} items, {args.events:,} interactions ...", flush=True)
    organization, users, items, pairs, keys = make_organization(args.users, args.items, args.events, rng)
    try:
        organization_subgraph_delete(organization.pk)
        total = write_outbox(organization.pk, users, items, pairs, keys)
        print(
            f"outbox: {total:,} rows (claim {settings.GRAPH_SYNC_CLAIM_SIZE}, {settings.GRAPH_SYNC_BATCH_SIZE} rows "
            f"and {settings.GRAPH_SYNC_MAX_PARAM_BYTES} bytes per query, one session per claim)",
            flush=True,
        )
        applied, seconds, dead = drain(max_seconds=3_600)
        rate = applied / seconds
        graph, postgres = graph_counts(organization.pk), postgres_counts(organization, users, items, keys)
        print(f"drain: {applied:,} rows in {seconds:.1f} s = {rate:,.0f} rows/s, {dead} dead (target >= 2,000 rows/s)")
        print(f"graph {graph}\npostgres {postgres}: {'equal' if graph == postgres else 'DIFFERENT'}", flush=True)

        organization_subgraph_delete(organization.pk)
        write_outbox(organization.pk, users, items, pairs, keys)
        print("baseline: one managed transaction per query, claim 500, 50 rows / 3,000 bytes per query ...", flush=True)
        previous = override_settings(
            GRAPH_SYNC_CLAIM_SIZE=500, GRAPH_SYNC_BATCH_SIZE=50, GRAPH_SYNC_MAX_PARAM_BYTES=3000
        )
        session, graph_projection.graph_session = graph_projection.graph_session, contextlib.nullcontext
        try:
            with previous:
                base_applied, base_seconds, _ = drain(max_seconds=args.baseline_seconds or 3_600)
        finally:
            graph_projection.graph_session = session
        base_rate = base_applied / base_seconds
        print(f"baseline: {base_applied:,} rows in {base_seconds:.1f} s = {base_rate:,.0f} rows/s")
        print(f"\nRESULT drain {rate:,.0f} rows/s, baseline {base_rate:,.0f} rows/s, ratio {rate / base_rate:.1f}x")
    finally:
        organization_subgraph_delete(organization.pk)  # the database itself is dropped at the next run


if __name__ == "__main__":
    main()
