"""A real pass against loopback sites: feeds, pages, 304s and every kind of bad input.

Each test serves its own site on 127.0.0.1, runs ``run_pass`` into a DuckDB file in tmp_path
and reads the warehouse back.
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from extractors.relevance import score_relevance
from extractors.text import text_hash
from extractors.types import Article, RunStats
from flows.config import Config, parse_config
from flows.passes import run_pass
from tests.support.pages import BODY, page, rss
from tests.support.sites import serve_site
from tests.support.warehouse import rows, writer_opens
from warehouse.connection import open_warehouse
from warehouse.loads import load_articles


def config_for(*feeds: tuple[str, str]) -> Config:
    return parse_config(
        {
            "feeds": [{"name": name, "url": url} for name, url in feeds],
            "fetch": {"allow_private_networks": ["127.0.0.1/32"], "timeout_seconds": 5},
            "extraction": {"workers": 2, "batch_size": 2},
        }
    )


def run(config: Config, db: Path) -> RunStats:
    return asyncio.run(run_pass(config, db, run_id=str(uuid.uuid4())))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_bad_feeds_and_pages_are_recorded_and_the_pass_goes_on(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    with serve_site() as site:
        site.add(
            "/good.xml",
            rss(
                site,
                [("/a", "Lavrov in Geneva"), ("/empty", "Empty page"), ("/broken", "Server error")],
            ),
            content_type="application/rss+xml",
        )
        site.add("/a", page("Lavrov in Geneva"))
        site.add("/empty", "")
        site.add("/broken", "oops", status=500)
        site.add("/html.xml", page("Not a feed"))
        site.add("/gone.xml", "missing", status=404)
        site.add(
            "/bad.xml", "<rss><channel><title>x</title><item><title>cut", content_type="text/xml"
        )
        unreachable = f"http://127.0.0.1:{closed_port()}/feed.xml"
        config = config_for(
            ("good", site.url("/good.xml")),
            ("html", site.url("/html.xml")),
            ("gone", site.url("/gone.xml")),
            ("bad", site.url("/bad.xml")),
            ("unreachable", unreachable),
        )
        stats = run(config, db)

    assert stats.status == "completed"
    assert stats.feeds_polled == 5
    articles = {
        r[0]: r[1:] for r in rows(db, "SELECT title, text_source, note, text FROM articles")
    }
    assert articles["Lavrov in Geneva"][0] == "page"
    assert "Sergei Lavrov met in Geneva" in articles["Lavrov in Geneva"][2]
    # the page failed: the feed's summary is kept and the reason recorded
    assert articles["Empty page"][:1] == ("feed",) and "empty" in articles["Empty page"][1]
    assert articles["Server error"][0] == "feed" and "HTTP 500" in articles["Server error"][1]
    assert articles["Server error"][2].startswith("A summary from the feed.")

    feeds = {
        r[0]: r[1:]
        for r in rows(
            db, "SELECT name, consecutive_errors, last_error, last_http_status FROM feeds"
        )
    }
    assert feeds["good"][:2] == (0, None)
    assert feeds["gone"][0] == 1 and "HTTP 404" in feeds["gone"][1] and feeds["gone"][2] == 404
    assert feeds["html"][0] == 1 and "not a feed" in feeds["html"][1].lower()
    assert feeds["unreachable"][0] == 1 and "cannot connect" in feeds["unreachable"][1]
    assert feeds["bad"][0] == 1 or feeds["bad"][1] is None  # truncated: refused, or partly read
    run_row = rows(db, "SELECT errors, feeds_polled, articles_new, status FROM runs")
    assert run_row == [(stats.errors, 5, 3, "completed")]
    assert stats.errors >= 5
    stages = {r[0] for r in rows(db, "SELECT stage FROM run_errors")}
    assert {"feed", "page", "extract"} <= stages


def test_second_pass_uses_conditional_get_and_adds_nothing(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    with serve_site() as site:
        site.add(
            "/feed.xml",
            rss(site, [("/a", "Lavrov in Geneva")]),
            content_type="application/rss+xml",
            etag='"v1"',
        )
        site.add("/a", page("Lavrov in Geneva"))
        config = config_for(("feed", site.url("/feed.xml")))
        first = run(config, db)
        second = run(config, db)
        feed_requests = site.requests_for("/feed.xml")
        page_requests = site.requests_for("/a")

    assert (first.articles_new, second.articles_new) == (1, 0)
    assert second.feeds_not_modified == 1
    assert feed_requests[1].header("if-none-match") == '"v1"'
    assert len(page_requests) == 1
    assert rows(db, "SELECT count(*) FROM articles") == [(1,)]
    assert rows(db, "SELECT last_http_status, etag FROM feeds") == [(304, '"v1"')]


def test_known_items_are_not_fetched_again(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    with serve_site() as site:
        site.add("/feed.xml", rss(site, [("/a", "First")]), content_type="application/rss+xml")
        site.add("/a", page("First"))
        site.add("/b", page("Second", BODY.replace("Geneva", "Vienna")))
        config = config_for(("feed", site.url("/feed.xml")))
        run(config, db)
        # the feed changed (no validators): one new item, one known
        site.add(
            "/feed.xml",
            rss(site, [("/b", "Second"), ("/a?utm_source=rss", "First")]),
            content_type="application/rss+xml",
        )
        second = run(config, db)
        a_requests = site.requests_for("/a")

    assert second.items_new == 1 and second.articles_new == 1
    assert len(a_requests) == 1
    assert rows(db, "SELECT count(*) FROM articles") == [(2,)]


def test_the_batches_of_a_pass_share_one_write_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = writer_opens(monkeypatch)
    db = tmp_path / "w.duckdb"
    places = ("Geneva", "Vienna", "Oslo", "Rome", "Bern")
    with serve_site() as site:
        items = [(f"/{n}", f"Talks in {place}") for n, place in enumerate(places)]
        site.add("/feed.xml", rss(site, items), content_type="application/rss+xml")
        for (path, title), place in zip(items, places, strict=True):
            site.add(path, page(title, BODY.replace("Geneva", place)))
        stats = run(config_for(("feed", site.url("/feed.xml"))), db)  # batches of two
    assert stats.status == "completed" and stats.articles_new == 5
    assert opened == [str(db)]
    # the connection was closed after the last batch: the file opens elsewhere
    assert rows(db, "SELECT count(*) FROM articles") == [(5,)]


def test_one_article_reached_by_two_urls_is_stored_once(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    with serve_site() as site:
        canonical = site.url("/story")
        site.add(
            "/feed.xml",
            rss(site, [("/story", "Story"), ("/story-print", "Story (print)")]),
            content_type="application/rss+xml",
        )
        site.add("/story", page("Story", canonical=canonical))
        site.add("/story-print", page("Story (print)", canonical=canonical))
        stats = run(config_for(("feed", site.url("/feed.xml"))), db)

    assert stats.articles_new == 1
    assert rows(db, "SELECT canonical_url FROM articles") == [(canonical,)]
    assert rows(db, "SELECT count(*) FROM article_urls") == [(2,)]


def test_atom_and_json_feeds(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    with serve_site() as site:
        atom = (
            "<?xml version='1.0' encoding='utf-8'?><feed xmlns='http://www.w3.org/2005/Atom'>"
            "<title>Atom</title><id>urn:x</id><updated>2026-11-19T10:00:00Z</updated>"
            f"<entry><title>Atom story</title><link href='{site.url('/atom-story')}'/>"
            "<id>urn:1</id><updated>2026-11-19T10:00:00Z</updated></entry></feed>"
        )
        json_feed = (
            '{"version": "https://jsonfeed.org/version/1.1", "title": "JSON", "items": ['
            f'{{"id": "1", "url": "{site.url("/json-story")}", "title": "JSON story",'
            ' "date_published": "2026-11-19T11:00:00+01:00"}]}'
        )
        site.add("/atom.xml", atom, content_type="application/atom+xml")
        site.add("/feed.json", json_feed, content_type="application/feed+json")
        site.add("/atom-story", page("Atom story"))
        site.add("/json-story", page("JSON story", BODY.replace("Geneva", "Vienna")))
        stats = run(
            config_for(("atom", site.url("/atom.xml")), ("json", site.url("/feed.json"))), db
        )

    assert stats.articles_new == 2
    published = dict(rows(db, "SELECT title, strftime(published_at, '%H:%M') FROM articles"))
    assert published == {"Atom story": "10:00", "JSON story": "10:00"}


def test_a_feed_not_due_is_skipped_unless_every_feed_is_asked_for(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    with serve_site() as site:
        feed = rss(site, [("/a", "Lavrov in Geneva")]).replace(
            "<channel>", "<channel><ttl>60</ttl>"
        )
        site.add("/feed.xml", feed, content_type="application/rss+xml")
        site.add("/a", page("Lavrov in Geneva"))
        config = config_for(("feed", site.url("/feed.xml")))
        run(config, db)
        skipped = run(config, db)
        forced = asyncio.run(run_pass(config, db, run_id=str(uuid.uuid4()), poll_all=True))
        polls = len(site.requests_for("/feed.xml"))

    assert (skipped.feeds_skipped, skipped.feeds_polled) == (1, 0)
    assert (forced.feeds_skipped, forced.feeds_polled) == (0, 1)
    assert polls == 2
    assert rows(db, "SELECT feeds_skipped FROM runs ORDER BY started_at") == [(0,), (1,), (0,)]
    assert rows(db, "SELECT count(*) FROM articles") == [(1,)]


def test_a_pass_prunes_index_postings_that_left_the_window(tmp_path: Path) -> None:
    # issue 3: memory follows the match index, so each pass drops what the window no longer holds
    db = tmp_path / "w.duckdb"
    long_ago = datetime.now(UTC) - timedelta(days=60)
    text = BODY.replace("Geneva", "Vienna") * 2
    old = Article(
        article_id="old",
        url="https://old.example/a",
        canonical_url="https://old.example/a",
        feed_url=None,
        source="old.example",
        title="Talks in Vienna",
        text=text,
        text_hash=text_hash(text),
        fetched_at=long_ago,
        published_at=long_ago,
        relevance=score_relevance("Talks in Vienna", text),
    )
    with open_warehouse(db) as con:
        load_articles(con, [old], run_id="earlier")
    assert rows(db, "SELECT count(*) > 0 FROM copy_keys WHERE article_id = 'old'") == [(True,)]
    with serve_site() as site:
        site.add(
            "/feed.xml", rss(site, [("/a", "Lavrov in Geneva")]), content_type="application/rss+xml"
        )
        site.add("/a", page("Lavrov in Geneva"))
        stats = run(config_for(("feed", site.url("/feed.xml"))), db)

    assert stats.articles_new == 1
    owners = rows(db, "SELECT DISTINCT article_id <> 'old' FROM copy_keys")
    assert owners == [(True,)]  # the new article's postings stay, the old one's are gone
    assert rows(db, "SELECT count(*) FROM articles") == [(2,)]  # articles themselves stay
