"""A realistic organization on the default stack (issue 12): import it over HTTP while people use Beacon.

What it does, as a new customer would on `make run`:

1. Starts Beacon on the embedded stack in a home of its own (`.beacon/bench-realistic`, or `--home`):
   PostgreSQL, the broker/cache Redis and the FalkorDB graph server, then the web server
   (gunicorn, the command `make run` uses), the Celery workers of `make run` (ingestion with concurrency 2, a
   one-child worker for the light `celery` queue: drain, sweeps, and one for `bulk`: training, campaigns) and beat
   as child processes. The database `beacon_bench_realistic` and the graph are emptied at each run.
2. Signs up through the API (register, organization, API key, bot, one document processed by the
   worker) — the plan is raised to `enterprise` as an operator would, and the request throttles are
   raised so the steady stream below measures latency, not refusals.
3. **Before**: for `--warmup` seconds, a steady stream of logins, searches and chat turns (`--streams`
   loops, each doing one of each after the other), and a Redis PING every 20 ms against the broker/cache Redis.
4. **Import** through the public API: `members/sync/` (members), `content/bulk/` (items with tags,
   categories, parents and prerequisites), `interactions/batch/` (events, 5,000 per request), while
   the same stream and PING sampler keep going, until the graph outbox of the organization is empty
   (the drain, kicked on commit and by beat, catches up in the background).
5. Prints: 5xx count (target 0), Redis PING p99 during the catch-up against before (target < 50 ms),
   login/search/chat p99 during against before (target within 2x), time from the last import request
   until the outbox is empty (target < 60 s for 100,000 events), dead-lettered outbox rows (target 0),
   and graph node/relationship counts against what PostgreSQL holds.

    python benchmarks/realistic_import.py [--members 1000] [--items 2000] [--events 100000]
                                          [--warmup 30] [--home PATH] [--keep-servers]

The 1,000,000-event run of docs/benchmarks.md: `--events 1000000`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "beacon_bench_realistic"
PASSWORD = "bench-Password-2026!"
TAGS = [f"topic-{n}" for n in range(60)]
CATEGORIES = [f"area-{n}" for n in range(12)]
KINDS = ["course", "lesson", "article", "video", "product"]
# (kind, share) of the imported events; `rate` carries a value 1..5.
EVENT_KINDS = [("view", 0.35), ("start", 0.15), ("complete", 0.1), ("like", 0.1), ("save", 0.05),
               ("share", 0.03), ("purchase", 0.02), ("rate", 0.17), ("dismiss", 0.03)]  # fmt: skip
DOCUMENT = "\n\n".join(
    f"# Topic {n}\n\nThe {n}th topic of the Beacon handbook explains how teams plan work item {n}, "
    f"review it with their lead, and record progress in the catalog. Deadlines for topic {n} are "
    f"agreed at the weekly meeting; the owner writes a short summary afterwards."
    for n in range(40)
)
QUESTIONS = ["How do teams plan work?", "When are deadlines agreed?", "Who writes the summary?", "What is topic 7?"]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------------- set-up


def prepare_environment(home: Path) -> None:
    """Embedded services in `home`, a fresh database, Django set up in this process."""
    os.environ["BEACON_HOME"] = str(home)
    os.environ["BEACON_DATABASE_NAME"] = DATABASE
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    os.environ.setdefault("DJANGO_LOG_LEVEL", "WARNING")
    # The steady stream measures latency; with the default 20 logins/min it would measure refusals.
    for name in ("THROTTLE_ANON", "THROTTLE_USER", "THROTTLE_API_KEY", "THROTTLE_AUTH"):
        os.environ[name] = "1000000/min"
    sys.path.insert(0, str(ROOT))
    from apps.core import embedded

    info = embedded.postgres_ensure()
    import psycopg

    with psycopg.connect(host=info.socket_dir, port=info.port, user=info.user, dbname="postgres", autocommit=True) as c:
        c.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [DATABASE],
        )
        c.execute(f'DROP DATABASE IF EXISTS "{DATABASE}"')
    # The graph of an earlier run holds the same organization ids (the database restarts its
    # sequences): start from an empty graph server too.
    import redis

    graph_server = redis.Redis(port=embedded.graph_ensure()["port"])
    for name in graph_server.execute_command("GRAPH.LIST"):
        graph_server.execute_command("GRAPH.DELETE", name)
    import django

    django.setup()  # the settings start the embedded services and create the database
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


def start_children(port: int, home: Path, log_dir: Path) -> dict[str, subprocess.Popen]:
    from apps.core.management.commands.devstack import web_command, worker_commands

    python = sys.executable
    celery = [python, "-m", "celery", "-A", "config.celery_app"]
    commands = {
        "web": web_command(host="127.0.0.1", port=port),
        **worker_commands(concurrency=2, loglevel="warning"),
        "beat": [*celery, "beat", "-l", "warning", "--schedule", str(home / "bench-celerybeat-schedule")],
    }
    children = {}
    for name, command in commands.items():
        log = open(log_dir / f"{name}.log", "w")  # noqa: SIM115  (closed with the process)
        children[name] = subprocess.Popen(
            command, cwd=ROOT, env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    return children


def stop_children(children: dict[str, subprocess.Popen]) -> None:
    from apps.core.management.commands.devstack import Command as Devstack

    Devstack.terminate(children)


class Api:
    """A small HTTP client that counts 5xx answers and transport errors."""

    def __init__(self, base: str):
        import requests

        self.base = base
        self.session = requests.Session()
        self.headers: dict[str, str] = {}
        self.server_errors: list[str] = []
        self.transport_errors: list[str] = []

    def call(self, method: str, path: str, *, expect=(200, 201), timeout: float = 300, **kwargs):
        import requests

        started = time.perf_counter()
        try:
            response = self.session.request(method, self.base + path, headers=self.headers, timeout=timeout, **kwargs)
        except requests.RequestException as exc:
            self.transport_errors.append(f"{method} {path}: {exc}")
            return None, time.perf_counter() - started
        elapsed = time.perf_counter() - started
        if response.status_code >= 500:
            self.server_errors.append(f"{method} {path}: {response.status_code} {response.text[:200]}")
        elif response.status_code not in expect:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:500]}")
        return response, elapsed


def wait_for_web(base: str, children) -> None:
    import requests

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for name, child in children.items():
            if child.poll() is not None:
                raise RuntimeError(f"{name} exited with code {child.returncode}")
        try:
            requests.get(base + "/health/", timeout=2)
            return
        except requests.RequestException:
            time.sleep(0.5)
    raise RuntimeError("the web server did not answer within 120 s")


def sign_up(base: str) -> dict:
    """Register, create the organization, an API key, a bot and its document through the API."""
    email = f"owner-{secrets.token_hex(4)}@bench.example"
    api = Api(base)
    response, _ = api.call("POST", "/api/v1/auth/register/", json={"email": email, "password": PASSWORD})
    api.headers["Authorization"] = f"Bearer {response.json()['access']}"
    response, _ = api.call("POST", "/api/v1/orgs/", json={"name": "Realistic Org"})
    slug = response.json()["slug"]
    from apps.organizations.models import Organization, Plan

    # An operator raises the plan (no member, item or message limits) as a paying customer would have.
    Organization.objects.filter(slug=slug).update(plan=Plan.objects.get(code="enterprise"))
    response, _ = api.call(
        "POST", f"/api/v1/orgs/{slug}/api-keys/", json={"name": "import", "scopes": ["read", "write"]}
    )
    key = response.json()["key"]
    response, _ = api.call("POST", f"/api/v1/orgs/{slug}/bots/", json={"name": "Handbook"})
    bot = response.json()["id"]
    response, _ = api.call(
        "POST", f"/api/v1/orgs/{slug}/bots/{bot}/documents/text/", json={"title": "Handbook", "text": DOCUMENT}
    )
    document = response.json()["document"]["id"] if "document" in response.json() else response.json()["id"]
    deadline = time.monotonic() + 300
    while True:
        response, _ = api.call("GET", f"/api/v1/orgs/{slug}/bots/{bot}/documents/{document}/")
        status = response.json()["status"]
        if status == "ready":
            break
        if status == "failed" or time.monotonic() > deadline:
            raise RuntimeError(f"the document did not become ready: {response.json()}")
        time.sleep(0.5)
    organization_id = Organization.objects.get(slug=slug).pk
    return {"email": email, "slug": slug, "key": key, "bot": bot, "organization_id": organization_id}


# --------------------------------------------------------------------------- load


class Stream(threading.Thread):
    """Logins, searches and chat turns one after the other; latencies go to the current phase."""

    def __init__(self, base: str, org: dict):
        super().__init__(daemon=True)
        self.api = Api(base)
        self.org = org
        self.phase = "warm-up"  # the first round loads the embedding model in the web process: not counted
        self.samples: dict[tuple[str, str], list[float]] = {}
        self.warm = threading.Event()
        self.stopping = threading.Event()

    def record(self, kind: str, seconds: float) -> None:
        self.samples.setdefault((self.phase, kind), []).append(seconds)

    def run(self) -> None:
        org, api = self.org, self.api
        rng = random.Random(7)
        response, _ = api.call("POST", "/api/v1/auth/token/", json={"email": org["email"], "password": PASSWORD})
        api.headers["Authorization"] = f"Bearer {response.json()['access']}"
        chat = f"/api/v1/orgs/{org['slug']}/bots/{org['bot']}/conversations/"
        response, _ = api.call("POST", chat, json={})
        conversation = response.json()["id"]
        turns = 0
        while not self.stopping.is_set():
            phase = self.phase
            response, seconds = api.call(
                "POST", "/api/v1/auth/token/", json={"email": org["email"], "password": PASSWORD}, expect=(200, 503)
            )
            self.record("login", seconds)
            if response is not None and response.status_code == 200:
                api.headers["Authorization"] = f"Bearer {response.json()['access']}"
            _, seconds = api.call(
                "GET",
                f"/api/v1/orgs/{org['slug']}/bots/{org['bot']}/search/",
                params={"q": rng.choice(QUESTIONS)},
                expect=(200, 503),
            )
            self.record("search", seconds)
            turns += 1
            if turns % 20 == 0:  # a new conversation now and then keeps the history short
                response, _ = api.call("POST", chat, json={}, expect=(201, 503))
                if response is not None and response.status_code == 201:
                    conversation = response.json()["id"]
            _, seconds = api.call(
                "POST", f"{chat}{conversation}/messages/", json={"content": rng.choice(QUESTIONS)}, expect=(201, 503)
            )
            self.record("chat", seconds)
            if phase == "warm-up":
                self.phase = "before"
                self.warm.set()
            self.stopping.wait(0.1)


class Pinger(threading.Thread):
    """PING the broker/cache Redis every 20 ms; a stalled server shows up as one long sample."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=60)
        self.phase = "before"
        self.samples: dict[str, list[float]] = {}
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            started = time.perf_counter()
            self.client.ping()
            self.samples.setdefault(self.phase, []).append(time.perf_counter() - started)
            self.stopping.wait(0.02)


def make_members(count: int, rng: random.Random) -> list[dict]:
    return [
        {
            "external_id": f"m{n}",
            "email": f"member{n}@bench.example",
            "full_name": f"Member {n}",
            "interests": rng.sample(TAGS, rng.randint(0, 4)),
        }
        for n in range(count)
    ]


def make_items(count: int, rng: random.Random) -> list[dict]:
    items = []
    courses = max(1, count // 20)
    for n in range(count):
        row = {
            "external_id": f"c{n}",
            "title": f"Item {n}",
            "description": f"About {rng.choice(TAGS)} and {rng.choice(TAGS)}.",
            "kind": "course" if n < courses else rng.choice(KINDS[1:]),
            "tags": rng.sample(TAGS, rng.randint(1, 4)),
            "categories": rng.sample(CATEGORIES, rng.randint(1, 2)),
            "difficulty": rng.randint(1, 5),
            "duration_minutes": rng.randint(3, 120),
        }
        if n >= courses and rng.random() < 0.5:
            row["parent_external_id"] = f"c{rng.randrange(courses)}"
        if n >= courses and rng.random() < 0.1:
            row["prerequisite_external_ids"] = [f"c{rng.randrange(courses, n)}"] if n > courses else []
        items.append(row)
    return items


def make_events(count: int, members: int, items: int, rng: random.Random) -> list[dict]:
    kinds = [kind for kind, _ in EVENT_KINDS]
    weights = [share for _, share in EVENT_KINDS]
    popularity = [1 / (rank + 1) ** 0.7 for rank in range(items)]
    now = dt.datetime.now(dt.UTC)
    events = []
    item_choices = rng.choices(range(items), weights=popularity, k=count)
    kind_choices = rng.choices(kinds, weights=weights, k=count)
    for n in range(count):
        event = {
            "idempotency_key": f"e{n}",
            "kind": kind_choices[n],
            "user_external_id": f"m{rng.randrange(members)}",
            "item_external_id": f"c{item_choices[n]}",
            "occurred_at": (now - dt.timedelta(seconds=rng.randrange(180 * 86_400))).isoformat(),
        }
        if event["kind"] == "rate":
            event["value"] = rng.randint(1, 5)
        elif event["kind"] == "purchase":
            event["value"] = rng.randint(5, 200)
        events.append(event)
    return events


def outbox_counts(organization_id: int) -> tuple[int, int]:
    """(pending, dead) outbox rows of the organization."""
    from django.db.models import Count, Q

    from apps.graph.models import GraphOutbox

    counts = GraphOutbox.objects.filter(organization_id=organization_id).aggregate(
        pending=Count("id", filter=Q(dead_at__isnull=True)), dead=Count("id", filter=Q(dead_at__isnull=False))
    )
    return counts["pending"], counts["dead"]


# --------------------------------------------------------------------------- graph against PostgreSQL


def graph_vs_postgres(organization_id: int) -> list[tuple[str, int, int]]:
    """(what, in the graph, in PostgreSQL) for the nodes and relationships the projection writes."""
    from django.db import connection

    from apps.core.graph import graph_query

    def pg(sql: str) -> int:
        with connection.cursor() as cursor:
            cursor.execute(sql, [organization_id] * sql.count("%s"))
            return cursor.fetchone()[0]

    def graph(cypher: str) -> int:
        return graph_query(cypher, {"org": organization_id})[0]["n"]

    users_sql = """SELECT count(*) FROM (
        SELECT user_id FROM organizations_membership WHERE organization_id = %s
        UNION SELECT user_id FROM progress_progress WHERE organization_id = %s AND status = 'completed'
        UNION SELECT user_id FROM progress_interaction WHERE organization_id = %s) AS u"""
    return [
        ("User nodes", graph("MATCH (n:User {organization_id: $org}) RETURN count(n) AS n"), pg(users_sql)),
        (
            "Content nodes",
            graph("MATCH (n:Content {organization_id: $org}) RETURN count(n) AS n"),
            pg("SELECT count(*) FROM progress_contentitem WHERE organization_id = %s"),
        ),
        (
            "MEMBER_OF",
            graph("MATCH (:User {organization_id: $org})-[r:MEMBER_OF]->() RETURN count(r) AS n"),
            pg("SELECT count(*) FROM organizations_membership WHERE organization_id = %s"),
        ),
        (
            "INTERACTED",
            graph("MATCH (:User {organization_id: $org})-[r:INTERACTED]->() RETURN count(r) AS n"),
            pg(
                "SELECT count(*) FROM (SELECT DISTINCT user_id, item_id, kind FROM progress_interaction "
                "WHERE organization_id = %s) AS k"
            ),
        ),
        (
            "COMPLETED",
            graph("MATCH (:User {organization_id: $org})-[r:COMPLETED]->() RETURN count(r) AS n"),
            pg("SELECT count(*) FROM progress_progress WHERE organization_id = %s AND status = 'completed'"),
        ),
        (
            "TAGGED",
            graph("MATCH (:Content {organization_id: $org})-[r:TAGGED]->() RETURN count(r) AS n"),
            pg(
                "SELECT count(*) FROM (SELECT DISTINCT id, unnest(tags) FROM progress_contentitem "
                "WHERE organization_id = %s) AS t"
            ),
        ),
    ]


# --------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--streams", type=int, default=2, help="concurrent login/search/chat loops")
    parser.add_argument("--warmup", type=float, default=30.0, help="seconds of the steady stream before the import")
    parser.add_argument("--home", default=str(ROOT / ".beacon" / "bench-realistic"))
    parser.add_argument("--keep-servers", action="store_true", help="leave the embedded servers running")
    parser.add_argument("--timeout", type=float, default=900.0, help="give up waiting for the outbox after this")
    args = parser.parse_args()

    home = Path(args.home).resolve()
    home.mkdir(parents=True, exist_ok=True)
    log_dir = home / "bench-logs"
    shutil.rmtree(log_dir, ignore_errors=True)
    log_dir.mkdir()
    print(f"home {home}; logs in {log_dir}", flush=True)
    prepare_environment(home)
    from django.conf import settings

    from apps.core.progress_report import ProgressReport

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    children = start_children(port, home, log_dir)
    rng = random.Random(12)
    try:
        wait_for_web(base, children)
        org = sign_up(base)
        print(f"organization {org['slug']} ready; steady stream for {args.warmup:.0f} s before the import", flush=True)
        broker_url = settings.CACHES["default"]["LOCATION"]
        pinger = Pinger(broker_url if isinstance(broker_url, str) else broker_url[0])
        streams = [Stream(base, org) for _ in range(args.streams)]
        pinger.start()
        for stream in streams:
            stream.start()
        for stream in streams:
            stream.warm.wait(timeout=300)
        time.sleep(args.warmup)

        members = make_members(args.members, rng)
        items = make_items(args.items, rng)
        events = make_events(args.events, args.members, args.items, rng)
        importer = Api(base)
        importer.headers["Authorization"] = f"Api-Key {org['key']}"
        pinger.phase = "during"
        for stream in streams:
            stream.phase = "during"
        started = time.perf_counter()
        prefix = f"/api/v1/orgs/{org['slug']}"
        total = len(members) + len(items) + len(events)
        with ProgressReport(total=total, unit="record", label="import", stream=sys.stdout) as report:
            for path, key, rows in (("members/sync/", "members", members), ("content/bulk/", "items", items),
                                    ("interactions/batch/", "events", events)):  # fmt: skip
                for start in range(0, len(rows), args.batch):
                    batch = rows[start : start + args.batch]
                    importer.call("POST", f"{prefix}/{path}", json={key: batch})
                    report.update(len(batch), note=key)
        imported = time.perf_counter()
        print(f"import done in {imported - started:.1f} s; waiting for the graph outbox", flush=True)
        pending, dead = outbox_counts(org["organization_id"])
        with ProgressReport(total=pending, unit="outbox row", label="drain", stream=sys.stdout) as report:
            while True:
                pending, dead = outbox_counts(org["organization_id"])
                report.update(max(0, report.total - pending - report.done), note=f"{pending} pending")
                if pending == 0:
                    break
                if time.perf_counter() - imported > args.timeout:
                    print(f"outbox still holds {pending} rows after {args.timeout:.0f} s", flush=True)
                    break
                for name, child in children.items():
                    if child.poll() is not None:
                        raise RuntimeError(f"{name} exited with code {child.returncode}; see {log_dir}")
                time.sleep(0.25)
        drained = time.perf_counter()
        pinger.stopping.set()
        for stream in streams:
            stream.stopping.set()
        for stream in streams:
            stream.join(timeout=120)
        pinger.join(timeout=60)

        print()
        print(f"import of {args.members} members, {args.items} items, {args.events} events: "
              f"{imported - started:.1f} s ({args.events / (imported - started):,.0f} events/s)")  # fmt: skip
        print(f"outbox empty {drained - imported:.1f} s after the import (target < 60 s); dead-lettered: {dead}")
        errors = importer.server_errors + [e for stream in streams for e in stream.api.server_errors]
        transport = importer.transport_errors + [e for stream in streams for e in stream.api.transport_errors]
        print(f"5xx answers: {len(errors)} (target 0); transport errors: {len(transport)}")
        for line in (errors + transport)[:10]:
            print(f"  {line}")
        before, during = pinger.samples.get("before", []), pinger.samples.get("during", [])
        print(
            f"Redis PING p99: before {percentile(before, 99) * 1000:.1f} ms, during {percentile(during, 99) * 1000:.1f}"
            f" ms (worst {max(during, default=0) * 1000:.1f} ms; target p99 < 50 ms; {len(during)} samples)"
        )
        print(f"{'request':8} {'n before':>8} {'p99 before':>11} {'n during':>8} {'p99 during':>11} {'ratio':>6}"
              f" {'median before':>14} {'median during':>14}")  # fmt: skip
        for kind in ("login", "search", "chat"):
            b = [x for stream in streams for x in stream.samples.get(("before", kind), [])]
            d = [x for stream in streams for x in stream.samples.get(("during", kind), [])]
            ratio = percentile(d, 99) / percentile(b, 99) if b and d else float("nan")
            print(
                f"{kind:8} {len(b):8d} {percentile(b, 99) * 1000:9.0f}ms {len(d):8d} {percentile(d, 99) * 1000:9.0f}ms"
                f" {ratio:5.2f}x {statistics.median(b) * 1000 if b else float('nan'):12.0f}ms"
                f" {statistics.median(d) * 1000 if d else float('nan'):12.0f}ms"
            )
        print("graph against PostgreSQL:")
        equal = True
        for what, in_graph, in_pg in graph_vs_postgres(org["organization_id"]):
            equal &= in_graph == in_pg
            print(f"  {what:14} graph {in_graph:8d}  postgres {in_pg:8d}  {'ok' if in_graph == in_pg else 'DIFFERENT'}")
        return 0 if equal and not errors else 1
    finally:
        stop_children(children)
        if not args.keep_servers:
            from apps.core import embedded

            embedded.stop()


if __name__ == "__main__":
    sys.exit(main())
