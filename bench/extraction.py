"""Extraction throughput: a full monitoring pass against a bare trafilatura loop, same pages.

The aeb-dev pages (../shared/corpus) are published by a loopback site (127.0.0.1 only) with an
RSS feed listing them. ``--repeat K`` publishes K editions of each page under distinct URLs, each
edition after the first with its paragraphs' openings changed, so they are new articles, not
duplicates.

Two measurements, in the same run, over the same HTML:

* pass: ``run_pass`` end to end into a fresh DuckDB file: feed poll, page fetches, extraction in
  the process pool (its start-up included), relevance scoring and loading;
* direct: ``trafilatura.extract(html)`` with default settings in a loop, one process.

Prints a table and writes bench/results/extraction.json. Usage:

    uv run python bench/extraction.py [--pages N] [--repeat K]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trafilatura

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    # the loopback site and the corpus loader live in tests/support, shared with the tests
    sys.path.insert(0, str(ROOT))

if TYPE_CHECKING:
    from tests.support.corpus import GoldPage
    from tests.support.sites import Site

# project modules are imported inside the functions: every extraction worker re-imports this
# script as __mp_main__ when it starts (forkserver), and the pass should not pay for our imports

RESULTS = ROOT / "bench" / "results" / "extraction.json"
FEED_PATH = "/bench/feed.xml"


@dataclass(frozen=True)
class PublishedPage:
    """One page as the loopback site serves it: its path and its HTML (possibly edited)."""

    path: str
    html: bytes
    edited: bool


def edition(page: GoldPage, number: int) -> PublishedPage:
    """Edition ``number`` of ``page``: 0 is the page as saved; later ones have edited paragraphs.

    ``Edition N:`` goes in front of every text node that starts like an annotated paragraph
    (``>`` then the paragraph's first 20 characters), so the extracted text, and its hash,
    differs from every other edition's: each edition is a new article, not a duplicate. A page
    where no paragraph is found gets the words before its first ``</p>`` (``edited`` false).
    """
    path = f"/bench/{page.id}.html" if number == 0 else f"/bench/e{number}/{page.id}.html"
    if number == 0:
        return PublishedPage(path, page.html, edited=False)
    marker = f"Edition {number}: ".encode()
    html, edits = page.html, 0
    for paragraph in page.gold.splitlines():
        paragraph = paragraph.strip()
        if len(paragraph) < 40:
            continue
        # only text nodes: the same words in meta tags or JSON-LD are left alone
        start = re.compile(rb"(>\s*)(" + re.escape(paragraph[:20].encode("utf-8")) + rb")")
        html, count = start.subn(lambda m: m.group(1) + marker + m.group(2), html)
        edits += count
    if edits:
        return PublishedPage(path, html, edited=True)
    at = html.find(b"</p>")
    at = at if at >= 0 else len(html)
    return PublishedPage(path, html[:at] + b" " + marker + html[at:], edited=False)


def publish(site: Site, pages: list[PublishedPage]) -> str:
    """Serve the pages and a feed listing them, newest first; return the feed's URL."""
    from tests.support.sites import FeedEntry, rss_feed

    newest = datetime(2019, 11, 20, 12, 0, tzinfo=UTC)
    entries = []
    for index, page in enumerate(pages):
        # no charset: the saved pages declare their own encoding, as their servers did
        site.add(page.path, page.html, content_type="text/html")
        entries.append(
            FeedEntry(
                url=site.url(page.path),
                title=f"bench page {index}",
                published=newest - timedelta(minutes=index),
            )
        )
    feed = rss_feed(entries, title="newsmon bench")
    site.add(FEED_PATH, feed, content_type="application/rss+xml")
    return site.url(FEED_PATH)


def measure_pass(pages: list[PublishedPage]) -> dict[str, Any]:
    """One ``run_pass`` over a feed of ``pages`` into a fresh warehouse, timed end to end."""
    from flows.config import parse_config
    from flows.passes import Stages, run_pass
    from tests.support.sites import serve_site
    from warehouse.connection import connect

    load = Stages().load
    load_seconds: list[float] = []

    async def timed_load(*args: Any, **kwargs: Any) -> Any:
        # loads run one at a time, in order, so their sum is time on the pass's critical path
        started = time.perf_counter()
        try:
            return await load(*args, **kwargs)
        finally:
            load_seconds.append(time.perf_counter() - started)

    with tempfile.TemporaryDirectory(prefix="newsmon-bench-") as folder, serve_site() as site:
        db_path = Path(folder) / "bench.duckdb"
        config = parse_config(
            {
                "feeds": [{"name": "bench", "url": publish(site, pages)}],
                "fetch": {"allow_private_networks": ["127.0.0.1/32"]},
            }
        )
        cpu_before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        stats = asyncio.run(
            run_pass(config, db_path, run_id="bench-extraction", stages=Stages(load=timed_load))
        )
        seconds = time.perf_counter() - started
        cpu_after = resource.getrusage(resource.RUSAGE_SELF)
        con = connect(db_path, read_only=True)
        try:
            row = con.execute(
                "SELECT count(*), count(DISTINCT text_hash), "
                "count(*) FILTER (WHERE text_source = 'page') FROM articles"
            ).fetchone()
        finally:
            con.close()
    stored, distinct, from_page = row if row else (0, 0, 0)
    return {
        "seconds": seconds,
        "pages_per_second": len(pages) / seconds,
        "load_seconds": sum(load_seconds),
        "load_batches": len(load_seconds),
        # the pass's own process (fetching, scoring, loading, the loopback site); the
        # extraction workers are not counted here
        "main_process_cpu_seconds": (cpu_after.ru_utime - cpu_before.ru_utime)
        + (cpu_after.ru_stime - cpu_before.ru_stime),
        "status": stats.status,
        "pages_fetched": stats.pages_fetched,
        "pages_failed": stats.pages_failed,
        "errors": stats.errors,
        "articles_stored": stored,
        "articles_from_page": from_page,
        "distinct_texts": distinct,
    }


def measure_direct(pages: list[PublishedPage]) -> dict[str, Any]:
    """``trafilatura.extract`` (default settings) over the same HTML, one process, timed."""
    trafilatura.extract(pages[0].html)  # warm-up outside the timing: lazy imports and tables
    started = time.perf_counter()
    texts = [trafilatura.extract(page.html) for page in pages]
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "pages_per_second": len(pages) / seconds,
        "pages_with_text": sum(1 for t in texts if t),
    }


def run(page_count: int | None, repeat: int) -> dict[str, Any]:
    from tests.support.corpus import load_aeb_dev

    corpus = load_aeb_dev(page_count)
    pages = [edition(page, number) for number in range(repeat) for page in corpus]
    load_before = os.getloadavg()
    direct = measure_direct(pages)
    full = measure_pass(pages)
    return {
        "benchmark": "extraction",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "corpus": "aeb-dev",
        "corpus_pages": len(corpus),
        "repeat": repeat,
        "pages": len(pages),
        "pages_edited": sum(1 for p in pages if p.edited),
        "html_bytes": sum(len(p.html) for p in pages),
        "pass": full,
        "direct": direct,
        "ratio_pass_to_direct": full["pages_per_second"] / direct["pages_per_second"],
        "machine": {
            "cpu_count": os.cpu_count(),
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "trafilatura": trafilatura.__version__,
        },
    }


def print_table(result: dict[str, Any]) -> None:
    full, direct = result["pass"], result["direct"]
    rows = [
        ("full pass (run_pass, process pool)", full["seconds"], full["pages_per_second"]),
        ("trafilatura.extract loop (1 process)", direct["seconds"], direct["pages_per_second"]),
    ]
    print(
        f"{result['pages']} pages ({result['corpus_pages']} aeb-dev pages x {result['repeat']}), "
        f"{result['html_bytes'] / 1e6:.1f} MB of HTML, {result['machine']['cpu_count']} CPUs"
    )
    print(f"{'measurement':<40} {'seconds':>8} {'pages/s':>8}")
    for name, seconds, rate in rows:
        print(f"{name:<40} {seconds:>8.2f} {rate:>8.1f}")
    print(f"{'ratio pass / direct':<40} {'':>8} {result['ratio_pass_to_direct']:>8.2f}")
    print(
        f"pass: {full['load_seconds']:.2f} s loading ({full['load_batches']} batches), "
        f"{full['main_process_cpu_seconds']:.2f} s CPU in the main process"
    )
    print(
        f"pass: {full['articles_stored']} articles stored, {full['articles_from_page']} from "
        f"the page, {full['distinct_texts']} distinct texts, {full['errors']} errors; "
        f"load average {result['machine']['load_average_before'][0]:.2f} before, "
        f"{result['machine']['load_average_after'][0]:.2f} after"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--pages", type=int, default=None, help="use the first N aeb-dev pages (default: all 91)"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="editions of each page, distinct URLs (default: 3)"
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"default: {RESULTS}")
    args = parser.parse_args(argv)
    if args.pages is not None and args.pages < 1:
        parser.error("--pages must be at least 1")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    from tests.support.corpus import aeb_dev_missing

    missing = aeb_dev_missing()
    if missing:
        print(f"cannot run: {missing}", file=sys.stderr)
        return 1
    result = run(args.pages, args.repeat)
    print_table(result)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
