"""Transaction advisory locks: the writes that share a key take turns until their transaction ends."""

from __future__ import annotations

from django.db import connection


def transaction_lock(key: str) -> None:
    """Wait for, then hold until the transaction ends, PostgreSQL's transaction advisory lock on `key` (hashed to 64
    bits). Locks nothing of the tables, so inserts that reference the same rows are not held up. Called outside a
    transaction it would be released at once: that is refused."""
    if not connection.in_atomic_block:
        raise RuntimeError(f"transaction_lock({key!r}) holds its lock for a transaction: call it inside one")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [key])
