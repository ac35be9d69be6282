"""Test helpers about the ORM: instances built without its queries (apps/core/lookups.py), and query counts."""


def assert_reads_as_the_orm(got, want) -> None:
    """`got` holds every concrete field of `want` (an instance the ORM read), equal in value and type, and is
    marked as read from the default database."""
    model = type(want)
    for field in model._meta.concrete_fields:
        assert getattr(got, field.attname) == getattr(want, field.attname), (model.__name__, field.name)
        assert type(getattr(got, field.attname)) is type(getattr(want, field.attname)), (model.__name__, field.name)
    assert got._state.adding is False and got._state.db == "default"


def query_counts(action, *targets) -> list[int]:
    """The number of queries `action(target)` runs for each target, in order: a deletion or a listing of a small
    and of a large target should run the same number (set-based, not one statement per row or per batch)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = []
    for target in targets:
        with CaptureQueriesContext(connection) as queries:
            action(target)
        counts.append(len(queries))
    return counts
