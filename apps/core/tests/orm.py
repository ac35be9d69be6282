"""Test helper for code that builds model instances without the ORM's queries (apps/core/lookups.py)."""


def assert_reads_as_the_orm(got, want) -> None:
    """`got` holds every concrete field of `want` (an instance the ORM read), equal in value and type, and is
    marked as read from the default database."""
    model = type(want)
    for field in model._meta.concrete_fields:
        assert getattr(got, field.attname) == getattr(want, field.attname), (model.__name__, field.name)
        assert type(getattr(got, field.attname)) is type(getattr(want, field.attname)), (model.__name__, field.name)
    assert got._state.adding is False and got._state.db == "default"
