"""Partial HNSW indexes created at run time, once per process (pgvector).

A pgvector index covers one dimension count, so a table holding vectors of several embedding models
(or factor sizes) gets one partial index per model, created when the first vectors of that model are
written. Each owning app names its indexes and chooses the operator class: documents (chunk vectors,
`documents.services.embeddings`), progress (item vectors, `progress.services.embeddings`) and
recommendations (ALS factors, `recommendations.services.factor_indexes_ensure`).

The catalog is checked before any DDL: CREATE INDEX, even IF NOT EXISTS, fails inside a transaction
with pending deferred constraint checks. A name found or created is remembered for the process, so
later calls run no query at all. The callers run outside transactions (workers, commands, before a
training's store); in a transaction that rolls back (a test), the index goes but stays remembered:
queries stay correct, without the index, and no later call tries DDL among deferred checks.
"""

from __future__ import annotations

from django.db import connection

_indexes_seen: set[str] = set()


def hnsw_index_ensure(*, name: str, table: str, column: str, dimensions: int, ops: str, where: str) -> str:
    """Create (once) `name` ON `table` USING hnsw ((`column`::vector(`dimensions`)) `ops`) WHERE `where`.

    Returns `name`. `name`, `table`, `column`, `ops` and `where` are SQL written by the calling
    service (identifiers, integers, quoted literals), never user input.
    """
    if name in _indexes_seen:
        return name
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_class WHERE relname = %s AND relkind = 'i'", [name])
        if not cursor.fetchone():
            cursor.execute(
                f"CREATE INDEX IF NOT EXISTS {name} ON {table} "
                f"USING hnsw (({column}::vector({int(dimensions)})) {ops}) WHERE {where}"
            )
    _indexes_seen.add(name)
    return name


def model_index_ensure(*, name: str, table: str, model: str, dimensions: int) -> str:
    """The cosine index of one embedding model's rows (`model` column) over the `embedding` column."""
    literal = "'" + model.replace("'", "''") + "'"  # DDL takes no parameters
    return hnsw_index_ensure(
        name=name,
        table=table,
        column="embedding",
        dimensions=dimensions,
        ops="vector_cosine_ops",
        where=f"model = {literal}",
    )
