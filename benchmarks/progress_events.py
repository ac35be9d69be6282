"""Progress events: ingest interaction events through the batch API, then time every analytics endpoint.

1. Ingestion. N events (default 1,000,000) of 5,000 users on 2,000 content items over 180 days are
   posted to `POST /api/v1/orgs/{org}/interactions/batch/` through Django's test client with an API
   key: routing, authentication, JSON parsing, per-row validation, the bulk lookups and the INSERT, in
   one transaction per request (ATOMIC_REQUESTS), exactly as a server runs them, minus the socket.
   The request bodies are built outside the clock. Baseline, in the same run and interleaved batch by
   batch (so both see the same table size and the same machine noise): the same rows written with
   PostgreSQL `COPY` into the same table (same indexes), one transaction per batch, under a scratch
   organization that is deleted afterwards. Reported: events/s of each and their ratio.
   Target: >= 5,000 events/s through the API.
2. Analytics. The rest of the organization's data is then made up in SQL (progress rows derived from
   the events, 3 bots with 30,000 conversations and 120,000 messages), the tables are compacted
   (VACUUM FULL), analysed and vacuumed (as autovacuum would leave them), and each analytics
   endpoint is called through the API over the whole range (every event in it): median of 5 calls
   after a warm-up, against the median of `SELECT count(*)` over the organization's interactions
   (the floor of any query on that table).
   Target: every endpoint < 1 s at 1M events.

    python benchmarks/progress_events.py [--events 1000000] [--batch 5000]

Runs in a database of its own (`beacon_bench_progress`, dropped and re-created at each run) and
Redis dbs 7-9 (broker, results, cache) of the embedded stack.
"""

import argparse
import datetime as dt
import json
import os
import random
import statistics
import sys
import time

from _setup import ROOT, django_setup

DATABASE = "beacon_bench_progress"
USERS = 5_000
ITEMS = 2_000
DAYS = 180
# (kind, share of "extra" events besides the view -> start -> complete journeys, weight)
EXTRA_KINDS = [("like", 0.35), ("save", 0.2), ("share", 0.15), ("purchase", 0.1), ("rate", 0.1), ("dismiss", 0.1)]


def make_events(count: int, user_ids: list[int], item_ids: list[int], now: dt.datetime, rng: random.Random):
    """`count` events as the batch API takes them: journeys (view, then start with p=0.45, then
    complete with p=0.55) on items of skewed popularity, and ~15% other kinds."""
    popularity = [1 / (rank + 1) ** 0.8 for rank in range(len(item_ids))]
    cumulative = []
    total = 0.0
    for weight in popularity:
        total += weight
        cumulative.append(total)
    extra_kinds = [kind for kind, _ in EXTRA_KINDS]
    extra_weights = [share for _, share in EXTRA_KINDS]
    span = DAYS * 86_400 - 4 * 3_600  # journeys last at most 3 hours and end in the past
    events = []
    while len(events) < count:
        user = rng.choice(user_ids)
        item = item_ids[min(len(item_ids) - 1, _bisect(cumulative, rng.random() * total))]
        start = now - dt.timedelta(seconds=rng.randrange(span) + 4 * 3_600)
        journey = ["view"]
        if rng.random() < 0.45:
            journey.append("start")
            if rng.random() < 0.55:
                journey.append("complete")
        if rng.random() < 0.18:
            journey.append(rng.choices(extra_kinds, extra_weights)[0])
        for step, kind in enumerate(journey):
            occurred = start + dt.timedelta(minutes=step * rng.randrange(1, 90))
            event = {
                "idempotency_key": f"bench-{len(events)}",
                "kind": kind,
                "item": item,
                "user": user,
                "occurred_at": occurred.isoformat().replace("+00:00", "Z"),
            }
            if kind == "rate":
                event["value"] = float(rng.randrange(1, 6))
            elif kind == "purchase":
                event["value"] = 19.0
            events.append(event)
            if len(events) == count:
                break
    return events


def _bisect(cumulative, x):
    lo, hi = 0, len(cumulative)
    while lo < hi:
        mid = (lo + hi) // 2
        if cumulative[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


def setup_organization(label: str):
    """An organization (enterprise plan), its users (members) and catalog, made with bulk inserts."""
    import secrets

    from apps.organizations.models import Membership, Organization, Plan, Role
    from apps.progress.models import ContentItem
    from apps.users.models import User

    plan = Plan.objects.get(code="enterprise")
    tag = secrets.token_hex(4)
    organization = Organization.objects.create(name=f"{label} {tag}", slug=f"bench-{tag}", plan=plan)
    users = User.objects.bulk_create(
        [User(email=f"u{n}-{tag}@bench.example.com", password="!", is_active=True) for n in range(USERS)],
        batch_size=2_000,
    )
    Membership.objects.bulk_create(
        [Membership(organization=organization, user=user, role=Role.MEMBER) for user in users], batch_size=2_000
    )
    courses = ContentItem.objects.bulk_create(
        [ContentItem(organization=organization, title=f"Course {n}", kind="course") for n in range(ITEMS // 20)]
    )
    kinds = ["lesson", "article", "video", "quiz"]
    items = ContentItem.objects.bulk_create(
        [
            ContentItem(
                organization=organization,
                title=f"Item {n}",
                kind=kinds[n % len(kinds)],
                external_id=f"item-{n}",
                parent=courses[n % len(courses)] if n % len(kinds) == 0 else None,
                position=n,
            )
            for n in range(ITEMS - len(courses))
        ],
        batch_size=2_000,
    )
    return organization, [u.pk for u in users], [c.pk for c in courses] + [i.pk for i in items]


def copy_rows(connection, organization_id: int, events: list[dict], now: dt.datetime) -> None:
    """Baseline: the same rows with COPY, in one transaction."""
    from apps.progress.models import DEFAULT_INTERACTION_WEIGHTS

    columns = "organization_id, user_id, item_id, kind, weight, value, occurred_at, idempotency_key, created_at"
    with connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg 3
        with raw.copy(f"COPY progress_interaction ({columns}) FROM STDIN") as copy:
            for e in events:
                copy.write_row(
                    (
                        organization_id,
                        e["user"],
                        e["item"],
                        e["kind"],
                        DEFAULT_INTERACTION_WEIGHTS[e["kind"]],
                        e.get("value"),
                        dt.datetime.fromisoformat(e["occurred_at"]),
                        e["idempotency_key"],
                        now,
                    )
                )


def make_rest(organization, user_ids: list[int]) -> None:
    """Progress rows derived from the events; bots, conversations and messages — in SQL."""
    from django.db import connection

    from apps.bots.models import Bot

    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO progress_progress (organization_id, user_id, item_id, status, percent, score,
                time_spent_seconds, started_at, completed_at, last_activity_at, created_at, updated_at)
            SELECT %(org)s, user_id, item_id,
                   CASE WHEN completed IS NULL THEN 'in_progress' ELSE 'completed' END,
                   CASE WHEN completed IS NULL THEN 40 ELSE 100 END, NULL,
                   CASE WHEN completed IS NULL THEN 300 ELSE 60 + (item_id %% 50) * 60 END,
                   started, completed, coalesce(completed, started), now(), now()
            FROM (
                SELECT user_id, item_id, min(occurred_at) FILTER (WHERE kind = 'start') AS started,
                       min(occurred_at) FILTER (WHERE kind = 'complete') AS completed
                FROM progress_interaction WHERE organization_id = %(org)s AND kind IN ('start', 'complete')
                GROUP BY user_id, item_id
            ) pairs
            WHERE started IS NOT NULL AND (completed IS NULL OR completed >= started)
            """,
            {"org": organization.pk},
        )
        bots = Bot.objects.bulk_create([Bot(organization=organization, name=f"Bot {n}") for n in range(3)])
        cursor.execute(
            """
            INSERT INTO conversations_conversation (organization_id, bot_id, user_id, visitor_id, channel, title,
                created_at, updated_at, last_message_at)
            SELECT %(org)s, (%(bots)s::bigint[])[1 + n %% 3], (%(users)s::bigint[])[1 + n %% %(nusers)s], '', 'api',
                   '', now() - (n %% %(days)s) * interval '1 day', now(), now()
            FROM generate_series(1, 30000) n
            """,
            {"org": organization.pk, "bots": [b.pk for b in bots], "users": user_ids, "nusers": len(user_ids),
             "days": DAYS},
        )  # fmt: skip
        cursor.execute(
            """
            INSERT INTO conversations_message (organization_id, conversation_id, role, content, status, citations,
                model, prompt_tokens, completion_tokens, latency_ms, error, feedback, feedback_comment, created_at)
            SELECT %(org)s, c.id, r.role, 'x',
                   CASE WHEN r.role = 'assistant' AND (c.id + r.n) %% 7 = 0 THEN 'unanswered'
                        WHEN r.role = 'assistant' AND (c.id + r.n) %% 53 = 0 THEN 'error' ELSE 'ok' END,
                   '[]', '', 0, 0, 0, '',
                   CASE WHEN r.role = 'assistant' AND (c.id + r.n) %% 5 = 0 THEN 1
                        WHEN r.role = 'assistant' AND (c.id + r.n) %% 11 = 0 THEN -1 END,
                   '', c.created_at + r.n * interval '1 minute'
            FROM conversations_conversation c
            CROSS JOIN (VALUES (1, 'user'), (2, 'assistant'), (3, 'user'), (4, 'assistant')) AS r(n, role)
            WHERE c.organization_id = %(org)s
            """,
            {"org": organization.pk},
        )


def fresh_database(embedded) -> None:
    """Drop the benchmark's own database (a previous run's million rows would slow every scan);
    django_setup() creates and migrates it again."""
    import psycopg

    info = embedded.postgres_ensure()
    with psycopg.connect(
        host=info.socket_dir, port=info.port, user=info.user, dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    embedded.postgres_ensure()


def timed(fn, runs: int = 5) -> float:
    fn()  # warm-up
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=0, help="events per request (default: the API's maximum)")
    parser.add_argument("--seed", type=int, default=6)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from apps.core import embedded

    os.environ.setdefault("REDIS_URL", embedded.redis_url(7))
    os.environ.setdefault("DJANGO_DEBUG", "false")  # no query log of 1M rows
    os.environ["BEACON_DATABASE_NAME"] = DATABASE
    fresh_database(embedded)
    django_setup(database=DATABASE)
    from django.conf import settings
    from django.db import connection, transaction
    from rest_framework.test import APIClient

    from apps.organizations.models import Organization, Plan
    from apps.organizations.services import api_key_create

    batch = args.batch or getattr(settings, "INTERACTION_BATCH_MAX_EVENTS", 5_000)
    rng = random.Random(args.seed)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)

    print(f"setting up {USERS} users and {ITEMS} items ...", flush=True)
    organization, user_ids, item_ids = setup_organization("progress benchmark")
    scratch = Organization.objects.create(
        name="progress benchmark baseline", slug=f"{organization.slug}-copy", plan=Plan.objects.get(code="enterprise")
    )
    _key, raw_key = api_key_create(organization=organization, name="bench", scopes=["read", "write"])
    client = APIClient(HTTP_HOST="localhost")
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw_key}")
    url = f"/api/v1/orgs/{organization.slug}/interactions/batch/"

    print(f"generating {args.events:,} events ...", flush=True)
    events = make_events(args.events, user_ids, item_ids, now, rng)

    print(f"ingesting in batches of {batch:,} (API and COPY interleaved) ...", flush=True)
    api_seconds = copy_seconds = 0.0
    for offset in range(0, len(events), batch):
        chunk = events[offset : offset + batch]
        body = json.dumps({"events": chunk})
        started = time.perf_counter()
        with transaction.atomic():
            copy_rows(connection, scratch.pk, chunk, now)
        copy_seconds += time.perf_counter() - started

        started = time.perf_counter()
        response = client.generic("POST", url, body, content_type="application/json")
        api_seconds += time.perf_counter() - started
        if response.status_code not in (200, 201, 207):
            raise SystemExit(f"batch at {offset}: HTTP {response.status_code} {response.content[:500]!r}")
        outcome = response.json()
        if outcome.get("created") != len(chunk):
            raise SystemExit(f"batch at {offset}: {json.dumps(outcome)[:500]}")
        done = offset + len(chunk)
        if done % (batch * 20) == 0 or done == len(events):
            rates = f"API {done / api_seconds:,.0f}/s, COPY {done / copy_seconds:,.0f}/s"
            print(f"  {done:>9,} events: {rates}", flush=True)
    api_rate, copy_rate = len(events) / api_seconds, len(events) / copy_seconds

    print("deleting the baseline rows, making progress and bot data, VACUUM FULL ANALYZE ...", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM progress_interaction WHERE organization_id = %s", [scratch.pk])
    scratch.delete()
    make_rest(organization, user_ids)
    with connection.cursor() as cursor:
        for table in ("progress_interaction", "progress_progress", "conversations_message",
                      "conversations_conversation"):  # fmt: skip
            cursor.execute(f"VACUUM (FULL, ANALYZE) {table}")
            cursor.execute(f"VACUUM {table}")  # the visibility map, as autovacuum keeps it (index-only scans)
        cursor.execute("SELECT count(*) FROM progress_progress WHERE organization_id = %s", [organization.pk])
        progress_rows = cursor.fetchone()[0]

    def count_floor():
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM progress_interaction WHERE organization_id = %s", [organization.pk])
            return cursor.fetchone()[0]

    stored = count_floor()
    floor = timed(count_floor)

    reader = APIClient(HTTP_HOST="localhost")
    reader.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw_key}")
    date_from = (now - dt.timedelta(days=DAYS + 1)).date().isoformat()
    date_to = now.date().isoformat()
    whole = {"date_from": date_from, "date_to": date_to}
    queries = [
        ("active-users", "active-users", whole | {"grouping": "day"}),
        ("active-users (week)", "active-users", whole | {"grouping": "week"}),
        ("completion (item)", "completion", whole),
        ("completion (course)", "completion", whole | {"group": "course"}),
        ("funnel", "funnel", whole),
        ("funnel (one item)", "funnel", whole | {"item": str(item_ids[100])}),
        ("top-items", "top-items", whole),
        ("top-items (complete)", "top-items", whole | {"interaction_kind": "complete"}),
        ("bots", "bots", whole | {"grouping": "week"}),
    ]
    results = []
    load_before = os.getloadavg()[0]
    for label, name, params in queries:
        path = f"/api/v1/orgs/{organization.slug}/analytics/{name}/"

        def call(path=path, params=params):
            response = reader.get(path, params)
            assert response.status_code == 200, response.content[:500]
            return response

        results.append((label, timed(call)))
    load_after = os.getloadavg()[0]

    print()
    print(f"events stored: {stored:,} (progress rows {progress_rows:,}); batch size {batch:,}")
    print(f"ingestion through the API: {api_rate:,.0f} events/s")
    print(f"baseline COPY of the same rows into the same table: {copy_rate:,.0f} events/s")
    print(f"ratio API / COPY: {api_rate / copy_rate:.2f}")
    print(f"target (>= 5,000 events/s through the API): {'met' if api_rate >= 5_000 else 'NOT met'}")
    print()
    print(f"floor: SELECT count(*) over the organization's interactions: {floor * 1000:.1f} ms")
    print(f"(load average while timing: {load_before:.1f} before, {load_after:.1f} after, on {os.cpu_count()} CPUs)")
    for label, seconds in results:
        print(f"  {label:<22} {seconds * 1000:8.1f} ms  (x{seconds / floor:.1f} the floor)")
    slowest = max(seconds for _, seconds in results)
    verdict = "met" if slowest < 1 else "NOT met"
    print(f"target (every analytics query < 1 s): {verdict} (slowest {slowest * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
