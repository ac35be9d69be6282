"""Fixtures shared by the graph tests (the real embedded Bolt endpoint)."""

import pytest

from apps.core.graph import graph_reset
from apps.graph.tests.graph_utils import GraphOrgs


@pytest.fixture
def graph_orgs(db, settings):
    """Organizations whose subgraphs are deleted after the test. Tests that cross a worker define
    their own, on transactional_db."""
    graph_reset()
    orgs = GraphOrgs()
    uri = settings.NEO4J_URI
    yield orgs
    settings.NEO4J_URI = uri  # tests point it elsewhere; the cleanup needs the real graph
    orgs.cleanup()
