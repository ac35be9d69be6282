"""Per-bot term statistics for BM25 (selectors.chunk_search), per text-search configuration (issue 17:
a bot's chunks may be indexed in several languages, and a French question's lexemes are counted among
the French chunks): how many searchable chunks of that configuration hold each lexeme
(`LexemeStat.df`), and their count and summed length (`BotTextStats`), keyed by `Chunk.search_config`.

Exact, not estimated: every service that changes which chunks are searchable calls
`lexeme_stats_apply` in its own transaction, before the change (finalize: the new generation in,
the old one out; deletion: the document's searchable chunks out). Everything is computed in SQL
from the chunks' tsvectors. Concurrency: a transaction advisory lock on the bot is taken first, so two
transactions changing one bot's statistics run one after the other, and rows are upserted in sorted
order; no deadlock between concurrent finalizes. `lexeme_stats_rebuild`
recounts a bot from its chunks (`manage.py rebuild_lexeme_stats`).
"""

from __future__ import annotations

from django.db import connection, transaction

# A chunk's length for BM25: its lexeme occurrences (tsvector positions; a lexeme without positions counts once).
CHUNK_LENGTH_SQL = "(SELECT coalesce(sum(coalesce(cardinality(u.positions), 1)), 0) FROM unnest({vector}) u)"
_LENGTH = CHUNK_LENGTH_SQL.format(vector="coalesce(c.search_vector, ''::tsvector)")

_LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtextextended('lexeme_stats:' || %(bot)s::text, 0))"

_TOTALS_SQL = """
INSERT INTO documents_bottextstats (bot_id, config, chunk_count, lexeme_total)
SELECT %(bot)s, d.config, sum(d.s), sum(d.s * d.len)
FROM (
    SELECT {sign} AS s, {length} AS len, c.search_config AS config
    FROM documents_chunk c WHERE c.bot_id = %(bot)s AND ({where})
) d
GROUP BY d.config
ORDER BY d.config
ON CONFLICT (bot_id, config) DO UPDATE SET
    chunk_count = documents_bottextstats.chunk_count + EXCLUDED.chunk_count,
    lexeme_total = documents_bottextstats.lexeme_total + EXCLUDED.lexeme_total
"""

_LEXEMES_SQL = """
INSERT INTO documents_lexemestat (bot_id, config, lexeme, df)
SELECT %(bot)s, d.config, u.lexeme, sum(d.s)
FROM (SELECT {sign} AS s, c.search_config AS config, c.search_vector
      FROM documents_chunk c WHERE c.bot_id = %(bot)s AND ({where})) d,
     unnest(d.search_vector) u
GROUP BY d.config, u.lexeme
HAVING sum(d.s) <> 0
ORDER BY d.config, u.lexeme
ON CONFLICT (bot_id, config, lexeme) DO UPDATE SET df = documents_lexemestat.df + EXCLUDED.df
RETURNING config, lexeme, df
"""


def lexeme_stats_apply(*, bot_id: int, where: str, params: dict, sign: str = "1") -> None:
    """Add to the bot's statistics the chunks matching `where` (SQL over `documents_chunk c`), each
    counted `sign` times (an SQL expression: 1 adds, -1 subtracts, or a CASE per chunk). Must run
    inside the transaction that makes the change, before rows are deleted."""
    assert connection.in_atomic_block, "lexeme statistics change only with what is searchable"
    values = {**params, "bot": bot_id}
    with connection.cursor() as cursor:
        # First: serialize this bot's statistics changes.
        cursor.execute(_LOCK_SQL, values)
        cursor.execute(_TOTALS_SQL.format(sign=sign, where=where, length=_LENGTH), values)
        cursor.execute(_LEXEMES_SQL.format(sign=sign, where=where), values)
        gone = [(config, lexeme) for config, lexeme, df in cursor.fetchall() if df <= 0]
        if gone:
            # A join on the unique index's columns: the planner probes it once per lexeme gone. As `(config, lexeme) IN
            # (SELECT * FROM unnest(...))` it read the bot's rows once per lexeme: removing a website source of 473
            # pages (all 50,000 lexemes of its bot gone) took 51 s in this statement.
            cursor.execute(
                "DELETE FROM documents_lexemestat s USING unnest(%s::text[], %s::text[]) AS g(config, lexeme) "
                "WHERE s.bot_id = %s AND s.config = g.config AND s.lexeme = g.lexeme AND s.df <= 0",
                [[config for config, _ in gone], [lexeme for _, lexeme in gone], bot_id],
            )
        # A configuration none of the bot's searchable chunks has any more.
        cursor.execute("DELETE FROM documents_bottextstats WHERE bot_id = %s AND chunk_count <= 0", [bot_id])


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
def lexeme_stats_clear(*, bot_id: int) -> None:
    """Drop a bot's statistics whole (every one of its chunks is being deleted: the bot is), under its lock."""
    with connection.cursor() as cursor:
        cursor.execute(_LOCK_SQL, {"bot": bot_id})
        cursor.execute("DELETE FROM documents_bottextstats WHERE bot_id = %s", [bot_id])
        cursor.execute("DELETE FROM documents_lexemestat WHERE bot_id = %s", [bot_id])


@transaction.atomic
def lexeme_stats_rebuild(*, bot_id: int) -> tuple[int, int]:
    """Recount a bot's statistics from its searchable chunks. Returns (chunks, lexemes)."""
    with connection.cursor() as cursor:
        # Take the bot's lock first, like every change does; the recount then sees committed data.
        cursor.execute(_LOCK_SQL, {"bot": bot_id})
        cursor.execute("DELETE FROM documents_bottextstats WHERE bot_id = %s", [bot_id])
        cursor.execute("DELETE FROM documents_lexemestat WHERE bot_id = %s", [bot_id])
    lexeme_stats_apply(bot_id=bot_id, where="c.searchable", params={})
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(sum(chunk_count), 0) FROM documents_bottextstats WHERE bot_id = %s", [bot_id])
        chunks = int(cursor.fetchone()[0])
        cursor.execute("SELECT count(*) FROM documents_lexemestat WHERE bot_id = %s", [bot_id])
        lexemes = cursor.fetchone()[0]
    return chunks, lexemes


Stats = dict[str, tuple[int, int, dict[str, int]]]


def lexeme_stats_recount(*, bot_id: int) -> Stats:
    """What the statistics should be, counted now from the chunks: {config: (chunks, length, {lexeme: df})}.
    For checks (tests, `rebuild_lexeme_stats --check`)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT c.search_config, count(*), coalesce(sum({_LENGTH}), 0) FROM documents_chunk c "
            "WHERE c.bot_id = %s AND c.searchable GROUP BY c.search_config",
            [bot_id],
        )
        totals = cursor.fetchall()
        cursor.execute(
            "SELECT c.search_config, u.lexeme, count(*) FROM documents_chunk c, unnest(c.search_vector) u "
            "WHERE c.bot_id = %s AND c.searchable GROUP BY c.search_config, u.lexeme",
            [bot_id],
        )
        return _per_config(totals, cursor.fetchall())


def lexeme_stats_stored(*, bot_id: int) -> Stats:
    """The statistics as stored: {config: (chunks, length, {lexeme: df})}."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT config, chunk_count, lexeme_total FROM documents_bottextstats WHERE bot_id = %s", [bot_id]
        )
        totals = cursor.fetchall()
        cursor.execute("SELECT config, lexeme, df FROM documents_lexemestat WHERE bot_id = %s", [bot_id])
        return _per_config(totals, cursor.fetchall())


def _per_config(totals, lexemes) -> Stats:
    stats: Stats = {config: (int(chunks), int(length), {}) for config, chunks, length in totals}
    for config, lexeme, df in lexemes:
        stats.setdefault(config, (0, 0, {}))[2][lexeme] = int(df)
    return stats
