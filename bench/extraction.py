"""Extraction throughput: a full monitoring pass against a bare trafilatura loop, same pages.

The aeb-dev pages (../shared/corpus) are published by a loopback site (127.0.0.1 only) in
``--repeat K`` editions (default 5: 91 x 5 = 455 pages), one RSS feed per edition. Edition 0 is
the page as saved; later ones are revised with varied, seeded edits (a new headline, paragraphs
dropped, swapped, lightly edited, a sentence added: bench/editions.py), so each is a new
article, and a near-copy of the first, not a duplicate.

Four measurements, in the same run, over the same HTML:

* direct: ``trafilatura.extract(html)`` with default settings in a loop, one process;
* parallel: the same loop split over one forked process per CPU: what bare trafilatura gets
  from the machine's cores, the ceiling no pass can beat (two cores rarely give 2.0);
* fast: ``trafilatura.extract(html, fast=True)`` in a loop, one process: the extraction the
  pass runs (``[extraction] fallback = false``);
* pass: ``run_pass`` end to end into a fresh DuckDB file: feed polls, page fetches, extraction
  in the process pool (its start-up included), relevance scoring and loading.

Target (issue 8): the pass's pages/s at least 1.6 times the direct loop's.

Prints a table and writes bench/results/extraction.json. Usage:

    uv run python bench/extraction.py [--pages N] [--repeat K] [--seed S] [--output PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trafilatura

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

if TYPE_CHECKING:
    from bench.editions import PublishedPage

# project modules are imported inside the functions: every extraction worker re-imports this
# script as __mp_main__ when it starts (forkserver), and the pass should not pay for our imports

RESULTS = ROOT / "bench" / "results" / "extraction.json"
TARGET_RATIO = 1.6
DEFAULT_REPEAT = 5


def measure_pass(pages: list[PublishedPage]) -> dict[str, Any]:
    """One ``run_pass`` over a feed of ``pages`` into a fresh warehouse, timed end to end."""
    from bench.editions import pass_config, publish, stored
    from flows.config import parse_config
    from flows.passes import Stages, run_pass
    from tests.support.sites import serve_site

    plain = Stages()
    load_seconds: list[float] = []
    marks: dict[str, float] = {}

    async def timed_poll(*args: Any, **kwargs: Any) -> Any:
        marks["poll_start"] = time.perf_counter()
        try:
            return await plain.poll(*args, **kwargs)
        finally:
            marks["poll_end"] = time.perf_counter()

    async def timed_collect(*args: Any, **kwargs: Any) -> Any:
        marks.setdefault("first_collect", time.perf_counter())
        return await plain.collect(*args, **kwargs)

    async def timed_load(*args: Any, **kwargs: Any) -> Any:
        # loads run one at a time, in order, so their sum is time on the pass's critical path
        started = time.perf_counter()
        try:
            return await plain.load(*args, **kwargs)
        finally:
            marks["last_load_end"] = time.perf_counter()
            load_seconds.append(marks["last_load_end"] - started)

    stages = Stages(poll=timed_poll, collect=timed_collect, load=timed_load)

    with tempfile.TemporaryDirectory(prefix="newsmon-bench-") as folder, serve_site() as site:
        db_path = Path(folder) / "bench.duckdb"
        config = parse_config(pass_config(publish(site, pages)))
        cpu_before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        stats = asyncio.run(run_pass(config, db_path, run_id="bench-extraction", stages=stages))
        seconds = time.perf_counter() - started
        cpu_after = resource.getrusage(resource.RUSAGE_SELF)
        found = stored(db_path)
    return {
        "seconds": seconds,
        # where the wall time went: before the feeds were polled (opening the warehouse, the
        # run's row), polling, from the polls to the first batch (recording the polls, looking
        # the items up, starting the client and the pool), and after the last load (match index
        # pruning, search index, snapshot, the run's row)
        "phases": {
            "before_poll": marks.get("poll_start", started) - started,
            "poll": marks.get("poll_end", started) - marks.get("poll_start", started),
            "poll_to_first_batch": marks.get("first_collect", started)
            - marks.get("poll_end", started),
            "batches": marks.get("last_load_end", started) - marks.get("first_collect", started),
            "after_last_load": started + seconds - marks.get("last_load_end", started),
        },
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
        "copies": stats.copies,
        "stories_new": stats.stories_new,
        "articles_stored": found.articles,
        "articles_from_page": found.from_page,
        "distinct_texts": found.distinct_texts,
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


def _extract_share(pages: list[PublishedPage], start: int, step: int, fast: bool) -> None:
    for page in pages[start::step]:
        trafilatura.extract(page.html, fast=fast)


def measure_parallel(
    pages: list[PublishedPage], processes: int, *, fast: bool = False
) -> dict[str, Any]:
    """The ``measure_direct`` loop split over ``processes`` forked processes, timed from the
    first start to the last exit: what bare trafilatura gets from the machine's cores, the
    real ceiling of a pass (the issue's 2.0 assumes two cores scale perfectly)."""
    context = multiprocessing.get_context("fork")  # the children inherit the pages
    workers = [
        context.Process(target=_extract_share, args=(pages, i, processes, fast))
        for i in range(processes)
    ]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    seconds = time.perf_counter() - started
    failed = [w.exitcode for w in workers if w.exitcode != 0]
    if failed:
        raise RuntimeError(f"an extraction process failed: exit codes {failed}")
    return {"processes": processes, "seconds": seconds, "pages_per_second": len(pages) / seconds}


def measure_fast(pages: list[PublishedPage]) -> dict[str, Any]:
    """``trafilatura.extract(html, fast=True)``, one process: the extraction the pass runs
    (``[extraction] fallback = false``, trafilatura's fallback extractors off)."""
    trafilatura.extract(pages[0].html, fast=True)
    started = time.perf_counter()
    for page in pages:
        trafilatura.extract(page.html, fast=True)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "pages_per_second": len(pages) / seconds}


def run(
    page_count: int | None = None,
    repeat: int = DEFAULT_REPEAT,
    *,
    seed: int | None = None,
    output: Path | None = None,
) -> dict[str, Any]:
    """Publish ``repeat`` editions of the first ``page_count`` aeb-dev pages (all 91 by
    default); time the loop, then the pass. Written to ``output`` when given."""
    from bench.editions import SEED, edit_counts, editions
    from bench.machine import machine_info, write_result
    from tests.support.corpus import load_aeb_dev

    seed = SEED if seed is None else seed
    corpus = load_aeb_dev(page_count)
    pages = editions(corpus, len(corpus) * repeat, seed)
    load_before = os.getloadavg()
    direct = measure_direct(pages)
    parallel = measure_parallel(pages, os.cpu_count() or 2)
    fast = measure_fast(pages)
    full = measure_pass(pages)
    ratio = full["pages_per_second"] / direct["pages_per_second"]
    result = {
        "benchmark": "extraction",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "corpus": "aeb-dev",
        "corpus_pages": len(corpus),
        "repeat": repeat,
        "seed": seed,
        "pages": len(pages),
        "pages_edited": sum(1 for p in pages if p.edited),
        "edits": edit_counts(pages),
        "html_bytes": sum(len(p.html) for p in pages),
        "pass": full,
        "direct": direct,
        "parallel": parallel,
        "fast": fast,
        "ratio_pass_to_direct": ratio,
        # what bare trafilatura gets from all the cores: the pass cannot do better
        "ratio_parallel_to_direct": parallel["pages_per_second"] / direct["pages_per_second"],
        "ratio_pass_to_parallel": full["pages_per_second"] / parallel["pages_per_second"],
        "target_ratio": TARGET_RATIO,
        "meets_target": ratio >= TARGET_RATIO and full["articles_stored"] == len(pages),
        "machine": machine_info(load_before),
    }
    write_result(output, result)
    return result


def print_table(result: dict[str, Any]) -> None:
    full, direct = result["pass"], result["direct"]
    rows = [
        ("full pass (run_pass, process pool)", full["seconds"], full["pages_per_second"]),
        ("trafilatura.extract loop (1 process)", direct["seconds"], direct["pages_per_second"]),
        (
            f"the same loop over {result['parallel']['processes']} processes",
            result["parallel"]["seconds"],
            result["parallel"]["pages_per_second"],
        ),
        (
            "extract(fast=True) loop (1 process)",
            result["fast"]["seconds"],
            result["fast"]["pages_per_second"],
        ),
    ]
    print(
        f"{result['pages']} pages ({result['corpus_pages']} aeb-dev pages x {result['repeat']}), "
        f"{result['html_bytes'] / 1e6:.1f} MB of HTML, {result['machine']['cpu_count']} CPUs"
    )
    print(f"{'measurement':<40} {'seconds':>8} {'pages/s':>8}")
    for name, seconds, rate in rows:
        print(f"{name:<40} {seconds:>8.2f} {rate:>8.1f}")
    verdict = "pass" if result["meets_target"] else "FAIL"
    print(
        f"{'ratio pass / direct':<40} {'':>8} {result['ratio_pass_to_direct']:>8.2f}"
        f"  (target >= {result['target_ratio']}: {verdict})"
    )
    print(
        f"{'ratio loop over all cores / direct':<40} {'':>8} "
        f"{result['ratio_parallel_to_direct']:>8.2f}  (the machine's ceiling for the pass)"
    )
    edits = ", ".join(f"{name} {count}" for name, count in result["edits"].items())
    print(f"editions after the first: {result['pages_edited']} pages edited ({edits})")
    print(
        "pass phases (s): "
        + ", ".join(
            f"{name.replace('_', ' ')} {value:.2f}" for name, value in full["phases"].items()
        )
    )
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
        "--repeat",
        type=int,
        default=DEFAULT_REPEAT,
        help=f"editions of each page, distinct URLs (default: {DEFAULT_REPEAT})",
    )
    parser.add_argument("--seed", type=int, default=None, help="seed of the edits (default: 8)")
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
    result = run(args.pages, args.repeat, seed=args.seed, output=args.output)
    print_table(result)
    print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
