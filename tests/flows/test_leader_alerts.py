"""End to end: leader-call stories from real passes alert once per story, never per reprint."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from flows.config import parse_config
from flows.demo import load_seeds, render_feed, render_page
from flows.passes import run_pass
from tests.support.sites import serve_site
from tests.support.webhook import webhook_receiver
from warehouse.connection import open_warehouse


def feed_due_now(db: Path) -> None:
    """Let the feed's polling interval pass (the feed asks for a 15-minute ttl)."""
    with open_warehouse(db) as con:
        con.execute("UPDATE feeds SET next_poll_at = now() - INTERVAL 1 MINUTE")


def test_one_alert_per_leader_call_story_and_none_for_a_reprint(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    seeds = load_seeds()
    with serve_site() as site, webhook_receiver() as receiver:
        base = site.url("").rstrip("/")
        for seed in seeds:
            site.add(seed.path, render_page(seed, base))
        site.add("/feed.xml", render_feed(seeds, base), content_type="application/rss+xml")
        config = parse_config(
            {
                "feeds": [{"name": "wire", "url": site.url("/feed.xml")}],
                "fetch": {"allow_private_networks": ["127.0.0.1/32"]},
                "alerts": [{"url": receiver.url()}],
            }
        )
        first = asyncio.run(run_pass(config, db, run_id=str(uuid.uuid4())))
        assert first.alerts_sent == 3 and len(receiver.delivered) == 3

        # another outlet reprints seed 000 a day later: a copy in a story already alerted
        original = next(s for s in seeds if s.id == "000")
        reprint = replace(
            original,
            id="900",
            outlet="Evening Courier",
            slug="wire/putin-trump-rebuild-ties-reprint",
            published=original.published + timedelta(hours=20),
        )
        # served under another host name: another site, not the same page at two URLs
        other_site = base.replace("127.0.0.1", "localhost")
        site.add(reprint.path, render_page(reprint, other_site))
        feed = render_feed([*seeds, reprint], base)
        feed = feed.replace(f"{base}{reprint.path}", f"{other_site}{reprint.path}")
        site.add("/feed.xml", feed, content_type="application/rss+xml")
        feed_due_now(db)
        second = asyncio.run(run_pass(config, db, run_id=str(uuid.uuid4())))
        feed_due_now(db)
        third = asyncio.run(run_pass(config, db, run_id=str(uuid.uuid4())))
        posts = list(receiver.posts)

    assert second.articles_new == 1
    assert second.alerts_sent == 0 and third.alerts_sent == 0
    assert len(posts) == 3
    with open_warehouse(db, read_only=True) as con:
        stories = con.execute(
            "SELECT count(*) FILTER (leader_call), count(*) FROM stories"
        ).fetchone()
        reprint_row = con.execute(
            "SELECT a.copy_of IS NOT NULL, s.n_articles"
            " FROM articles a JOIN stories s USING (story_id) WHERE a.source = 'Evening Courier'"
        ).fetchone()
        alerts = con.execute(
            "SELECT count(*), count(*) FILTER (status = 'sent') FROM alerts"
        ).fetchone()
    assert stories == (3, 3)
    assert reprint_row == (True, 4)
    assert alerts == (3, 3)
