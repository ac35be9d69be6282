"""Test lanes: `make test` runs the suite in two pytest-xdist workers, one lane each.

The suite is not a set of independent tests that can go to any worker: most of it crosses real shared servers
(the graph, helpers on fixed ports, a real Celery worker on the broker) and was written to run one test at a time.
So the work is split by lane, not by test, and each lane runs in one worker, in the order it would run alone:

- `beside`: the tests marked `fuzz` (schemathesis and hypothesis generating requests in process: a third of the
  suite's time, CPU-bound) and those marked `beside` (modules that need nothing of the servers but their own
  worker's data and write no graph: a heavy few, to even the lanes out);
- `main`: every other test;
- `alone`: the tests marked `alone` (they stop a server every worker uses, such as SIGSTOP on the shared Redis);
  they run last, once every other test has ended and the other workers have left.

A worker that crashes has the test it was running reported as crashed by pytest-xdist; the tests it had not run go
back to the front of their lane, for another worker (xdist starts a new one).

This module is a pytest plugin (the root conftest.py names it in `pytest_plugins`). Each worker has its own test
database (pytest-django's `_gw<n>` suffix), its own Redis databases and its share of the CPUs
(config/settings/test.py); the graph is one for all, and only the `main` lane writes it. A worker tags
its lane's tests by appending `@<lane>` to their node ids (as pytest-xdist's own `loadgroup` does with
`xdist_group`), the only thing the controller, which collects nothing itself, sees of them; `main` tests keep
their ids.
"""

from __future__ import annotations

import pytest

MAIN, BESIDE, ALONE = "main", "beside", "alone"
#: marker -> lane, for the tests outside `main`; the first marker a test carries wins
LANE_MARKERS = {"alone": ALONE, "fuzz": BESIDE, "beside": BESIDE}
LANES = (MAIN, BESIDE, ALONE)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """In a pytest-xdist worker, tag each test with its lane (before xdist's own hook reads the ids)."""
    if hasattr(config, "workerinput"):
        lane_tag(items)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """Lanes for `-n N` (pytest-xdist's default `--dist load`); another `--dist` asked for is xdist's own."""
    return make_scheduler(config, log) if config.getvalue("dist") == "load" else None


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    """In the controller of a run in lanes, time the lanes (LaneTimes)."""
    workers = config.getoption("numprocesses", None)
    if workers and config.getoption("dist", None) == "load" and not hasattr(config, "workerinput"):
        config.pluginmanager.register(LaneTimes(), "lane-times")


#: what schemathesis sets on its subtests' reports under pytest 8 (pytest 9's own subtests are `SubtestReport`s)
SCHEMATHESIS_SUBTEST = "_schemathesis_subtest"


class LaneTimes:
    """Each lane's tests, their time (setup, call and teardown) and its span, from the run's first test start to the
    lane's first test start and last test end: printed at the end of a run in lanes, to show whether they are even."""

    def __init__(self) -> None:
        self.lanes: dict[str, dict] = {}

    def pytest_runtest_logreport(self, report) -> None:
        # The controller gets every worker's reports (pytest-xdist passes them on through this hook). A subtest's
        # report (the schema fuzz test's, one per API operation: "<test id>@beside[GET /path]") is part of its test,
        # whose own report has the time: it is not counted again.
        if getattr(report, SCHEMATHESIS_SUBTEST, False) or type(report).__name__ == "SubtestReport":
            return
        if not getattr(report, "start", 0):  # the report xdist makes for a crashed worker's test has no times
            return
        lane = self.lanes.setdefault(
            lane_of(report.nodeid), {"tests": set(), "seconds": 0.0, "start": None, "stop": 0.0}
        )
        lane["tests"].add(report.nodeid)
        lane["seconds"] += report.duration
        lane["start"] = report.start if lane["start"] is None else min(lane["start"], report.start)
        lane["stop"] = max(lane["stop"], report.stop)

    def lines(self) -> list[str]:
        if not self.lanes:
            return []
        first = min(lane["start"] for lane in self.lanes.values())
        return [
            f"{name}: {len(lane['tests'])} test{'s' * (len(lane['tests']) != 1)}, {lane['seconds']:.0f} s of tests, "
            f"from {lane['start'] - first:.0f} s to {lane['stop'] - first:.0f} s"
            for name in LANES
            if (lane := self.lanes.get(name))
        ]

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if lines := self.lines():
            terminalreporter.write_sep("-", "lanes")
            for line in lines:
                terminalreporter.write_line(line)


def lane_tag(items: list[pytest.Item]) -> None:
    """In a worker, after collection: append `@<lane>` to the node id of each test outside `main`."""
    for item in items:
        for marker, lane in LANE_MARKERS.items():
            if item.get_closest_marker(marker) is not None:
                item._nodeid = f"{item.nodeid}@{lane}"
                break


def lane_of(nodeid: str) -> str:
    """The lane a tagged node id belongs to. A parameter holding "@" stays in `main`: the tag follows the
    closing bracket, so what follows the last "@" of an untagged parametrized id is no lane name."""
    _head, separator, lane = nodeid.rpartition("@")
    return lane if separator and lane in LANES else MAIN


#: tests sent to a worker ahead of the one it runs: a worker runs a test only once it has received the next one (or is
#: told to shut down), and a short queue lets `-x` stop the other lane within a test or two
AHEAD = 2


def make_scheduler(config: pytest.Config, log):
    """The lane scheduler (pytest-xdist's `pytest_xdist_make_scheduler`, imported only when xdist runs)."""
    from xdist.scheduler.loadscope import LoadScopeScheduling

    class LaneScheduling(LoadScopeScheduling):
        """pytest-xdist's scope scheduling with one scope per lane. A lane belongs to one worker, which is fed its
        tests in order, `AHEAD` at a time; `alone` goes to one worker once every other has finished and left."""

        def __init__(self, config, log=None):
            super().__init__(config, log)
            self.owner: dict = {}  # lane -> the worker it belongs to
            self.index: dict = {}  # worker -> {node id: index in its collection}

        def _split_scope(self, nodeid: str) -> str:
            return lane_of(nodeid)

        def schedule(self) -> None:
            assert self.collection_is_completed
            if self.collection is None:
                if not self._check_nodes_have_same_collection():
                    self.log("**Different tests collected, aborting run**")
                    return
                self.collection = list(next(iter(self.registered_collections.values())))
                lanes: dict[str, list[str]] = {}
                for nodeid in self.collection:
                    lanes.setdefault(lane_of(nodeid), []).append(nodeid)
                # `alone` last; the others in the order their first test was collected.
                for lane in sorted(lanes, key=lambda name: name == ALONE):
                    self.workqueue[lane] = lanes[lane]
                # One lane per worker first, so that a worker through its lane early does not take the next one.
                for node, lane in zip(self.nodes, [lane for lane in self.workqueue if lane != ALONE], strict=False):
                    self.owner[lane] = node
            for node in self.nodes:
                self._reschedule(node)

        def _reschedule(self, node) -> None:
            if self.collection is None or node not in self.registered_collections:
                return  # before the first schedule(), or a new worker still collecting: schedule() comes back to it
            while not node.shutting_down and self._pending_of(self.assigned_work[node]) < AHEAD:
                lane = self._lane_for(node)
                if lane is None:
                    return
                self._send(node, lane)

        def _lane_for(self, node) -> str | None:
            """The lane to send `node` more of; None once it is told to shut down, or while it waits for `alone`."""
            for lane, owner in self.owner.items():
                if owner is node and lane in self.workqueue:
                    return lane
            free = next((lane for lane in self.workqueue if lane != ALONE and lane not in self.owner), None)
            if free is not None:
                self.owner[free] = node
                return free
            if ALONE not in self.workqueue or ALONE in self.owner:
                node.shutdown()  # nothing left that this worker may take
                return None
            others = [other for other in self.nodes if other is not node]
            for other in others:
                if other.shutting_down:
                    continue
                unsent = any(owner is other and lane in self.workqueue for lane, owner in self.owner.items())
                if unsent or self._pending_of(self.assigned_work[other]) >= AHEAD:
                    node.shutdown()  # another lane still runs: that worker takes `alone` once it is through
                    return None
            for other in others:
                if not other.shutting_down:
                    other.shutdown()  # each holds at most its last test: it runs it and finishes
            if others:
                return None  # until they have left: remove_node reschedules this worker
            self.owner[ALONE] = node
            return ALONE

        def _send(self, node, lane: str) -> None:
            tests = self.workqueue[lane]
            batch, rest = tests[:AHEAD], tests[AHEAD:]
            if rest:
                self.workqueue[lane] = rest
            else:
                del self.workqueue[lane]
            unit = self.assigned_work[node].setdefault(lane, {})
            unit.update(dict.fromkeys(batch, False))
            if node not in self.index:
                self.index[node] = {nodeid: i for i, nodeid in enumerate(self.registered_collections[node])}
            node.send_runtest_some([self.index[node][nodeid] for nodeid in batch])

        def remove_node(self, node) -> str | None:
            """A worker that finished, or crashed: the test it was running is the crashed one (reported by xdist,
            not run again); the tests it had not run go back to the front of their lanes for another worker."""
            workload = self.assigned_work.pop(node)
            self.index.pop(node, None)
            for lane in [lane for lane, owner in self.owner.items() if owner is node]:
                del self.owner[lane]
            unfinished = [(lane, test) for lane, unit in workload.items() for test, done in unit.items() if not done]
            crashitem = unfinished[0][1] if unfinished else None
            for lane, test in reversed(unfinished[1:]):
                self.workqueue[lane] = [test, *self.workqueue.get(lane, [])]
            if ALONE in self.workqueue:
                self.workqueue.move_to_end(ALONE)
            for other in self.nodes:
                self._reschedule(other)
            return crashitem

    return LaneScheduling(config, log)
