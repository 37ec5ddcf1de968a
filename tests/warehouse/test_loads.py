"""Bulk loads into a real DuckDB file: idempotent, one row per distinct article."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from extractors.errors import WarehouseError
from extractors.relevance import score_relevance
from extractors.text import text_hash
from extractors.types import Article, FeedPoll
from warehouse.connection import connect, open_warehouse
from warehouse.loads import load_articles, record_feed_polls
from warehouse.schema import LATEST_VERSION, current_version, migrate

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
TEXT = (
    "MOSCOW - Russian President Vladimir Putin and U.S. President Donald Trump spoke by phone "
    "on Saturday, the Kremlin said, agreeing to work together against terrorism in Syria."
)


def article(canonical: str, text: str = TEXT, **changes: object) -> Article:
    base = Article(
        article_id=canonical.rsplit("/", 1)[-1],
        url=canonical,
        canonical_url=canonical,
        feed_url="https://feeds.example/rss",
        source=canonical.split("/")[2],
        title="Putin and Trump speak",
        text=text,
        text_hash=text_hash(text),
        fetched_at=NOW,
        published_at=NOW,
        relevance=score_relevance("Putin and Trump speak", text),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def count(db: Path, sql: str) -> int:
    with open_warehouse(db, read_only=True) as con:
        row = con.execute(sql).fetchone()
    assert row is not None
    return int(row[0])


def test_migrations_are_versioned_and_idempotent(tmp_path: Path) -> None:
    with open_warehouse(tmp_path / "w.duckdb") as con:
        assert current_version(con) == LATEST_VERSION
        assert migrate(con) == []
        tables = {
            r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
        }
    assert {"articles", "stories", "alerts", "feeds", "runs"} <= tables


def test_same_batch_twice_adds_nothing(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    batch = [article("https://a.example/1"), article("https://b.example/2", text=TEXT + " More.")]
    with open_warehouse(db) as con:
        first = load_articles(con, batch, run_id="r1")
        second = load_articles(con, batch, run_id="r2")
    assert len(first.new_ids) == 2
    assert second.new_ids == () and second.already_stored == 2
    assert count(db, "SELECT count(*) FROM articles") == 2


def test_one_article_two_urls_is_stored_once(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    original = article(
        "https://a.example/story", extra_urls=("https://a.example/story?utm_source=rss",)
    )
    # another canonical and other text (an AMP page), reached through a known URL
    alias = article(
        "https://a.example/story-amp",
        text=TEXT + " AMP",
        url="https://a.example/story?utm_source=rss",
    )
    with open_warehouse(db) as con:
        load_articles(con, [original], run_id="r1")
        result = load_articles(con, [alias], run_id="r2")
    assert result.new_ids == ()
    assert count(db, "SELECT count(*) FROM articles") == 1


def test_two_items_of_one_batch_that_are_one_article_both_lead_to_it(tmp_path: Path) -> None:
    # /a and /b both declare /story canonical: one article, and both URLs must be known, or
    # the next pass takes the second for a new item and fetches its page again
    db = tmp_path / "w.duckdb"
    first = article("https://a.example/story", url="https://a.example/a")
    second = article("https://a.example/story", url="https://a.example/b")
    with open_warehouse(db) as con:
        result = load_articles(con, [first, second], run_id="r1")
        urls = {u for (u,) in con.execute("SELECT url FROM article_urls").fetchall()}
    assert len(result.new_ids) == 1 and count(db, "SELECT count(*) FROM articles") == 1
    assert {"https://a.example/a", "https://a.example/b", "https://a.example/story"} <= urls


def test_identical_text_same_site_is_one_article(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    with open_warehouse(db) as con:
        load_articles(con, [article("https://a.example/one")], run_id="r1")
        # same words, other layout and quotes: the normalised hash is equal
        same = article("https://a.example/two", text=TEXT.replace(" - ", " \u2014 ").upper())
        result = load_articles(con, [same], run_id="r2")
    assert result.new_ids == ()
    assert count(db, "SELECT count(*) FROM article_urls WHERE article_id = 'one'") == 2


def test_identical_text_other_site_is_a_copy_of_the_first(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    with open_warehouse(db) as con:
        load_articles(con, [article("https://a.example/first")], run_id="r1")
        load_articles(con, [article("https://b.example/second")], run_id="r2")
        load_articles(con, [article("https://c.example/third")], run_id="r3")
        rows = dict(con.execute("SELECT article_id, copy_of FROM articles").fetchall())
    assert rows == {"first": None, "second": "first", "third": "first"}


def test_feed_state_keeps_validators_and_counts_errors(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    url = "https://feeds.example/rss"
    ok = FeedPoll(
        url, "Feeds", NOW, status=200, etag='"v1"', last_modified="Sat, 01 Jan 2026 00:00:00 GMT"
    )
    failed = FeedPoll(url, "Feeds", NOW, status=500, error="HTTP 500 Internal Server Error")
    with open_warehouse(db) as con:
        record_feed_polls(con, [ok])
        record_feed_polls(con, [failed])
        record_feed_polls(con, [failed])
        row = con.execute(
            "SELECT etag, last_modified, consecutive_errors, last_error, last_http_status"
            " FROM feeds"
        ).fetchone()
        assert row == (
            '"v1"',
            "Sat, 01 Jan 2026 00:00:00 GMT",
            2,
            "HTTP 500 Internal Server Error",
            500,
        )
        record_feed_polls(con, [replace(ok, etag='"v2"')])
        row = con.execute("SELECT etag, consecutive_errors, last_error FROM feeds").fetchone()
        assert row == ('"v2"', 0, None)


def test_a_held_lock_becomes_one_readable_error(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    connect(db).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import duckdb, sys, time
                con = duckdb.connect({str(db)!r})
                print("locked", flush=True)
                sys.stdin.read()
                """
            ),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(WarehouseError, match="locked by another process") as caught:
            connect(db, lock_timeout=0.5)
        assert "\n" not in str(caught.value)
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=10)
        if holder.stdout is not None:
            holder.stdout.close()


def test_not_a_database_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.duckdb"
    bogus.write_text("this is not a database")
    with pytest.raises(WarehouseError, match="cannot open warehouse"):
        connect(bogus)
