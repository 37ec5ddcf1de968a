"""Read-side queries the pipeline and the commands need."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

import duckdb
import pyarrow as pa

from extractors.types import FeedState


@contextlib.contextmanager
def listed(
    con: duckdb.DuckDBPyConnection,
    name: str,
    values: Iterable[Any],
    value_type: pa.DataType | None = None,
) -> Iterator[str]:
    """``values`` as a one-column view ``name`` (column ``value``, strings unless ``value_type``
    says otherwise) for the block's statements.

    For a long list of URLs, not ``IN (SELECT unnest(?))`` with a Python list: duckdb converts
    such a parameter one element at a time and, without pandas installed, searches for it twice
    per element (0.4 s for 5,000 URLs; issue 8). An Arrow column goes in at once.
    """
    con.register(name, pa.table({"value": pa.array(list(values), value_type or pa.string())}))
    try:
        yield name
    finally:
        con.unregister(name)


def feed_states(con: duckdb.DuckDBPyConnection, feed_urls: Iterable[str]) -> dict[str, FeedState]:
    """The stored conditional-GET validators of the given feeds."""
    urls = list(feed_urls)
    if not urls:
        return {}
    with listed(con, "wanted_feeds", urls):
        rows = con.execute(
            "SELECT feed_url, etag, last_modified FROM feeds"
            " WHERE feed_url IN (SELECT value FROM wanted_feeds)"
        ).fetchall()
    return {str(u): FeedState(str(u), e, m) for u, e, m in rows}


def known_urls(con: duckdb.DuckDBPyConnection, urls: Iterable[str]) -> set[str]:
    """Those of ``urls`` (canonical form) that already lead to a stored article."""
    wanted = set(urls)
    if not wanted:
        return set()
    with listed(con, "wanted_urls", wanted):
        rows = con.execute(
            "SELECT url FROM article_urls WHERE url IN (SELECT value FROM wanted_urls)"
        ).fetchall()
    return {str(r[0]) for r in rows}


def table_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name in ("articles", "stories", "alerts", "feeds", "runs"):
        row = con.execute(f"SELECT count(*) FROM {name}").fetchone()
        counts[name] = int(row[0]) if row else 0
    return counts


def query(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run ``sql``; return column names and rows."""
    cursor = con.execute(sql, params or [])
    if cursor is None:  # nothing but comments: no statement, no result
        return [], []
    names = [d[0] for d in cursor.description or []]
    return names, [tuple(r) for r in cursor.fetchall()]


def recent_runs(
    con: duckdb.DuckDBPyConnection, limit: int = 5
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The last passes, newest first."""
    return query(
        con,
        "SELECT strftime(started_at, '%Y-%m-%d %H:%M:%S') AS started, status, feeds_polled,"
        " items_seen, articles_new, copies, stories_new, alerts_sent, errors,"
        " round(epoch(finished_at - started_at), 1) AS seconds"
        " FROM runs ORDER BY started_at DESC LIMIT ?",
        [limit],
    )


def feeds_needing_attention(
    con: duckdb.DuckDBPyConnection,
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Feeds whose last poll failed, worst first, with how long they have been failing."""
    return query(
        con,
        "SELECT name, feed_url, consecutive_errors, last_http_status, last_error,"
        " strftime(last_ok_at, '%Y-%m-%d %H:%M') AS last_ok"
        " FROM feeds WHERE consecutive_errors > 0"
        " ORDER BY consecutive_errors DESC, feed_url",
    )
