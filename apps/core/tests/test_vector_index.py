"""`apps.core.vector_index`, the one "create the HNSW index once per process" helper of documents,
progress and recommendations (issue 15), against the real PostgreSQL + pgvector.

Coverage: the DDL (partial index, expression, operator class, predicate with a quoted literal); a
name created or found is remembered, so a later call runs no query; an index that exists but is not
remembered yet (another process made it) is found in the catalog inside a transaction with pending
deferred constraint checks, where CREATE INDEX itself would fail.
"""

import pytest
from django.db import OperationalError, connection, transaction

from apps.core import vector_index
from apps.core.vector_index import model_index_ensure

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

NAME = "probe_hnsw_test"
OTHER = "probe_hnsw_other"


@pytest.fixture
def probe_table():
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE vector_index_probe (id integer PRIMARY KEY, "
            "parent integer REFERENCES vector_index_probe (id) DEFERRABLE INITIALLY DEFERRED, "
            "model text, embedding vector)"
        )
    vector_index._indexes_seen.difference_update({NAME, OTHER})
    yield "vector_index_probe"
    vector_index._indexes_seen.difference_update({NAME, OTHER})
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS vector_index_probe")


def ensure(table: str, name: str = NAME) -> str:
    return model_index_ensure(name=name, table=table, model="o'model", dimensions=3)


def index_definition(name: str = NAME) -> str | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [name])
        row = cursor.fetchone()
    return row[0] if row else None


def test_creates_the_partial_hnsw_index(probe_table):
    """The index is created with the caller's expression, operator class and predicate."""
    assert ensure(probe_table) == NAME

    assert index_definition() == (
        f"CREATE INDEX {NAME} ON public.vector_index_probe USING hnsw (((embedding)::vector(3)) vector_cosine_ops) "
        "WHERE (model = 'o''model'::text)"
    )


def test_a_created_index_is_remembered_for_the_process(probe_table, django_assert_num_queries):
    """Once created (the documents copy forgot those before issue 15), later calls run no query, even
    if the index was dropped behind the process's back (benchmarks/search_scale.py drops it first)."""
    ensure(probe_table)
    assert NAME in vector_index._indexes_seen
    with connection.cursor() as cursor:
        cursor.execute(f"DROP INDEX {NAME}")

    with django_assert_num_queries(0):
        ensure(probe_table)

    assert index_definition() is None


def test_an_existing_index_is_found_among_deferred_checks(probe_table, django_assert_num_queries):
    """Not remembered yet: one catalog look and no DDL, so a transaction with pending deferred
    constraint checks goes on; CREATE INDEX there fails, which is why the catalog is read first."""
    ensure(probe_table)
    vector_index._indexes_seen.discard(NAME)

    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO vector_index_probe (id, parent, model) VALUES (1, 1, 'x')")
        with django_assert_num_queries(1) as queries:
            ensure(probe_table)
        assert "pg_class" in queries.captured_queries[0]["sql"]
        with pytest.raises(OperationalError, match="pending trigger events"), transaction.atomic():
            ensure(probe_table, name=OTHER)

    assert index_definition(OTHER) is None
