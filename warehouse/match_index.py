"""Bulk reads and writes of the copy and story index tables (issue 3; used by ``matching``).

Lookups are literal ``IN`` lists in chunks: DuckDB answers ``key IN (constants)`` from the ART
index, where a list parameter (``= ANY(?)``, ``IN (SELECT unnest(?))``) or a join scans the
whole table. So a lookup costs what the keys asked for return, not what the table holds. The
values are our own integers and hex ids, quoted all the same. Writes register one Arrow table
per statement.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa

from warehouse.queries import listed

# DuckDB scans the table instead when a lookup would return more than max(2048, 0.1% of the
# rows); 128 keys of at most ``max_postings`` (64) postings each stay under that on a big index
CHUNK = 128
_TS = pa.timestamp("us", tz="UTC")

_POSTING_SCHEMAS = {
    "copy_keys": pa.schema(
        [
            ("key", pa.int64()),
            ("article_id", pa.string()),
            ("seen_at", _TS),
            ("n_anchors", pa.int16()),
        ]
    ),
    "story_keys": pa.schema([("key", pa.int64()), ("story_id", pa.string()), ("day", pa.int32())]),
    "story_sources": pa.schema(
        [("key", pa.int64()), ("story_id", pa.string()), ("source", pa.string())]
    ),
}
_STORY_SCHEMA = pa.schema(
    [
        ("story_id", pa.string()),
        ("headline", pa.string()),
        ("first_seen_at", _TS),
        ("last_seen_at", _TS),
        ("n_articles", pa.int32()),
        ("n_sources", pa.int32()),
        ("terms", pa.list_(pa.string())),
        ("weights", pa.list_(pa.float64())),
    ]
)


# lookups by primary key (``lookup_rows`` adds the WHERE ... IN)
STORED_ARTICLES = (
    "SELECT article_id, coalesce(copy_of, article_id), story_id,"
    " coalesce(published_at, fetched_at), source, coalesce(text, '') FROM articles"
)
STORIES = (
    "SELECT story_id, headline, first_seen_at, last_seen_at, coalesce(n_articles, 0),"
    " coalesce(n_sources, 0) FROM stories"
)
STORY_PROFILES = "SELECT story_id, terms, weights FROM story_profiles"
STORY_SOURCES = "SELECT key, story_id, source FROM story_sources"
TERM_COUNTS = "SELECT key, df FROM term_counts"


def _literal(value: int | str) -> str:
    if isinstance(value, int):
        return str(int(value))
    text = str(value)
    if "\x00" in text:  # DuckDB's parser ends a statement at a NUL, even in a string
        return "(" + " || chr(0) || ".join(_literal(part) for part in text.split("\x00")) + ")"
    return "'" + text.replace("'", "''") + "'"


def lookup_rows(
    con: duckdb.DuckDBPyConnection,
    select_sql: str,
    column: str,
    values: Sequence[int | str],
    *,
    chunk_size: int = CHUNK,
) -> list[tuple[Any, ...]]:
    """``select_sql WHERE column IN (values)``, chunked; no rows for no values.

    ``chunk_size`` may be larger for a unique column (at most one row a value, so DuckDB keeps
    to the index up to 2,048 values)."""
    rows: list[tuple[Any, ...]] = []
    for start in range(0, len(values), chunk_size):
        chunk = values[start : start + chunk_size]
        in_list = ", ".join(_literal(v) for v in chunk)
        rows += con.execute(f"{select_sql} WHERE {column} IN ({in_list})").fetchall()
    return rows


def lookup_keys(
    con: duckdb.DuckDBPyConnection, select_sql: str, keys: Sequence[int]
) -> list[tuple[Any, ...]]:
    """``select_sql WHERE key IN (keys)`` on a table keyed by an integer ``key`` (issue 8).

    A few keys (one article) are looked up in the ART index, chunk by chunk. The keys of a
    whole batch (thousands) go in at once as a semi-join, one scan of the table's key column.
    ``copy_keys`` and ``story_keys`` hold the window only (``prune_postings``), so their scan
    costs what the window holds, not the history. ``term_counts`` (the vocabulary) and
    ``story_sources`` grow with the history: a semi-join of 5,000 keys took 3.5 ms over
    100,000 rows, 13 ms over 1,000,000 and 37 ms over 3,000,000, against 7 to 10 ms for each
    IN list of 1,024 keys (DuckDB 1.5.5, this machine), so the scan stays the cheaper way up
    to millions of rows.
    """
    if len(keys) <= 4 * CHUNK:
        return lookup_rows(con, select_sql, "key", keys)
    with listed(con, "wanted_keys", keys, pa.int64()):
        return con.execute(f"{select_sql} WHERE key IN (SELECT value FROM wanted_keys)").fetchall()


def copy_postings(
    con: duckdb.DuckDBPyConnection, keys: Sequence[int]
) -> list[tuple[int, str, datetime, int]]:
    """(key, article_id, seen_at, n_anchors) postings of ``keys`` in ``copy_keys``."""
    sql = "SELECT key, article_id, seen_at, n_anchors FROM copy_keys"
    return [(int(k), str(a), t, int(n)) for k, a, t, n in lookup_keys(con, sql, keys)]


def story_postings(con: duckdb.DuckDBPyConnection, keys: Sequence[int]) -> list[tuple[int, str]]:
    """(key, story_id) postings of ``keys`` in ``story_keys``."""
    sql = "SELECT key, story_id FROM story_keys"
    return [(int(k), str(s)) for k, s in lookup_keys(con, sql, keys)]


def _insert(con: duckdb.DuckDBPyConnection, table: str, data: pa.Table, sql: str) -> None:
    name = f"incoming_{table}"
    con.register(name, data)
    try:
        con.execute(sql.format(incoming=name))
    finally:
        con.unregister(name)


def insert_postings(
    con: duckdb.DuckDBPyConnection, table: str, rows: Sequence[tuple[Any, ...]]
) -> None:
    """Append rows to ``copy_keys``, ``story_keys`` or ``story_sources``."""
    if not rows:
        return
    schema = _POSTING_SCHEMAS[table]
    columns = list(zip(*rows, strict=True))
    data = pa.table(
        {f.name: pa.array(list(c), f.type) for f, c in zip(schema, columns, strict=True)},
        schema=schema,
    )
    names = ", ".join(schema.names)
    _insert(con, table, data, f"INSERT INTO {table} ({names}) SELECT {names} FROM {{incoming}}")


def upsert_term_counts(con: duckdb.DuckDBPyConnection, deltas: Counter[int]) -> None:
    """Add ``deltas`` to the document frequencies in ``term_counts``."""
    items = sorted((k, n) for k, n in deltas.items() if n)
    if not items:
        return
    data = pa.table(
        {
            "key": pa.array([k for k, _ in items], pa.int64()),
            "df": pa.array([n for _, n in items], pa.int64()),
        }
    )
    _insert(
        con,
        "term_counts",
        data,
        "INSERT INTO term_counts AS t (key, df) SELECT key, df FROM {incoming} "
        "ON CONFLICT (key) DO UPDATE SET df = t.df + excluded.df",
    )


def upsert_stories(con: duckdb.DuckDBPyConnection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Write story rows and profiles; ``leader_call`` keeps whatever it holds."""
    if not rows:
        return
    columns = list(zip(*rows, strict=True))
    data = pa.table(
        {f.name: pa.array(list(c), f.type) for f, c in zip(_STORY_SCHEMA, columns, strict=True)},
        schema=_STORY_SCHEMA,
    )
    _insert(
        con,
        "stories",
        data,
        """
        INSERT INTO stories AS s (story_id, headline, first_seen_at, last_seen_at, n_articles,
            n_sources, leader_call)
        SELECT story_id, headline, first_seen_at, last_seen_at, n_articles, n_sources, FALSE
        FROM {incoming}
        ON CONFLICT (story_id) DO UPDATE SET
            headline = excluded.headline,
            first_seen_at = excluded.first_seen_at,
            last_seen_at = excluded.last_seen_at,
            n_articles = excluded.n_articles,
            n_sources = excluded.n_sources
        """,
    )
    _insert(
        con,
        "story_profiles",
        data,
        "INSERT INTO story_profiles AS p (story_id, terms, weights) "
        "SELECT story_id, terms, weights FROM {incoming} "
        "ON CONFLICT (story_id) DO UPDATE SET terms = excluded.terms, weights = excluded.weights",
    )


def prune_postings(con: duckdb.DuckDBPyConnection, cutoff: datetime) -> tuple[int, int]:
    """Drop the index postings that fell out of the window; return (copy, story) rows dropped.

    A posting goes when both its date (the article's published, else fetched, time; the day of
    a story key) is before ``cutoff`` and it was stored before ``cutoff``: no article inside the
    window can match it, and an old article that arrived late (an old feed's backlog) keeps its
    postings for one window after it was stored, so its own reprints still find it.

    DuckDB keeps an ART index in memory once it is touched (about 34 bytes a key, some 90 keys
    an article), so memory follows the size of the index; pruning at the end of every pass
    (``flows.passes``) bounds it by the window rather than the history (bench/matching.py).
    A load never deletes. Rows arrive roughly in time order, so the zone maps of ``seen_at``,
    ``day`` and ``fetched_at`` let DuckDB skip the row groups that hold nothing that old.
    """
    recent = "SELECT {column} FROM articles WHERE fetched_at >= $cutoff AND {column} IS NOT NULL"
    copies = con.execute(
        "DELETE FROM copy_keys WHERE seen_at < $cutoff"
        f" AND article_id NOT IN ({recent.format(column='article_id')})",
        {"cutoff": cutoff},
    ).fetchall()
    stories = con.execute(
        "DELETE FROM story_keys WHERE day < $day"
        f" AND story_id NOT IN ({recent.format(column='story_id')})",
        {"cutoff": cutoff, "day": int(cutoff.timestamp() // 86400)},
    ).fetchall()
    return int(copies[0][0]), int(stories[0][0])
