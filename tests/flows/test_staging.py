"""A reader that holds the warehouse through a pass's load: the batch is staged, not lost."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

from extractors.types import RunStats
from flows.config import parse_config
from flows.passes import run_pass
from tests.support.pages import page, rss
from tests.support.sites import serve_site
from warehouse.connection import open_warehouse
from warehouse.staging import staged_batches

HOLDER = textwrap.dedent(
    """
    import sys, time, duckdb
    while True:
        try:
            con = duckdb.connect(sys.argv[1], read_only=True)
            break
        except duckdb.IOException:
            time.sleep(0.05)
    print("holding", flush=True)
    time.sleep(float(sys.argv[2]))
    con.close()
    """
)


def test_a_batch_that_cannot_be_loaded_is_staged_and_loaded_by_the_next_pass(
    tmp_path: Path,
) -> None:
    db = tmp_path / "w.duckdb"
    with open_warehouse(db):
        pass
    with serve_site() as site:
        site.add(
            "/feed.xml",
            rss(site, [("/a", "First"), ("/b", "Second")]),
            content_type="application/rss+xml",
            etag='"v1"',
        )
        site.add("/a", page("First"), delay=1.5)
        site.add(
            "/b", page("Second", "Another text about Lavrov and Blinken in Vienna. " * 6), delay=1.5
        )
        config = parse_config(
            {
                "feeds": [{"name": "feed", "url": site.url("/feed.xml")}],
                "fetch": {"allow_private_networks": ["127.0.0.1/32"]},
            }
        )
        outcome: list[RunStats] = []
        worker = threading.Thread(
            target=lambda: outcome.append(
                asyncio.run(run_pass(config, db, run_id=str(uuid.uuid4()), lock_timeout=0.5))
            )
        )
        worker.start()
        deadline = time.monotonic() + 30
        while not site.requests_for("/a") and time.monotonic() < deadline:
            time.sleep(0.02)
        # the pages are being fetched: a reader now opens the file and keeps it past the load
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(db), "6"], stdout=subprocess.PIPE, text=True
        )
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
            worker.join(timeout=60)
        finally:
            holder.wait(timeout=30)
            if holder.stdout is not None:
                holder.stdout.close()
        assert outcome and outcome[0].articles_new == 0 and outcome[0].errors >= 1
        assert len(staged_batches(db)) == 1

        second = asyncio.run(run_pass(config, db, run_id=str(uuid.uuid4())))

    assert second.articles_new == 2
    assert staged_batches(db) == []
    with open_warehouse(db, read_only=True) as con:
        titles = sorted(r[0] for r in con.execute("SELECT title FROM articles").fetchall())
    assert titles == ["First", "Second"]
