"""Graph sync against a real Neo4j 5 (the docker-compose server), when NEO4J_TEST_URI points at one.

The embedded FalkorDB Bolt endpoint has no constraints (`CREATE CONSTRAINT` is unsupported there),
so the Neo4j-only schema (composite uniqueness constraints on the MERGE keys) can only be checked
against a real Neo4j. Set NEO4J_TEST_URI (and NEO4J_TEST_USER / NEO4J_TEST_PASSWORD) to run it,
e.g. `NEO4J_TEST_URI=bolt://localhost:7687 make test ARGS="-m neo4j"`; without it these tests are
skipped, which is the one intended skip of the graph suite.
"""

from __future__ import annotations

import os

import pytest

from apps.core.graph import graph_query, graph_reset
from apps.graph.projection import graph_schema_ensure, graph_server_is_neo4j
from apps.graph.sync import graph_sync_drain
from apps.graph.tests.graph_utils import GraphOrgs, build_catalog, node_ids, outbox_for_catalog, rels_of

pytestmark = [
    pytest.mark.neo4j,
    pytest.mark.skipif(not os.environ.get("NEO4J_TEST_URI"), reason="needs a real Neo4j at NEO4J_TEST_URI"),
]


@pytest.fixture
def neo4j_graph(db, settings):
    settings.NEO4J_URI = os.environ["NEO4J_TEST_URI"]
    settings.NEO4J_USER = os.environ.get("NEO4J_TEST_USER", "neo4j")
    settings.NEO4J_PASSWORD = os.environ.get("NEO4J_TEST_PASSWORD", "")
    settings.NEO4J_DATABASE = os.environ.get("NEO4J_TEST_DATABASE") or None
    settings.NEO4J_SEND_GOODBYE = True
    graph_reset()
    orgs = GraphOrgs()
    yield orgs
    orgs.cleanup()
    graph_reset()


def test_neo4j_gets_uniqueness_constraints_and_rejects_duplicate_keys(neo4j_graph):
    """On Neo4j the schema is constraints on every MERGE key; a second node with a key fails."""
    from neo4j.exceptions import ConstraintError

    assert graph_server_is_neo4j()
    graph_schema_ensure(force=True)
    names = {row["name"] for row in graph_query("SHOW CONSTRAINTS YIELD name RETURN name")}
    assert {"graph_user_key", "graph_content_key", "graph_tag_key", "graph_category_key"} <= names
    organization, _owner = neo4j_graph.create()
    graph_query("CREATE (:Content {organization_id: $org, item_id: 1})", {"org": organization.pk})
    with pytest.raises(ConstraintError):
        graph_query("CREATE (:Content {organization_id: $org, item_id: 1})", {"org": organization.pk})


def test_drain_on_neo4j(neo4j_graph):
    """The same Cypher drains into Neo4j: nodes and relationships as on the embedded endpoint."""
    organization, owner = neo4j_graph.create()
    world = build_catalog(organization)
    outbox_for_catalog(organization, world)
    assert graph_sync_drain().error == ""
    assert node_ids(organization.pk, "User") == {owner.pk, world["alice"].pk, world["bob"].pk}
    assert len(rels_of(organization.pk, "PREREQUISITE_OF")) == 2
    assert len(rels_of(organization.pk, "INTERACTED")) == 3
