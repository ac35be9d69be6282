"""Per-bot term statistics for BM25 (selectors.chunk_search): how many searchable chunks hold each
lexeme (`LexemeStat.df`), and the bot's chunk count and summed chunk length (`BotTextStats`).

Exact, not estimated: every service that changes which chunks are searchable calls
`lexeme_stats_apply` in its own transaction, before the change (finalize: the new generation in,
the old one out; deletion: the document's searchable chunks out). Everything is computed in SQL
from the chunks' tsvectors. Concurrency: the bot's `BotTextStats` row is locked first (an upsert),
so two transactions changing one bot's statistics run one after the other, and lexeme rows are
upserted in sorted order; no deadlock between concurrent finalizes. `lexeme_stats_rebuild`
recounts a bot from its chunks (`manage.py rebuild_lexeme_stats`).
"""

from __future__ import annotations

from django.db import connection, transaction

# A chunk's length for BM25: its lexeme occurrences (tsvector positions; a lexeme without positions counts once).
CHUNK_LENGTH_SQL = "(SELECT coalesce(sum(coalesce(cardinality(u.positions), 1)), 0) FROM unnest({vector}) u)"
_LENGTH = CHUNK_LENGTH_SQL.format(vector="coalesce(c.search_vector, ''::tsvector)")

_TOTALS_SQL = """
INSERT INTO documents_bottextstats (bot_id, chunk_count, lexeme_total)
SELECT %(bot)s, coalesce(sum(d.s), 0), coalesce(sum(d.s * d.len), 0)
FROM (
    SELECT {sign} AS s, {length} AS len FROM documents_chunk c WHERE c.bot_id = %(bot)s AND ({where})
) d
ON CONFLICT (bot_id) DO UPDATE SET
    chunk_count = documents_bottextstats.chunk_count + EXCLUDED.chunk_count,
    lexeme_total = documents_bottextstats.lexeme_total + EXCLUDED.lexeme_total
"""

_LEXEMES_SQL = """
INSERT INTO documents_lexemestat (bot_id, lexeme, df)
SELECT %(bot)s, u.lexeme, sum(d.s)
FROM (SELECT {sign} AS s, c.search_vector FROM documents_chunk c WHERE c.bot_id = %(bot)s AND ({where})) d,
     unnest(d.search_vector) u
GROUP BY u.lexeme
HAVING sum(d.s) <> 0
ORDER BY u.lexeme
ON CONFLICT (bot_id, lexeme) DO UPDATE SET df = documents_lexemestat.df + EXCLUDED.df
RETURNING lexeme, df
"""


def lexeme_stats_apply(*, bot_id: int, where: str, params: dict, sign: str = "1") -> None:
    """Add to the bot's statistics the chunks matching `where` (SQL over `documents_chunk c`), each
    counted `sign` times (an SQL expression: 1 adds, -1 subtracts, or a CASE per chunk). Must run
    inside the transaction that makes the change, before rows are deleted."""
    assert connection.in_atomic_block, "lexeme statistics change only with what is searchable"
    values = {**params, "bot": bot_id}
    with connection.cursor() as cursor:
        # First: the totals row, which also serializes this bot's statistics changes (row lock).
        cursor.execute(_TOTALS_SQL.format(sign=sign, where=where, length=_LENGTH), values)
        cursor.execute(_LEXEMES_SQL.format(sign=sign, where=where), values)
        gone = [lexeme for lexeme, df in cursor.fetchall() if df <= 0]
        if gone:
            cursor.execute(
                "DELETE FROM documents_lexemestat WHERE bot_id = %s AND lexeme = ANY(%s) AND df <= 0", [bot_id, gone]
            )


def lexeme_stats_document_swap(*, document_id: int, bot_id: int) -> None:
    """Finalize: the building generation (not searchable) in, the searchable one out."""
    lexeme_stats_apply(
        bot_id=bot_id,
        where="c.document_id = %(document)s",
        params={"document": document_id},
        sign="CASE WHEN c.searchable THEN -1 ELSE 1 END",
    )


def lexeme_stats_documents_remove(*, document_ids: list[int], bot_id: int) -> None:
    """Deletion: the documents' searchable chunks out."""
    lexeme_stats_apply(
        bot_id=bot_id,
        where="c.document_id = ANY(%(documents)s) AND c.searchable",
        params={"documents": list(document_ids)},
        sign="-1",
    )


@transaction.atomic
def lexeme_stats_rebuild(*, bot_id: int) -> tuple[int, int]:
    """Recount a bot's statistics from its searchable chunks. Returns (chunks, lexemes)."""
    with connection.cursor() as cursor:
        # Lock the totals row first, like every change does; the recount then sees committed data.
        cursor.execute(
            "INSERT INTO documents_bottextstats (bot_id, chunk_count, lexeme_total) VALUES (%s, 0, 0) "
            "ON CONFLICT (bot_id) DO UPDATE SET chunk_count = 0, lexeme_total = 0",
            [bot_id],
        )
        cursor.execute("DELETE FROM documents_lexemestat WHERE bot_id = %s", [bot_id])
    lexeme_stats_apply(bot_id=bot_id, where="c.searchable", params={})
    with connection.cursor() as cursor:
        cursor.execute("SELECT chunk_count FROM documents_bottextstats WHERE bot_id = %s", [bot_id])
        chunks = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM documents_lexemestat WHERE bot_id = %s", [bot_id])
        lexemes = cursor.fetchone()[0]
    return chunks, lexemes


def lexeme_stats_recount(*, bot_id: int) -> tuple[int, int, dict[str, int]]:
    """What the statistics should be, counted now from the chunks: (chunks, length, {lexeme: df}).
    For checks (tests, `rebuild_lexeme_stats --check`)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*), coalesce(sum({_LENGTH}), 0) FROM documents_chunk c WHERE c.bot_id = %s AND c.searchable",
            [bot_id],
        )
        chunks, length = cursor.fetchone()
        cursor.execute(
            "SELECT u.lexeme, count(*) FROM documents_chunk c, unnest(c.search_vector) u "
            "WHERE c.bot_id = %s AND c.searchable GROUP BY u.lexeme",
            [bot_id],
        )
        return int(chunks), int(length), {lexeme: int(df) for lexeme, df in cursor.fetchall()}


def lexeme_stats_stored(*, bot_id: int) -> tuple[int, int, dict[str, int]]:
    """The statistics as stored: (chunks, length, {lexeme: df})."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT chunk_count, lexeme_total FROM documents_bottextstats WHERE bot_id = %s", [bot_id])
        row = cursor.fetchone() or (0, 0)
        cursor.execute("SELECT lexeme, df FROM documents_lexemestat WHERE bot_id = %s", [bot_id])
        return int(row[0]), int(row[1]), dict(cursor.fetchall())
