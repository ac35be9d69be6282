"""The knowledge-graph client: one `neo4j` driver per process, or None when the graph is off."""

from __future__ import annotations

import threading

from django.conf import settings

_lock = threading.Lock()
_driver = None
_patched = False


def _skip_goodbye() -> None:
    """FalkorDB's Bolt endpoint hangs the next connection after a Bolt GOODBYE.

    Marking a connection defunct before close makes the driver drop the socket without
    GOODBYE. Only applied when NEO4J_SEND_GOODBYE is false (the embedded stack).
    """
    global _patched
    if _patched:
        return
    from neo4j._sync.io._bolt._base import Bolt

    original_close = Bolt.close

    def close(self):
        self._defunct = True
        return original_close(self)

    Bolt.close = close
    _patched = True


def graph_enabled() -> bool:
    return bool(settings.NEO4J_URI)


def get_driver():
    """The process-wide driver (thread-safe, lazily created); None when NEO4J_URI is unset."""
    global _driver
    if not graph_enabled():
        return None
    with _lock:
        if _driver is None:
            import neo4j

            if not settings.NEO4J_SEND_GOODBYE:
                _skip_goodbye()
            auth = (settings.NEO4J_USER, settings.NEO4J_PASSWORD) if settings.NEO4J_USER else None
            _driver = neo4j.GraphDatabase.driver(
                settings.NEO4J_URI,
                auth=auth,
                connection_timeout=settings.NEO4J_TIMEOUT,
                connection_acquisition_timeout=settings.NEO4J_TIMEOUT,
                max_transaction_retry_time=settings.NEO4J_TIMEOUT,
            )
    return _driver


def graph_reset() -> None:
    """Close and forget the driver (after a settings change, and in tests)."""
    global _driver
    with _lock:
        if _driver is not None:
            _driver.close()
        _driver = None


def graph_query(cypher: str, parameters: dict | None = None) -> list[dict]:
    driver = get_driver()
    if driver is None:
        raise RuntimeError("The knowledge graph is off (NEO4J_URI is unset).")
    records, _summary, _keys = driver.execute_query(cypher, parameters or {}, database_=settings.NEO4J_DATABASE)
    return [record.data() for record in records]
