"""Many feeds over several loopback hosts (issue 8): a pass polls each feed once and stores its
validators, and a second pass records every feed's 304.

The sites listen on 127.0.0.2 ... 127.0.0.7 (Linux answers on all of 127/8), five feeds each.
The feeds list no items: this is about polling and what the warehouse records of it (the
pages of a pass are tests/flows/test_pass.py's business).
"""

from __future__ import annotations

import asyncio
from contextlib import ExitStack
from pathlib import Path

from flows.config import parse_config
from flows.passes import run_pass
from tests.support.sites import rss_feed, serve_site
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
