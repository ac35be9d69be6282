"""`make test`'s lanes (apps/core/tests/lanes.py): a real pytest-xdist run of a small suite, and each worker's own
Redis databases and CPU share (config/settings/test.py)."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from apps.core.tests.lanes import MAIN, lane_of

ROOT = Path(__file__).resolve().parents[3]

CONFTEST = """
import pytest
from apps.core.tests import lanes

@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    if hasattr(config, "workerinput"):
        lanes.lane_tag(items)

@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    return lanes.make_scheduler(config, log)
"""

# Each test appends what it saw to events.jsonl. The `main` lane is the longest (its tests pause), so without the
# barrier the `alone` test would start in the `beside` worker, freed early, while `main` still runs.
SUITE = """
import json, os, time
import pytest

def record(name, phase):
    with open("events.jsonl", "a") as events:
        events.write(json.dumps({"test": name, "phase": phase, "worker": os.environ["PYTEST_XDIST_WORKER"]}) + "\\n")

@pytest.mark.parametrize("n", ["1", "2", "a@b", "4"])
def test_main(n):
    record(f"main {n}", "start")
    time.sleep(0.3)
    record(f"main {n}", "end")

@pytest.mark.fuzz
@pytest.mark.parametrize("n", [1, 2])
def test_fuzz(n):
    record(f"beside fuzz {n}", "start")
    record(f"beside fuzz {n}", "end")

@pytest.mark.beside
def test_beside():
    record("beside", "start")
    record("beside", "end")

@pytest.mark.alone
def test_alone():
    record("alone", "start")
    record("alone", "end")
"""


@pytest.mark.parametrize(
    ("nodeid", "lane"),
    [
        ("apps/x/tests/test_a.py::test_b", MAIN),
        ("apps/x/tests/test_a.py::test_b@beside", "beside"),
        ("apps/x/tests/test_a.py::test_b[1-x]@alone", "alone"),
        ("apps/x/tests/test_a.py::test_b[user@example.org]", MAIN),  # a parameter holding "@"
        ("apps/x/tests/test_a.py::test_b@unknown", MAIN),
    ],
)
def test_lane_of_a_node_id(nodeid, lane):
    assert lane_of(nodeid) == lane


def test_lanes_run_in_their_own_workers_and_alone_runs_after_every_other(tmp_path):
    (tmp_path / "conftest.py").write_text(textwrap.dedent(CONFTEST))
    (tmp_path / "test_suite.py").write_text(textwrap.dedent(SUITE))
    markers = "".join(f"    {name}: {name}\n" for name in ("fuzz", "beside", "alone"))
    (tmp_path / "pytest.ini").write_text(f"[pytest]\naddopts = --strict-markers\nmarkers =\n{markers}")
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "-p", "no:django", "-p", "no:cacheprovider", "-v"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "8 passed" in result.stdout
    # Tagged node ids: the lane after the closing bracket; `main` ids unchanged.
    assert "test_suite.py::test_fuzz[1]@beside" in result.stdout
    assert "test_suite.py::test_beside@beside" in result.stdout
    assert "test_suite.py::test_alone@alone" in result.stdout
    assert "test_suite.py::test_main[a@b] " in result.stdout

    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    workers = {lane: {e["worker"] for e in events if e["test"].startswith(lane)} for lane in ("main", "beside")}
    assert len(workers["main"]) == len(workers["beside"]) == 1
    assert workers["main"] != workers["beside"]
    # `main` ran in collection order, one test at a time.
    main = [(e["test"], e["phase"]) for e in events if e["test"].startswith("main")]
    assert main == [(f"main {n}", phase) for n in ["1", "2", "a@b", "4"] for phase in ("start", "end")]
    # `alone` started after every other test had ended.
    alone_start = next(i for i, e in enumerate(events) if (e["test"], e["phase"]) == ("alone", "start"))
    ended = [i for i, e in enumerate(events) if e["phase"] == "end" and e["test"] != "alone"]
    assert len(ended) == 7
    assert max(ended) < alone_start


def _settings_in_a_worker(**environ: str) -> dict:
    """config.settings.test as a process started with `environ` sees it: its Redis URLs, graph and threads. What
    this process's own worker set is left out first."""
    code = (
        "import json, os, django; django.setup(); from django.conf import settings; "
        "print(json.dumps({'redis': settings.REDIS_URL, 'broker': settings.CELERY_BROKER_URL, "
        "'cache': settings.CACHES['default']['LOCATION'], 'graph': settings.NEO4J_DATABASE, "
        "'threads': os.environ.get('OMP_NUM_THREADS'), 'marker': os.environ.get('BEACON_TEST_WORKER')}))"
    )
    moved = ("REDIS_URL", "PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "BEACON_TEST_WORKER", "OMP_NUM_THREADS")
    env = {key: value for key, value in os.environ.items() if key not in moved}
    env.update(DJANGO_SETTINGS_MODULE="config.settings.test", **environ)
    command = [sys.executable, "-c", code]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_each_worker_has_its_own_redis_databases_and_cpu_share():
    base = os.environ["REDIS_URL"].rsplit("/", 1)[0]
    controller = f"{base}/4"  # what the controller set, and its workers inherit
    serial = _settings_in_a_worker()
    workers = {"PYTEST_XDIST_WORKER_COUNT": "2", "REDIS_URL": controller}
    first = _settings_in_a_worker(PYTEST_XDIST_WORKER="gw0", **workers)
    second = _settings_in_a_worker(PYTEST_XDIST_WORKER="gw1", **workers)
    # No worker, or the first: the suite's own databases (4: broker, 5: results, 6: cache).
    for seen in (serial, first):
        assert (seen["redis"], seen["broker"], seen["cache"]) == (f"{base}/4", f"{base}/4", f"{base}/6")
    # The second: three databases further.
    assert (second["redis"], second["broker"], second["cache"]) == (f"{base}/7", f"{base}/7", f"{base}/9")
    assert second["marker"] == "gw1"
    # One graph for all (the tests that write it are in one lane).
    assert serial["graph"] is first["graph"] is second["graph"] is None
    # Threads: as many as the CPUs without workers; each worker its share of them.
    share = str(max(1, len(os.sched_getaffinity(0)) // 2))
    assert (serial["threads"], first["threads"], second["threads"]) == (None, share, share)
    # A process that worker starts (a real Celery worker, a web server) inherits its moved URL: not moved again.
    child = _settings_in_a_worker(PYTEST_XDIST_WORKER="gw1", BEACON_TEST_WORKER="gw1", REDIS_URL=f"{base}/7")
    assert (child["redis"], child["cache"]) == (f"{base}/7", f"{base}/9")
