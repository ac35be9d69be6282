"""Test lanes: `make test` runs the suite in two pytest-xdist workers, one lane each.

The suite is not a set of independent tests that can go to any worker: most of it crosses real shared servers
(the graph, helpers on fixed ports, a real Celery worker on the broker) and was written to run one test at a time.
So the work is split by lane, not by test, and each lane runs in one worker, in collection order, as it would alone:

- `beside`: the tests marked `fuzz` (schemathesis and hypothesis generating requests in process: a third of the
  suite's time, CPU-bound) and those marked `beside` (modules that need nothing of the servers but their own
  worker's data and write no graph: a heavy few, to even the lanes out);
- `main`: every other test;
- `alone`: the tests marked `alone` (they stop a server every worker uses, such as SIGSTOP on the shared Redis);
  they run last, when every other lane has finished, in one worker while the others have shut down.

Each worker has its own test database (pytest-django's `_gw<n>` suffix), its own Redis databases and its share of
the CPUs (config/settings/test.py); the graph is one for all, and only the `main` lane writes it. A worker tags
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


def make_scheduler(config: pytest.Config, log):
    """The lane scheduler (pytest-xdist's `pytest_xdist_make_scheduler`, imported only when xdist runs)."""
    from xdist.scheduler.loadscope import LoadScopeScheduling

    class LaneScheduling(LoadScopeScheduling):
        """pytest-xdist's scope scheduling with one scope per lane, handed out one lane per worker; `alone`
        waits until no other worker has a test left, then the others are shut down."""

        def _split_scope(self, nodeid: str) -> str:
            return lane_of(nodeid)

        def schedule(self) -> None:
            assert self.collection_is_completed
            if self.collection is None:
                if not self._check_nodes_have_same_collection():
                    self.log("**Different tests collected, aborting run**")
                    return
                self.collection = list(next(iter(self.registered_collections.values())))
                lanes: dict[str, dict[str, bool]] = {}
                for nodeid in self.collection:
                    lanes.setdefault(lane_of(nodeid), {})[nodeid] = False
                # `alone` last; the others in the order their first test was collected.
                for lane in sorted(lanes, key=lambda name: name == ALONE):
                    self.workqueue[lane] = lanes[lane]
            for node in self.nodes:
                self._reschedule(node)

        def _reschedule(self, node) -> None:
            # A worker runs a test only once it knows the next one (or is told to shut down): the last test it was
            # sent stays pending until then, so "one test left" is where a worker's lane has run out.
            if node.shutting_down or self._pending_of(self.assigned_work[node]) > 1:
                return
            lane = next((name for name in self.workqueue if name != ALONE), ALONE if self.workqueue else None)
            if lane is None:
                node.shutdown()
                return
            if lane == ALONE:
                others = [other for other in self.nodes if other is not node and not other.shutting_down]
                if any(self._pending_of(self.assigned_work[other]) > 1 for other in others):
                    node.shutdown()  # another lane still runs: that worker takes `alone` once it is through
                    return
                for other in others:
                    other.shutdown()  # each runs the one test it holds, and finishes
                if len(self.nodes) > 1:
                    return  # until they have finished: remove_node reschedules this worker
            self.workqueue.move_to_end(lane, last=False)
            self._assign_work_unit(node)

        def remove_node(self, node):
            crashitem = super().remove_node(node)
            for other in self.nodes:
                self._reschedule(other)
            return crashitem

    return LaneScheduling(config, log)
