"""Many feeds over several loopback hosts (issue 8): a pass polls each feed once and stores its
validators, and a second pass records every feed's 304. And a big feed's parse does not stall
the other polls of the pass.

The sites listen on 127.0.0.2 ... 127.0.0.7 (Linux answers on all of 127/8), five feeds each.
The feeds list no items: this is about polling and what the warehouse records of it (the
pages of a pass are tests/flows/test_pass.py's business).
"""

from __future__ import annotations

import asyncio
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from extractors.feeds import parse_feed
from extractors.types import FeedPoll, ParsedFeed
from flows import pipeline
from flows.config import Config, parse_config
from flows.passes import pass_settings, run_pass
from flows.pipeline import FeedSpec, poll_feeds
from tests.support.sites import FeedEntry, rss_feed, serve_site
from warehouse.connection import open_warehouse

HOSTS = [f"127.0.0.{n}" for n in range(2, 8)]
FEEDS_PER_HOST = 5
LAST_MODIFIED = "Wed, 20 Nov 2019 12:00:00 GMT"


def test_a_pass_of_304s_records_every_feed_as_not_modified(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    etags: dict[str, str] = {}
    with ExitStack() as stack:
        sites = [stack.enter_context(serve_site(host=host)) for host in HOSTS]
        for number, site in enumerate(sites):
            for k in range(FEEDS_PER_HOST):
                path = f"/feeds/{k}.xml"
                etags[site.url(path)] = f'"{number}-{k}-v1"'
                site.add(
                    path,
                    rss_feed([], title=f"feed {k}"),
                    content_type="application/rss+xml",
                    etag=etags[site.url(path)],
                    last_modified=LAST_MODIFIED,
                )
        config = parse_config(
            {
                "feeds": [{"name": f"feed {i}", "url": url} for i, url in enumerate(etags)],
                "fetch": {"allow_private_networks": ["127.0.0.0/8"], "timeout_seconds": 5},
            }
        )
        first = asyncio.run(run_pass(config, db, run_id="first"))
        for site in sites:
            site.clear_log()
        second = asyncio.run(run_pass(config, db, run_id="second", poll_all=True))
        asked = {
            site.url(r.path): r.header("if-none-match") for site in sites for r in site.requests
        }
        count = sum(len(site.requests) for site in sites)

    n = len(HOSTS) * FEEDS_PER_HOST
    assert (first.feeds_polled, first.feeds_failed, first.feeds_not_modified) == (n, 0, 0)
    assert (second.feeds_polled, second.feeds_failed, second.feeds_not_modified) == (n, 0, n)
    # every feed asked once, with the validator the first pass stored for it
    assert count == n and asked == etags
    with open_warehouse(db, read_only=True) as con:
        stored = {
            str(r[0]): tuple(r[1:])
            for r in con.execute(
                "SELECT feed_url, last_http_status, etag, last_modified, consecutive_errors,"
                " last_error FROM feeds"
            ).fetchall()
        }
        runs = con.execute("SELECT run_id, feeds_polled, errors FROM runs ORDER BY 1").fetchall()
    assert stored == {url: (304, etag, LAST_MODIFIED, 0, None) for url, etag in etags.items()}
    assert [tuple(r) for r in runs] == [("first", n, 0), ("second", n, 0)]


def test_a_big_feed_is_parsed_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    # 6,000 items (1.2 MB): feedparser takes over a second on it, time in which the event loop,
    # were the parse on it, would serve no other fetch of the pass. The test records where each
    # parse ran and whether the loop turned meanwhile, not how long the loop waited: a gap
    # between ticks measures the machine as much as the code (a CI run saw 0.5 s gaps with the
    # parse on its thread, under a 1.1 s parse)
    published = datetime(2026, 11, 19, 10, 0, tzinfo=UTC)
    entries = [FeedEntry(f"http://127.0.0.1/a/{i}", f"Story {i}", published) for i in range(6000)]
    parses: dict[str, Parse] = {}

    def recorded_parse(content: bytes, *, url: str, content_type: str | None) -> ParsedFeed:
        started = time.monotonic()
        try:
            return parse_feed(content, url=url, content_type=content_type)
        finally:
            parses[url.rsplit("/", 1)[-1]] = Parse(threading.get_ident(), started, time.monotonic())

    monkeypatch.setattr(pipeline, "parse_feed", recorded_parse)
    with serve_site() as site:
        site.add("/big.xml", rss_feed(entries), content_type="application/rss+xml")
        site.add("/small.xml", rss_feed(entries[:3]), content_type="application/rss+xml")
        config = parse_config(
            {
                "feeds": [
                    {"name": "big", "url": site.url("/big.xml")},
                    {"name": "small", "url": site.url("/small.xml")},
                ],
                "fetch": {"allow_private_networks": ["127.0.0.1/32"], "timeout_seconds": 60},
            }
        )
        polled = asyncio.run(polled_with_a_ticker(config))

    assert [len(p.feed.items) if p.feed else p.error for p in polled.polls] == [6000, 3]
    big, small = parses["big.xml"], parses["small.xml"]
    # the big feed on a thread of its own, the small one on the loop (the hop would cost more)
    assert big.thread != polled.loop_thread and small.thread == polled.loop_thread
    # and the loop went on turning while the big feed was parsed: on the loop, it could not
    # tick once
    assert any(big.started < tick < big.ended for tick in polled.ticks), (big, polled.ticks[-3:])


@dataclass(frozen=True)
class Parse:
    thread: int
    started: float
    ended: float


@dataclass(frozen=True)
class Polled:
    polls: list[FeedPoll]
    loop_thread: int
    ticks: list[float]  # when a 10 ms ticker on the loop woke, while the feeds were polled


async def polled_with_a_ticker(config: Config) -> Polled:
    """``poll_feeds`` over the config's feeds, with a 10 ms ticker running on the same loop."""
    ticks: list[float] = []
    done = asyncio.Event()

    async def tick() -> None:
        while not done.is_set():
            await asyncio.sleep(0.01)
            ticks.append(time.monotonic())

    ticker = asyncio.create_task(tick())
    try:
        feeds = [FeedSpec(f.url, f.name) for f in config.feeds]
        polls = await poll_feeds(feeds, {}, pass_settings(config))
    finally:
        done.set()
        await ticker
    return Polled(polls, threading.get_ident(), ticks)
