"""One-row lookups that the request path runs on every call, composed once per process.

Django compiles a queryset's SQL every time it is evaluated. For the small selects that every request starts
with (an API key, a membership, a bot, each with its organization and plan), compiling was most of the lookup:
a member's organization took 1.65 ms through the ORM and 0.39 ms as a statement composed once
(docs/security.md). A `ComposedLookup` builds its statement once from the models' fields, runs it as written, and
builds the instances the way the ORM does: each column goes through its field's own database converters, and each
joined instance is attached as `select_related` attaches it. The code that uses one tests it field by field
against the ORM. It reads the default database (the project has one; no router is consulted).
"""

from __future__ import annotations

import copy

from django.db import connection


class ComposedLookup:
    """SELECT every concrete field of `tables` ((model, alias), ...), each model after the first joined by a
    foreign key of an earlier one (`joins`: (alias, field name) for each), WHERE each `where` column
    ((alias, field name), ...) equals its parameter and each `null` column is NULL (a bot not being deleted)."""

    def __init__(self, tables: tuple, joins: tuple, where: tuple, null: tuple = ()):
        assert where and len(joins) == len(tables) - 1, "one join per model after the first, at least one condition"
        self.tables, self.joins, self.where, self.null = tables, joins, where, null
        self._composed = None

    def _composition(self) -> tuple:
        """(SQL, [(model, attnames, [(column, converters)])]), composed on first use (the models are loaded then)."""
        if self._composed is None:
            quote = connection.ops.quote_name
            models = {alias: model for model, alias in self.tables}
            parts, selected = [], []
            for model, alias in self.tables:
                fields = model._meta.concrete_fields
                columns = []
                for field in fields:
                    column = field.get_col(alias)
                    converters = connection.ops.get_db_converters(column) + field.get_db_converters(connection)
                    columns.append((column, converters))
                    selected.append(f"{alias}.{quote(field.column)}")
                parts.append((model, [field.attname for field in fields], columns))
            (first, first_alias), rest = self.tables[0], self.tables[1:]
            sql = f"SELECT {', '.join(selected)} FROM {quote(first._meta.db_table)} {first_alias}"
            for (model, alias), (from_alias, name) in zip(rest, self.joins, strict=True):
                field = models[from_alias]._meta.get_field(name)
                assert field.related_model is model, f"{from_alias}.{name} does not point to {model.__name__}"
                sql += f" INNER JOIN {quote(model._meta.db_table)} {alias}"
                sql += f" ON {alias}.{quote(field.target_field.column)} = {from_alias}.{quote(field.column)}"

            def qualified(alias, name):
                return f"{alias}.{quote(models[alias]._meta.get_field(name).column)}"

            conditions = [f"{qualified(alias, name)} = %s" for alias, name in self.where]
            conditions += [f"{qualified(alias, name)} IS NULL" for alias, name in self.null]
            sql += " WHERE " + " AND ".join(conditions)
            sql += " LIMIT 1"
            self._composed = (sql, parts)
        return self._composed

    def row(self, params: list) -> tuple | None:
        """The row for `params` (one per `where` column; at most one is read), as the database returns it, or
        None."""
        with connection.cursor() as cursor:
            cursor.execute(self._composition()[0], params)
            return cursor.fetchone()

    def objects(self, row: tuple) -> list:
        """The instances of a `row`, one per table, each joined one attached to the instance that points to it.
        Every call builds new instances (an array or JSON value is copied), so no two callers share one."""
        objects, start = [], 0
        for model, attnames, columns in self._composition()[1]:
            values = []
            for value, (column, converters) in zip(row[start : start + len(columns)], columns, strict=True):
                if isinstance(value, list | dict):
                    value = copy.deepcopy(value)
                for converter in converters:
                    value = converter(value, column, connection)
                values.append(value)
            objects.append(model.from_db(connection.alias, attnames, values))
            start += len(columns)
        by_alias = {alias: instance for (_, alias), instance in zip(self.tables, objects, strict=True)}
        for (_, alias), (from_alias, name) in zip(self.tables[1:], self.joins, strict=True):
            by_alias[from_alias]._meta.get_field(name).set_cached_value(by_alias[from_alias], by_alias[alias])
        return objects

    def get(self, params: list) -> list | None:
        """The instances of the first row for `params`, or None."""
        row = self.row(params)
        return None if row is None else self.objects(row)
