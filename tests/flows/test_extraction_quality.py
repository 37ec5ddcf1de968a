"""Extraction quality through a real pass: the pipeline must keep what trafilatura finds.

The 91 aeb-dev pages (human-annotated article text, ../shared/corpus) are published by a loopback
site with an RSS feed; one ``run_pass`` fetches, extracts (in the process pool) and stores them in
a DuckDB file. The stored text is scored against the annotation and compared with
``trafilatura.extract`` called directly on the same HTML: fetching, the worker pool, our
extraction settings, whitespace cleaning and loading may not cost more than 0.02 mean token F1.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trafilatura

from flows.config import parse_config
from flows.passes import run_pass
from tests.support.corpus import GoldPage, aeb_dev_missing, load_aeb_dev, token_f1
from tests.support.sites import FeedEntry, Site, rss_feed, serve_site
from warehouse.connection import connect

F1_TOLERANCE = 0.02
FEED_PATH = "/aeb-dev/feed.xml"


def _page_path(page: GoldPage) -> str:
    return f"/aeb-dev/{page.id}.html"


def _publish(site: Site, pages: list[GoldPage]) -> str:
    """Serve every page and a feed listing them, newest first; return the feed's URL."""
    newest = datetime(2019, 11, 20, 12, 0, tzinfo=UTC)
    entries = []
    for index, page in enumerate(pages):
        # no charset: the saved pages declare their own encoding, as their servers did
        site.add(_page_path(page), page.html, content_type="text/html")
        entries.append(
            FeedEntry(
                url=site.url(_page_path(page)),
                title=f"aeb-dev page {page.id[:12]}",
                published=newest - timedelta(minutes=index),
            )
        )
    site.add(FEED_PATH, rss_feed(entries, title="aeb-dev"), content_type="application/rss+xml")
    return site.url(FEED_PATH)


def _stored_texts(db_path: Path) -> dict[str, tuple[str, str]]:
    """``url -> (text, text_source)`` of every stored article."""
    con = connect(db_path, read_only=True)
    try:
        rows = con.execute("SELECT url, text, text_source FROM articles").fetchall()
    finally:
        con.close()
    return {url: (text or "", source) for url, text, source in rows}


def test_pass_extracts_as_well_as_trafilatura(tmp_path: Path) -> None:
    missing = aeb_dev_missing()
    if missing:
        pytest.skip(missing)
    pages = load_aeb_dev()
    db_path = tmp_path / "quality.duckdb"
    with serve_site() as site:
        config = parse_config(
            {
                "feeds": [{"name": "aeb-dev", "url": _publish(site, pages)}],
                "fetch": {"allow_private_networks": ["127.0.0.1/32"]},
            }
        )
        stats = asyncio.run(run_pass(config, db_path, run_id="extraction-quality"))
        # the feed and the site's robots.txt aside, each page is fetched exactly once
        page_requests = [r for r in site.requests if r.path not in (FEED_PATH, "/robots.txt")]

    assert stats.status == "completed"
    assert stats.items_new == len(pages)
    assert sorted(r.path for r in page_requests) == sorted(_page_path(p) for p in pages)

    stored = _stored_texts(db_path)
    pipeline_f1: list[float] = []
    direct_f1: list[float] = []
    for page in pages:
        url = site.url(_page_path(page))
        assert url in stored, f"page {page.id} ({page.url}) produced no article"
        text, source = stored[url]
        assert source == "page", f"page {page.id} fell back to the feed: {source}"
        assert text.strip(), f"page {page.id} ({page.url}) stored an empty text"
        pipeline_f1.append(token_f1(text, page.gold))
        direct_f1.append(token_f1(trafilatura.extract(page.html) or "", page.gold))
    assert len(stored) == len(pages)

    pipeline_mean = sum(pipeline_f1) / len(pages)
    direct_mean = sum(direct_f1) / len(pages)
    assert abs(pipeline_mean - direct_mean) <= F1_TOLERANCE, (
        f"mean token F1 over {len(pages)} pages: pipeline {pipeline_mean:.4f}, "
        f"trafilatura.extract {direct_mean:.4f}"
    )
