"""`make test`'s lanes (apps/core/tests/lanes.py): a real pytest-xdist run of a small suite, and each worker's own
Redis databases and CPU share (config/settings/test.py)."""

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

from apps.core.tests.lanes import MAIN, LaneTimes, lane_of

ROOT = Path(__file__).resolve().parents[3]

# Toy suites in processes of their own, and settings read in subprocesses: nothing here reaches the other worker, but
# the module stays in the `main` lane, which ended about 45 s before `beside` when it ran there (docs/testing.md).

# Each test of a toy suite appends what it saw to events.jsonl.
RECORD = """
import json, os, time
import pytest

def record(name, phase):
    with open("events.jsonl", "a") as events:
        events.write(json.dumps({"test": name, "phase": phase, "worker": os.environ["PYTEST_XDIST_WORKER"]}) + "\\n")
"""

# The `main` lane is the longest (its tests pause), so without the barrier the `alone` test would start in the
# `beside` worker, freed early, while `main` still runs.
SUITE = """
@pytest.mark.parametrize("n", ["1", "2", "a@b", "4"])
def test_main(n):
    record(f"main {n}", "start")
    time.sleep(0.3)  # stands for a long lane: no test waits on it, a broken barrier would show in the order
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


def run_suite(tmp_path, suite: str, *args: str) -> tuple[subprocess.CompletedProcess, list[dict]]:
    """`suite` run by pytest-xdist with the lanes plugin (and no other): the result and the events recorded."""
    (tmp_path / "test_suite.py").write_text(textwrap.dedent(RECORD) + textwrap.dedent(suite))
    markers = "".join(f"    {name}: {name}\n" for name in ("fuzz", "beside", "alone"))
    (tmp_path / "pytest.ini").write_text(f"[pytest]\naddopts = --strict-markers\nmarkers =\n{markers}")
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    env.update(PYTHONPATH=str(ROOT), PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    plugins = ["-p", "xdist.plugin", "-p", "apps.core.tests.lanes", "-p", "no:cacheprovider"]
    # The timeout only keeps a hung scheduler from hanging the suite: nothing here measures time.
    result = subprocess.run(
        [sys.executable, "-m", "pytest", *plugins, "-v", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    events_file = tmp_path / "events.jsonl"
    events = [json.loads(line) for line in events_file.read_text().splitlines()] if events_file.exists() else []
    return result, events


def alone_started_after_every_other_ended(events: list[dict]) -> bool:
    start = next(i for i, e in enumerate(events) if e["test"].startswith("alone") and e["phase"] == "start")
    return all(i < start for i, e in enumerate(events) if e["phase"] == "end" and not e["test"].startswith("alone"))


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


def test_lane_times_count_each_test_once_with_its_phases_and_leave_subtests_to_their_test():
    def report(nodeid, start, stop, **extra):
        return SimpleNamespace(nodeid=nodeid, start=start, stop=stop, duration=stop - start, **extra)

    times = LaneTimes()
    for each in (
        report("a.py::test_main[1]", 100.0, 101.0),  # setup
        report("a.py::test_main[1]", 101.0, 103.0),  # call
        report("a.py::test_fuzz@beside", 100.0, 160.0),
        # the fuzz test's report per API operation, within its own time
        report("a.py::test_fuzz@beside[GET /api/v1/x/]", 100.0, 130.0, _schemathesis_subtest=True),
        report("a.py::test_alone@alone", 160.0, 165.0),
        report("a.py::test_main[2]", 0.0, 0.0),  # the report xdist makes for a crashed worker's test: no times
    ):
        times.pytest_runtest_logreport(each)
    assert times.lines() == [
        "main: 1 test, 3 s of tests, from 0 s to 3 s",
        "beside: 1 test, 60 s of tests, from 0 s to 60 s",
        "alone: 1 test, 5 s of tests, from 60 s to 65 s",
    ]


def test_lanes_run_in_their_own_workers_and_alone_runs_after_every_other(tmp_path):
    result, events = run_suite(tmp_path, SUITE, "-n", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "8 passed" in result.stdout
    # Tagged node ids: the lane after the closing bracket; `main` ids unchanged.
    assert "test_suite.py::test_fuzz[1]@beside" in result.stdout
    assert "test_suite.py::test_beside@beside" in result.stdout
    assert "test_suite.py::test_alone@alone" in result.stdout
    assert "test_suite.py::test_main[a@b] " in result.stdout
    workers = {lane: {e["worker"] for e in events if e["test"].startswith(lane)} for lane in ("main", "beside")}
    assert len(workers["main"]) == len(workers["beside"]) == 1
    assert workers["main"] != workers["beside"]
    # `main` ran in collection order, one test at a time.
    main = [(e["test"], e["phase"]) for e in events if e["test"].startswith("main")]
    assert main == [(f"main {n}", phase) for n in ["1", "2", "a@b", "4"] for phase in ("start", "end")]
    assert len([e for e in events if e["phase"] == "end"]) == 8
    assert alone_started_after_every_other_ended(events)
    # The run ends with each lane's tests and times.
    summary = result.stdout.split(" lanes ")[-1]
    assert re.search(r"^main: 4 tests, \d+ s of tests, from \d+ s to \d+ s$", summary, re.M), summary
    assert re.search(r"^beside: 3 tests, ", summary, re.M), summary
    assert re.search(r"^alone: 1 test, ", summary, re.M), summary


TINY = """
def test_main():
    record("main", "start")
    record("main", "end")

@pytest.mark.beside
@pytest.mark.parametrize("n", [1, 2])
def test_beside(n):
    record(f"beside {n}", "start")
    record(f"beside {n}", "end")

@pytest.mark.alone
def test_alone():
    record("alone", "start")
    record("alone", "end")
"""


@pytest.mark.parametrize("workers", ["1", "2", "3"])
def test_lanes_of_one_test_and_any_number_of_workers_run_through(tmp_path, workers):
    """A worker holds the last test it was sent until it gets another or is told to shut down: a lane of one test,
    one worker for every lane, or more workers than lanes must still run every test, `alone` last."""
    result, events = run_suite(tmp_path, TINY, "-n", workers)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout
    assert alone_started_after_every_other_ended(events)


def test_a_failure_with_x_stops_the_other_lane(tmp_path):
    """`-x`: the other worker is told to shut down and has at most a test or two queued, not its whole lane."""
    suite = """
    @pytest.mark.parametrize("n", range(10))
    def test_main(n):
        record(f"main {n}", "start")
        time.sleep(0.3)  # a lane still running when the other fails: without the stop all ten would end
        record(f"main {n}", "end")

    @pytest.mark.beside
    def test_beside_fails():
        record("beside", "start")
        assert False
    """
    result, events = run_suite(tmp_path, suite, "-n", "2", "-x")
    assert result.returncode == 2, result.stdout + result.stderr  # interrupted, as pytest-xdist reports `-x`
    assert "stopping after 1 failures" in result.stdout and "1 failed" in result.stdout
    assert len([e for e in events if e["test"].startswith("main") and e["phase"] == "end"]) < 10


def test_a_crashed_worker_is_reported_and_the_rest_still_runs(tmp_path):
    """A worker that dies in a test: that test is reported as crashed, the tests it had not run go to a new worker
    (pytest-xdist restarts it), `alone` still runs last, and the run ends."""
    suite = """
    @pytest.mark.parametrize("n", range(4))
    def test_main(n):
        record(f"main {n}", "start")
        if n == 1:
            os._exit(1)
        record(f"main {n}", "end")

    @pytest.mark.beside
    def test_beside():
        record("beside", "start")
        record("beside", "end")

    @pytest.mark.alone
    @pytest.mark.parametrize("n", range(2))
    def test_alone(n):
        record(f"alone {n}", "start")
        if n == 0:
            os._exit(1)
        record(f"alone {n}", "end")
    """
    result, events = run_suite(tmp_path, suite, "-n", "2")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "2 failed" in result.stdout and "5 passed" in result.stdout
    ended = {e["test"] for e in events if e["phase"] == "end"}
    assert ended == {"main 0", "main 2", "main 3", "beside", "alone 1"}
    assert alone_started_after_every_other_ended(events)


def _settings_process(**environ: str) -> subprocess.CompletedProcess:
    """config.settings.test loaded by a process started with `environ`, printing its Redis URLs and threads. What
    this process's own worker set is left out first."""
    code = (
        "import json, os, django; django.setup(); from django.conf import settings; "
        "print(json.dumps({'redis': settings.REDIS_URL, 'broker': settings.CELERY_BROKER_URL, "
        "'cache': settings.CACHES['default']['LOCATION'], "
        "'threads': os.environ.get('OMP_NUM_THREADS'), 'marker': os.environ.get('BEACON_TEST_WORKER')}))"
    )
    moved = ("REDIS_URL", "CACHE_REDIS_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "BEACON_TEST_WORKER")
    moved += ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "OMP_NUM_THREADS")
    env = {key: value for key, value in os.environ.items() if key not in moved}
    env.update(DJANGO_SETTINGS_MODULE="config.settings.test", **environ)
    command = [sys.executable, "-c", code]
    # Loading the settings takes about a second; the timeout only keeps a hung process from hanging the suite.
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def _settings_in_a_worker(**environ: str) -> dict:
    result = _settings_process(**environ)
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
    # Threads: as many as the CPUs without workers; each worker its share of them.
    share = str(max(1, len(os.sched_getaffinity(0)) // 2))
    assert (serial["threads"], first["threads"], second["threads"]) == (None, share, share)
    # A process that worker starts (a real Celery worker, a web server) inherits its moved URL: not moved again.
    child = _settings_in_a_worker(PYTEST_XDIST_WORKER="gw1", BEACON_TEST_WORKER="gw1", REDIS_URL=f"{base}/7")
    assert (child["redis"], child["cache"]) == (f"{base}/7", f"{base}/9")
    # A role URL set explicitly moves with it.
    cache = _settings_in_a_worker(PYTEST_XDIST_WORKER="gw1", REDIS_URL=controller, CACHE_REDIS_URL=f"{base}/12")
    assert (cache["redis"], cache["cache"]) == (f"{base}/7", f"{base}/15")


def test_a_new_worker_still_collecting_gets_no_tests_until_it_has_collected(tmp_path):
    """Two crashes in a row in `main`: the second comes while the first one's new worker is still collecting (its
    workers after the first two collect slowly here). It must be given nothing before its collection arrives (it
    was: a KeyError, then a hang with the crash unreported), and the run must end with every test accounted for.
    The pauses only make that order of events likely; the assertions hold in any order."""
    suite = """
    if os.environ["PYTEST_XDIST_WORKER"] not in ("gw0", "gw1"):
        time.sleep(3)  # a new worker collecting slowly, as one loading Django and the whole suite does

    @pytest.mark.parametrize("n", range(4))
    def test_main(n):
        record(f"main {n}", "start")
        if n < 2:
            os._exit(1)
        record(f"main {n}", "end")

    @pytest.mark.beside
    @pytest.mark.parametrize("n", range(3))
    def test_beside(n):
        record(f"beside {n}", "start")
        time.sleep(1)  # keeps the first workers busy until the first new worker is collecting: the case under test
        record(f"beside {n}", "end")

    @pytest.mark.alone
    def test_alone():
        record("alone", "start")
        record("alone", "end")
    """
    result, events = run_suite(tmp_path, suite, "-n", "2")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "2 failed" in result.stdout and "6 passed" in result.stdout
    assert {e["test"] for e in events if e["phase"] == "end"} == {
        "main 2", "main 3", "beside 0", "beside 1", "beside 2", "alone"
    }  # fmt: skip
    assert alone_started_after_every_other_ended(events)


@pytest.mark.parametrize(
    "environ",
    [
        {"PYTEST_XDIST_WORKER": "gw4"},  # databases 16-18: Redis has 16
        {"PYTEST_XDIST_WORKER": "gw1", "CACHE_REDIS_URL": "unix:///tmp/redis.sock?db=6"},  # no database to move
        {"PYTEST_XDIST_WORKER": "gw1", "CACHE_REDIS_URL": "redis://127.0.0.1:1?db=6"},  # redis-py reads ?db= first
    ],
    ids=["too many workers", "a unix socket", "the database in the query"],
)
def test_a_worker_that_cannot_have_databases_of_its_own_is_refused(environ):
    base = os.environ["REDIS_URL"].rsplit("/", 1)[0]
    result = _settings_process(REDIS_URL=f"{base}/4", **environ)
    assert result.returncode != 0
    assert "needs Redis databases of its own" in result.stderr
