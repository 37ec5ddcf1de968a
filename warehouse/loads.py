"""Writing a pass into the warehouse: feeds, articles, runs and their errors.

Loads are bulk (an Arrow table registered with DuckDB, one statement per table) and
idempotent: an article already stored, by id, by any URL it was reached at, or by identical
text on the same site, is not stored again. Each call is one transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from extractors.types import Article, FeedPoll, PassError, RunStats
from extractors.urls import canonicalize_url, host_of
from warehouse.match_index import lookup_rows
from warehouse.matching import UNIQUE_CHUNK, Match, Matcher, MatchSettings
from warehouse.queries import listed

LOGGER = logging.getLogger(__name__)

_TS = pa.timestamp("us", tz="UTC")

ARTICLE_SCHEMA = pa.schema(
    [
        ("article_id", pa.string()),
        ("url", pa.string()),
        ("canonical_url", pa.string()),
        ("feed_url", pa.string()),
        ("source", pa.string()),
        ("title", pa.string()),
        ("author", pa.string()),
        ("published_at", _TS),
        ("fetched_at", _TS),
        ("language", pa.string()),
        ("text", pa.string()),
        ("text_hash", pa.string()),
        ("text_source", pa.string()),
        ("note", pa.string()),
        ("us_russia", pa.bool_()),
        ("relevance", pa.float64()),
        ("relevance_terms", pa.list_(pa.string())),
        ("copy_of", pa.string()),
        ("story_id", pa.string()),
        ("run_id", pa.string()),
        ("leader_call_evidence", pa.string()),
    ]
)


@dataclass(frozen=True)
class LoadResult:
    """What a load stored: new article ids, how many were already there, how many of the new
    ones are copies of a stored text, and how many stories they started (issue 3)."""

    new_ids: tuple[str, ...]
    already_stored: int
    copies: int
    stories_new: int = 0
    # articles written to the staging folder because the warehouse stayed locked (issue 5)
    staged: int = 0


@dataclass(frozen=True)
class _Stored:
    article_id: str
    host: str
    root: str


def _in_transaction(con: duckdb.DuckDBPyConnection) -> _Transaction:
    return _Transaction(con)


class _Transaction:
    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    def __enter__(self) -> duckdb.DuckDBPyConnection:
        self.con.execute("BEGIN TRANSACTION")
        return self.con

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.con.execute("ROLLBACK" if exc_type else "COMMIT")


def record_feed_polls(con: duckdb.DuckDBPyConnection, polls: Sequence[FeedPoll]) -> None:
    """Upsert each polled feed's state: validators, status, error streak."""
    if not polls:
        return
    table = pa.table(
        {
            "feed_url": [p.feed_url for p in polls],
            "name": [p.name for p in polls],
            "title": [p.feed.title if p.feed else None for p in polls],
            "polled_at": pa.array([p.polled_at for p in polls], _TS),
            "ok": [p.ok for p in polls],
            "status": pa.array([p.status for p in polls], pa.int32()),
            "etag": [p.etag for p in polls],
            "last_modified": [p.last_modified for p in polls],
            "error": [p.error for p in polls],
            "items": pa.array([len(p.feed.items) if p.feed else None for p in polls], pa.int32()),
            # issue 7: the poll schedule (extractors.schedule)
            "poll_interval": pa.array([p.poll_interval_seconds for p in polls], pa.float64()),
            "next_poll_at": pa.array([p.next_poll_at for p in polls], _TS),
            "retry_after_until": pa.array([p.retry_after_until for p in polls], _TS),
            "items_digest": pa.array([p.items_digest for p in polls], pa.string()),
        }
    )
    with _in_transaction(con):
        con.register("incoming_polls", table)
        try:
            con.execute(
                """
                INSERT INTO feeds AS f (feed_url, name, title, last_polled_at, last_ok_at,
                    last_http_status, etag, last_modified, consecutive_errors, last_error,
                    items_last_seen, poll_interval_seconds, next_poll_at, retry_after_until,
                    items_digest)
                SELECT feed_url, name, title, polled_at,
                       CASE WHEN ok THEN polled_at END, status, etag, last_modified,
                       CASE WHEN ok THEN 0 ELSE 1 END, error, items,
                       poll_interval, next_poll_at, retry_after_until, items_digest
                FROM incoming_polls
                ON CONFLICT (feed_url) DO UPDATE SET
                    name = excluded.name,
                    title = coalesce(excluded.title, f.title),
                    last_polled_at = excluded.last_polled_at,
                    last_ok_at = coalesce(excluded.last_ok_at, f.last_ok_at),
                    last_http_status = coalesce(excluded.last_http_status, f.last_http_status),
                    etag = CASE WHEN excluded.last_error IS NULL
                                THEN coalesce(excluded.etag, f.etag) ELSE f.etag END,
                    last_modified = CASE WHEN excluded.last_error IS NULL
                                THEN coalesce(excluded.last_modified, f.last_modified)
                                ELSE f.last_modified END,
                    consecutive_errors = CASE WHEN excluded.last_error IS NULL THEN 0
                                ELSE f.consecutive_errors + 1 END,
                    last_error = excluded.last_error,
                    items_last_seen = coalesce(excluded.items_last_seen, f.items_last_seen),
                    poll_interval_seconds = excluded.poll_interval_seconds,
                    next_poll_at = excluded.next_poll_at,
                    retry_after_until = excluded.retry_after_until,
                    items_digest = coalesce(excluded.items_digest, f.items_digest)
                """
            )
        finally:
            con.unregister("incoming_polls")


def load_articles(
    con: duckdb.DuckDBPyConnection,
    articles: Sequence[Article],
    *,
    run_id: str,
    matching: MatchSettings | None = None,
) -> LoadResult:
    """Store the articles not stored yet; remember every URL each was reached at.

    Identity, in order: the article id (from the canonical URL), any URL already recorded in
    ``article_urls``, identical normalised text on the same site (one page, two URLs).
    Each new article, in order, then gets its ``copy_of`` and ``story_id`` from the matcher
    (``warehouse.matching``, issue 3), in the same transaction.
    """
    if not articles:
        return LoadResult((), 0, 0, 0)
    # by position, not by id: two items of a batch can be one article (one canonical URL),
    # and each item's URLs must lead to it, or the next pass fetches the page again
    urls_of = [_urls_of(a) for a in articles]
    with _in_transaction(con):
        known_urls = _lookup_urls(con, {u for us in urls_of for u in us})
        by_hash = _lookup_hashes(con, {a.text_hash for a in articles})
        matcher = Matcher(con, matching)
        stored_ids = set(known_urls.values())
        matcher.prefetch([a for a in articles if a.article_id not in stored_ids])
        rows: list[tuple[Article, Match]] = []
        url_rows: dict[str, str] = {}
        already = 0
        seen_ids: set[str] = set()
        for article, urls in zip(articles, urls_of, strict=True):
            host = host_of(article.canonical_url)
            existing = next((known_urls[u] for u in urls if u in known_urls), None)
            if existing is None and article.article_id in seen_ids:
                existing = article.article_id
            same_text = by_hash.get(article.text_hash, [])
            if existing is None:
                existing = next((s.article_id for s in same_text if s.host == host), None)
            if existing is not None:
                already += 1
                for u in urls:
                    url_rows.setdefault(u, existing)
                continue
            match = matcher.match(article)
            rows.append((article, match))
            seen_ids.add(article.article_id)
            by_hash.setdefault(article.text_hash, []).append(
                _Stored(article.article_id, host, match.copy_of or article.article_id)
            )
            for u in urls:
                known_urls.setdefault(u, article.article_id)
                url_rows.setdefault(u, article.article_id)
        rows = [(article, matcher.decision(article.article_id)) for article, _ in rows]
        if rows:
            _insert_articles(con, rows, run_id)
            matcher.flush()
            # a story not flagged yet has no stored article reporting the call (it would have
            # been flagged when that article was loaded): only this batch's reports can flag
            reported = {
                m.story_id
                for a, m in rows
                if m.story_id and a.leader_call_evidence and a.relevance.us_russia
            }
            flag_leader_call_stories(con, reported)
        if url_rows:
            con.register(
                "incoming_urls",
                pa.table({"url": list(url_rows), "article_id": list(url_rows.values())}),
            )
            try:
                con.execute(
                    "INSERT INTO article_urls SELECT url, article_id FROM incoming_urls "
                    "ON CONFLICT (url) DO NOTHING"
                )
            finally:
                con.unregister("incoming_urls")
    return LoadResult(
        tuple(a.article_id for a, _ in rows), already, matcher.copies, matcher.stories_new
    )


def flag_leader_call_stories(con: duckdb.DuckDBPyConnection, story_ids: set[str]) -> None:
    """Mark the given stories as leader-call stories when a US–Russia article of theirs reports
    the call; keep the earliest such article's evidence sentence (issue 4). Never unflags."""
    if not story_ids:
        return
    sql = """
        UPDATE stories SET leader_call = TRUE,
               leader_call_evidence = ev.evidence, leader_call_article = ev.article_id
        FROM (
            SELECT story_id,
                   arg_min(leader_call_evidence, coalesce(published_at, fetched_at)) AS evidence,
                   arg_min(article_id, coalesce(published_at, fetched_at)) AS article_id
            FROM articles
            WHERE leader_call_evidence IS NOT NULL AND us_russia
              AND story_id IN (SELECT value FROM flagged_stories)
            GROUP BY story_id
        ) ev
        WHERE stories.story_id = ev.story_id AND NOT stories.leader_call
        """
    with listed(con, "flagged_stories", sorted(story_ids)):
        con.execute(sql)


def _urls_of(article: Article) -> list[str]:
    urls = [article.canonical_url, canonicalize_url(article.url)]
    urls += [canonicalize_url(u) for u in article.extra_urls]
    return list(dict.fromkeys(urls))


def _lookup_urls(con: duckdb.DuckDBPyConnection, urls: set[str]) -> dict[str, str]:
    # literal IN lists: DuckDB answers them from the indexes, so a batch's lookups cost what
    # the batch asks for, not what the archive holds (issue 8)
    wanted = sorted(urls)
    rows = lookup_rows(
        con, "SELECT url, article_id FROM article_urls", "url", wanted, chunk_size=UNIQUE_CHUNK
    )
    found = {str(u): str(a) for u, a in rows}
    ids = lookup_rows(
        con,
        "SELECT canonical_url, article_id FROM articles",
        "canonical_url",
        wanted,
        chunk_size=UNIQUE_CHUNK,
    )
    for u, a in sorted(ids, key=lambda r: (str(r[0]), str(r[1]))):
        found.setdefault(str(u), str(a))
    return found


def _lookup_hashes(con: duckdb.DuckDBPyConnection, hashes: set[str]) -> dict[str, list[_Stored]]:
    rows = lookup_rows(
        con,
        "SELECT text_hash, article_id, canonical_url, coalesce(copy_of, article_id), fetched_at"
        " FROM articles",
        "text_hash",
        sorted(hashes),
        chunk_size=UNIQUE_CHUNK,
    )
    found: dict[str, list[_Stored]] = {}
    for text_hash, article_id, canonical_url, root, _ in sorted(rows, key=lambda r: (r[4], r[1])):
        found.setdefault(str(text_hash), []).append(
            _Stored(str(article_id), host_of(str(canonical_url)), str(root))
        )
    return found


def _insert_articles(
    con: duckdb.DuckDBPyConnection, rows: Sequence[tuple[Article, Match]], run_id: str
) -> None:
    columns: dict[str, list[object]] = {name: [] for name in ARTICLE_SCHEMA.names}
    for article, match in rows:
        values = {
            "article_id": article.article_id,
            "url": article.url,
            "canonical_url": article.canonical_url,
            "feed_url": article.feed_url,
            "source": article.source,
            "title": article.title,
            "author": article.author,
            "published_at": article.published_at,
            "fetched_at": article.fetched_at,
            "language": article.language,
            "text": article.text,
            "text_hash": article.text_hash,
            "text_source": article.text_source,
            "note": article.note,
            "us_russia": article.relevance.us_russia,
            "relevance": article.relevance.score,
            "relevance_terms": list(article.relevance.terms),
            "copy_of": match.copy_of,
            "story_id": match.story_id,
            "run_id": run_id,
            "leader_call_evidence": article.leader_call_evidence,
        }
        for name in ARTICLE_SCHEMA.names:
            columns[name].append(values[name])
    table = pa.table(columns, schema=ARTICLE_SCHEMA)
    con.register("incoming_articles", table)
    try:
        con.execute(
            f"INSERT INTO articles ({', '.join(ARTICLE_SCHEMA.names)}) "
            f"SELECT {', '.join(ARTICLE_SCHEMA.names)} FROM incoming_articles "
            "ON CONFLICT (article_id) DO NOTHING"
        )
    finally:
        con.unregister("incoming_articles")


def mark_interrupted_runs(con: duckdb.DuckDBPyConnection) -> int:
    """Mark the runs still ``running`` as ``interrupted`` (call with the pass lock held: no
    other pass is live, so they were killed). Returns how many."""
    rows = con.execute(
        "UPDATE runs SET status = 'interrupted' WHERE status = 'running' RETURNING run_id"
    ).fetchall()
    return len(rows)


def start_run(con: duckdb.DuckDBPyConnection, stats: RunStats) -> None:
    con.execute(
        "INSERT INTO runs (run_id, flow_run_id, started_at, status) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (run_id) DO NOTHING",
        [stats.run_id, stats.flow_run_id, stats.started_at, stats.status],
    )


def finish_run(con: duckdb.DuckDBPyConnection, stats: RunStats) -> None:
    """Write the run's final counters (the row is created if ``start_run`` never ran)."""
    start_run(con, stats)
    con.execute(
        """
        UPDATE runs SET finished_at = ?, status = ?, feeds_polled = ?, feeds_failed = ?,
            feeds_skipped = ?,
            items_seen = ?, pages_fetched = ?, articles_new = ?, copies = ?, stories_new = ?,
            alerts_sent = ?, errors = ?
        WHERE run_id = ?
        """,
        [
            stats.finished_at,
            stats.status,
            stats.feeds_polled,
            stats.feeds_failed,
            stats.feeds_skipped,
            stats.items_seen,
            stats.pages_fetched,
            stats.articles_new,
            stats.copies,
            stats.stories_new,
            stats.alerts_sent,
            stats.errors,
            stats.run_id,
        ],
    )


def record_errors(con: duckdb.DuckDBPyConnection, run_id: str, errors: Sequence[PassError]) -> None:
    if not errors:
        return
    table = pa.table(
        {
            "run_id": [run_id] * len(errors),
            "occurred_at": pa.array([e.at for e in errors], _TS),
            "stage": [e.stage for e in errors],
            "url": [e.url for e in errors],
            "error": [e.error for e in errors],
        }
    )
    con.register("incoming_errors", table)
    try:
        con.execute(
            "INSERT INTO run_errors"
            " SELECT run_id, occurred_at, stage, url, error FROM incoming_errors"
        )
    finally:
        con.unregister("incoming_errors")
