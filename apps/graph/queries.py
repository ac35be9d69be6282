"""Read side of the knowledge graph for the recommendation engine (issue 7; docs/graph.md).

`graph_candidates` walks four kinds of path from one user, each query filtered on the
organization at every node and relationship:

- prerequisites: items whose prerequisites the user completed ("You completed X, which prepares
  you for Y"); an item whose every prerequisite is done scores highest;
- similar users: people who completed the same items as the user, and what they completed after
  them ("Completed next by 3 people who also completed X");
- shared tags and categories with the items the user completed or liked ("Also about T, like X");
- the member's interests (apps.interests: INTERESTED_IN an InterestValue whose name is a catalog tag),
  weighted ("Matches your interest in T").

Items the user completed or dismissed are left out in the graph; inactive or deleted items are left
out in PostgreSQL, which also supplies the titles of the reasons. When the graph is off or
unreachable the result is [] and the engine falls back to PostgreSQL signals.
"""

from __future__ import annotations

import logging
import time
from typing import NamedTuple

from django.conf import settings

from apps.core.graph import graph_enabled, graph_query
from apps.graph.projection import POSITIVE_INTERACTION_KINDS

logger = logging.getLogger(__name__)


class GraphCandidate(NamedTuple):
    item_id: int
    score: float
    reason: str


#: weight of each path kind in the blended graph score (each kind's scores are first scaled to 0..1).
SOURCE_WEIGHTS = {"prerequisite": 1.0, "peers": 0.8, "tags": 0.6, "interests": 0.4}

# One round trip: the four path kinds as the parts of a UNION ALL, each with its own LIMIT. Each part
# leaves out items the user completed or dismissed (pattern predicates, supported by FalkorDB and Neo4j).
NOT_DONE = """NOT (u)-[:COMPLETED {organization_id: $org}]->(cand)
  AND NOT (u)-[:INTERACTED {organization_id: $org, kind: 'dismiss'}]->(cand)"""

PREREQUISITES = f"""
MATCH (u:User {{organization_id: $org, user_id: $user}})-[:COMPLETED {{organization_id: $org}}]->
      (done:Content {{organization_id: $org}})-[:PREREQUISITE_OF {{organization_id: $org}}]->
      (cand:Content {{organization_id: $org, active: true}})
WHERE {NOT_DONE}
WITH cand, collect(DISTINCT done.item_id) AS done_ids
MATCH (pre:Content {{organization_id: $org}})-[:PREREQUISITE_OF {{organization_id: $org}}]->(cand)
WITH cand, done_ids, count(DISTINCT pre) AS total
RETURN 'prerequisite' AS source, cand.item_id AS item_id, toFloat(size(done_ids)) / total AS score,
       done_ids[0] AS via, null AS label, 0 AS people
ORDER BY score DESC, item_id LIMIT $fetch"""

PEERS = f"""
MATCH (u:User {{organization_id: $org, user_id: $user}})-[:COMPLETED {{organization_id: $org}}]->
      (shared:Content {{organization_id: $org}})<-[theirs:COMPLETED {{organization_id: $org}}]-
      (peer:User {{organization_id: $org}})
WHERE peer.user_id <> $user
WITH u, peer, count(DISTINCT shared) AS overlap, max(theirs.at) AS since, collect(shared.item_id)[0] AS via
ORDER BY overlap DESC LIMIT $peers
MATCH (peer)-[next:COMPLETED {{organization_id: $org}}]->(cand:Content {{organization_id: $org, active: true}})
WHERE next.at >= since AND {NOT_DONE}
RETURN 'peers' AS source, cand.item_id AS item_id, toFloat(sum(overlap)) AS score, collect(via)[0] AS via,
       null AS label, count(DISTINCT peer) AS people
ORDER BY score DESC, item_id LIMIT $fetch"""

SHARED_LABELS = f"""
MATCH (u:User {{organization_id: $org, user_id: $user}})-[r:COMPLETED|INTERACTED {{organization_id: $org}}]->
      (seed:Content {{organization_id: $org}})
WHERE type(r) = 'COMPLETED' OR (r.kind IN $positive AND r.weight > 0)
WITH DISTINCT u, seed
MATCH (seed)-[:TAGGED|IN_CATEGORY {{organization_id: $org}}]->(label)<-[:TAGGED|IN_CATEGORY {{organization_id: $org}}]-
      (cand:Content {{organization_id: $org, active: true}})
WHERE label.organization_id = $org AND cand.item_id <> seed.item_id AND {NOT_DONE}
RETURN 'tags' AS source, cand.item_id AS item_id, toFloat(count(*)) AS score, collect(seed.item_id)[0] AS via,
       collect(label.name)[0] AS label, 0 AS people
ORDER BY score DESC, item_id LIMIT $fetch"""

INTERESTS = f"""
MATCH (u:User {{organization_id: $org, user_id: $user}})-[r:INTERESTED_IN {{organization_id: $org}}]->
      (v:InterestValue {{organization_id: $org}})
MATCH (t:Tag {{organization_id: $org, name: v.name}})<-[:TAGGED {{organization_id: $org}}]-
      (cand:Content {{organization_id: $org, active: true}})
WHERE {NOT_DONE}
RETURN 'interests' AS source, cand.item_id AS item_id, toFloat(sum(r.weight)) AS score, null AS via,
       collect(v.name)[0] AS label, 0 AS people
ORDER BY score DESC, item_id LIMIT $fetch"""

CANDIDATES = "\nUNION ALL\n".join([PREREQUISITES, PEERS, SHARED_LABELS, INTERESTS])


#: NEO4J_URI -> monotonic time until which graph_candidates does not try the graph (after a failure).
_paused_until: dict[str | None, float] = {}


def _graph_errors() -> tuple[type[BaseException], ...]:
    from neo4j.exceptions import DriverError, Neo4jError

    return (Neo4jError, DriverError, OSError)


def graph_candidates(*, organization_id: int, user_id: int, limit: int = 50) -> list[GraphCandidate]:
    """Up to `limit` (item_id, score, reason) tuples from graph paths, best first; score in 0..2.8
    (the sum of the path kinds' weights, each kind scaled to 0..1). One Cypher round trip and one
    PostgreSQL query. [] when the user has no paths, when the graph is off, and when it is
    unreachable or fails (logged; then the graph is not tried again in this process for
    GRAPH_CANDIDATES_PAUSE_SECONDS, so a down graph does not cost every request a timeout)."""
    if not graph_enabled() or limit <= 0:
        return []
    uri = settings.NEO4J_URI
    if _paused_until.get(uri, 0.0) > time.monotonic():
        return []
    params = {
        "org": organization_id,
        "user": user_id,
        "fetch": limit * 2,
        "peers": 50,
        "positive": list(POSITIVE_INTERACTION_KINDS),
    }
    try:
        rows = graph_query(CANDIDATES, params)
    except _graph_errors() as exc:
        # A down graph costs a connection timeout per call: skip it for a while (per process).
        _paused_until[uri] = time.monotonic() + settings.GRAPH_CANDIDATES_PAUSE_SECONDS
        logger.warning(
            "graph candidates unavailable for organization %s (graph skipped for %ss): %s",
            organization_id,
            settings.GRAPH_CANDIDATES_PAUSE_SECONDS,
            exc,
        )
        return []
    found: dict[str, list[dict]] = {source: [] for source in SOURCE_WEIGHTS}
    for row in rows:
        found[row["source"]].append(row)
    return _blend(organization_id, found, limit)


def _blend(organization_id: int, found: dict[str, list[dict]], limit: int) -> list[GraphCandidate]:
    from apps.progress.models import ContentItem

    totals: dict[int, float] = {}
    best: dict[int, tuple[float, str, dict]] = {}
    for source, rows in found.items():
        top = max((float(row["score"]) for row in rows), default=0.0)
        for row in rows:
            contribution = SOURCE_WEIGHTS[source] * (float(row["score"]) / top if top else 0.0)
            item_id = int(row["item_id"])
            totals[item_id] = totals.get(item_id, 0.0) + contribution
            if item_id not in best or contribution > best[item_id][0]:
                best[item_id] = (contribution, source, row)
    ranked = sorted(totals, key=lambda item_id: (-totals[item_id], item_id))
    wanted = set(ranked[: limit * 2]) | {row.get("via") for _, _, row in best.values() if row.get("via")}
    # PostgreSQL is the authority: the item still exists in this organization and is active.
    items = {
        row["id"]: row
        for row in ContentItem.objects.filter(organization_id=organization_id, id__in=wanted).values(
            "id", "title", "active"
        )
    }
    result = []
    for item_id in ranked:
        if item_id not in items or not items[item_id]["active"]:
            continue
        _contribution, source, row = best[item_id]
        result.append(GraphCandidate(item_id, round(totals[item_id], 4), _reason(source, row, items)))
        if len(result) >= limit:
            break
    return result


def _reason(source: str, row: dict, items: dict[int, dict]) -> str:
    via = items.get(row.get("via"), {}).get("title")
    title = items[row["item_id"]]["title"]
    if source == "prerequisite" and via:
        return f"You completed {via}, which prepares you for {title}"
    if source == "peers" and via:
        people = row.get("people", 1)
        who = "1 person" if people == 1 else f"{people} people"
        return f"Completed next by {who} who also completed {via}"
    if source == "tags" and via:
        return f"Also about {row['label']}, like {via}"
    if source == "interests":
        return f"Matches your interest in {row['label']}"
    return "Related to what you did"
