"""Orchestration overhead: the same pass as the Prefect flow and as a plain ``run_pass`` call.

Target (issue 8): the flow adds at most 15% to a pass over 400 pages.

The pages are those of bench/extraction.py: the aeb-dev pages in ``--repeat K`` editions
(default 5: 455 pages) with varied, seeded edits (bench/editions.py), one RSS feed per edition,
served by a loopback site (127.0.0.1) in this process. Both variants read the same
``newsmon.toml`` (the default config, the benchmark's feeds, fetching allowed from 127.0.0.1)
and store into a fresh DuckDB file each time:

* flow: ``flows.monitor.monitor(config_path=..., db_path=...)``, the deployment's flow, against a
  temporary Prefect API (``prefect.testing.utilities.prefect_test_harness``, as the tests use);
  a flow run, a task run per poll, collect and load batch, the library's logs shipped to the
  API, the summary artifact, the leader-call events;
* plain: ``flows.passes.run_pass(load_config(path), db)``, the same orchestration without
  Prefect (what the demo runs).

The harness's start-up is not counted: only the call is timed. After each flow call, the
logs still queued for the API are sent (``APILogWorker.drain_all``) before the next pass and
that time is reported beside the call's. Before the timed passes, one untimed warm-up of each
variant over ten pages starts the extraction pool's fork server and Prefect's client. The timed
passes alternate (plain, flow, flow, plain, plain, flow for the default three ``--rounds``), so
a drift in the machine's load falls on both; the overhead is the flow's median over the plain
call's median, minus one.

Wall time on a shared two-core machine moves by tens of percent from one pass to the next, so
each pass also records CPU time, which hardly moves with the load: of this process (every
thread: the event loop, the loopback site, Prefect's client and services) and of the API
server. What the flow adds in CPU is the steadier measure of its cost.

Prints a table and writes bench/results/orchestration.json. Usage:

    uv run python bench/orchestration.py [--pages N] [--repeat K] [--rounds R] [--output PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.memory import command_line, cpu_seconds, process_parents, tree  # noqa: E402

if TYPE_CHECKING:
    from bench.editions import PublishedPage

# project modules are imported inside the functions (see bench/extraction.py)

RESULTS = ROOT / "bench" / "results" / "orchestration.json"
TARGET_OVERHEAD = 0.15
DEFAULT_REPEAT = 5
DEFAULT_ROUNDS = 3
WARM_UP_PAGES = 10


class CpuMeter:
    """CPU time since it was made: of this process (every thread: the event loop, the loopback
    site, Prefect's services) and of the Prefect API server the harness started, if any.

    CPU time, unlike wall time, hardly moves with the machine's load: what the flow adds in CPU
    is the steadier measure on a shared machine."""

    def __init__(self) -> None:
        self._servers = _api_servers()
        self._main = resource.getrusage(resource.RUSAGE_SELF)
        self._server_start = {pid: cpu_seconds(pid) or 0.0 for pid in self._servers}

    def read(self) -> dict[str, float]:
        main = resource.getrusage(resource.RUSAGE_SELF)
        server = sum(
            (cpu_seconds(pid) or start) - start for pid, start in self._server_start.items()
        )
        return {
            "main_process_cpu_seconds": (main.ru_utime - self._main.ru_utime)
            + (main.ru_stime - self._main.ru_stime),
            "api_server_cpu_seconds": server,
        }


def _api_servers() -> list[int]:
    """The Prefect API server processes below this one (the harness's uvicorn)."""
    me = os.getpid()
    return [
        pid for pid in tree(me, process_parents()) if pid != me and b"uvicorn" in command_line(pid)
    ]


def time_plain(config_path: Path, db_path: Path, run_id: str) -> dict[str, Any]:
    from bench.editions import stored
    from flows.config import load_config
    from flows.passes import run_pass

    config = load_config(config_path)
    cpu = CpuMeter()
    started = time.perf_counter()
    stats = asyncio.run(run_pass(config, db_path, run_id=run_id))
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        **cpu.read(),
        "status": stats.status,
        "articles_new": stats.articles_new,
        "errors": stats.errors,
        "articles_stored": stored(db_path).articles,
    }


def time_flow(config_path: Path, db_path: Path) -> dict[str, Any]:
    from prefect.logging.handlers import APILogWorker

    from bench.editions import stored
    from flows.monitor import monitor

    cpu = CpuMeter()
    started = time.perf_counter()
    summary = asyncio.run(monitor(config_path=str(config_path), db_path=str(db_path)))
    seconds = time.perf_counter() - started
    used = cpu.read()
    # logs the flow left queued go to the API now, not during the next timed pass
    flushed = time.perf_counter()
    APILogWorker.drain_all(timeout=60)
    return {
        "seconds": seconds,
        **used,
        "log_flush_seconds": time.perf_counter() - flushed,
        "status": summary["status"],
        "articles_new": summary["articles_new"],
        "errors": summary["errors"],
        "articles_stored": stored(db_path).articles,
    }


def order(rounds: int) -> list[str]:
    """plain, flow, flow, plain, plain, flow, ...: each variant first in every other round."""
    variants = []
    for index in range(rounds):
        variants += ["plain", "flow"] if index % 2 == 0 else ["flow", "plain"]
    return variants


def measure(pages: list[PublishedPage], rounds: int) -> dict[str, Any]:
    from prefect.testing.utilities import prefect_test_harness

    from bench.editions import config_toml, publish
    from tests.support.sites import serve_site

    with tempfile.TemporaryDirectory(prefix="newsmon-bench-") as folder, serve_site() as site:
        work = Path(folder)
        feeds = publish(site, pages)
        config = work / "newsmon.toml"
        config.write_text(config_toml(feeds), encoding="utf-8")
        warm_up = work / "warm-up.toml"
        warm_up_feed = site.url("/bench/warm-up.xml")
        _warm_up_feed(site, pages[:WARM_UP_PAGES])
        warm_up.write_text(config_toml([warm_up_feed]), encoding="utf-8")

        started = time.perf_counter()
        with prefect_test_harness(server_startup_timeout=180):
            harness_seconds = time.perf_counter() - started
            warm = {
                "plain": time_plain(warm_up, work / "warm-plain.duckdb", "bench-warm-up"),
                "flow": time_flow(warm_up, work / "warm-flow.duckdb"),
            }
            timed: list[dict[str, Any]] = []
            for index, variant in enumerate(order(rounds)):
                db_path = work / f"{index}-{variant}.duckdb"
                print(f"orchestration: {variant} pass {index + 1} of {rounds * 2} ...", flush=True)
                if variant == "flow":
                    one = time_flow(config, db_path)
                else:
                    one = time_plain(config, db_path, f"bench-plain-{index}")
                timed.append({"variant": variant, **one})
    return {"harness_start_seconds": harness_seconds, "warm_up": warm, "passes": timed}


def _warm_up_feed(site: Any, pages: list[PublishedPage]) -> None:
    from bench.editions import feed_document

    document = feed_document(site.base_url, [p.path for p in pages])
    site.add("/bench/warm-up.xml", document, content_type="application/rss+xml")


def run(
    page_count: int | None = None,
    repeat: int = DEFAULT_REPEAT,
    *,
    rounds: int = DEFAULT_ROUNDS,
    seed: int | None = None,
    output: Path | None = None,
) -> dict[str, Any]:
    """Time ``rounds`` flow and ``rounds`` plain passes over ``repeat`` editions of the first
    ``page_count`` aeb-dev pages; written to ``output`` when given."""
    from bench.editions import SEED, edit_counts, editions
    from bench.machine import machine_info, write_result
    from tests.support.corpus import load_aeb_dev

    seed = SEED if seed is None else seed
    corpus = load_aeb_dev(page_count)
    pages = editions(corpus, len(corpus) * repeat, seed)
    load_before = os.getloadavg()
    measured = measure(pages, rounds)
    plain = [p["seconds"] for p in measured["passes"] if p["variant"] == "plain"]
    flow = [p["seconds"] for p in measured["passes"] if p["variant"] == "flow"]
    flushes = [p["log_flush_seconds"] for p in measured["passes"] if p["variant"] == "flow"]
    overhead = statistics.median(flow) / statistics.median(plain) - 1
    cpu_plain = [
        p["main_process_cpu_seconds"] for p in measured["passes"] if p["variant"] == "plain"
    ]
    cpu_flow = [p["main_process_cpu_seconds"] for p in measured["passes"] if p["variant"] == "flow"]
    cpu_api = [p["api_server_cpu_seconds"] for p in measured["passes"] if p["variant"] == "flow"]
    with_flush = (
        statistics.median(f + x for f, x in zip(flow, flushes, strict=True))
        / statistics.median(plain)
        - 1
    )
    same_work = all(
        p["status"] == "completed" and p["articles_stored"] == len(pages)
        for p in measured["passes"]
    )
    result = {
        "benchmark": "orchestration",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "corpus": "aeb-dev",
        "corpus_pages": len(corpus),
        "repeat": repeat,
        "seed": seed,
        "pages": len(pages),
        "edits": edit_counts(pages),
        "rounds": rounds,
        **measured,
        "plain_median_seconds": statistics.median(plain),
        "flow_median_seconds": statistics.median(flow),
        "plain_pages_per_second": len(pages) / statistics.median(plain),
        "flow_pages_per_second": len(pages) / statistics.median(flow),
        "plain_seconds_range": [min(plain), max(plain)],
        "flow_seconds_range": [min(flow), max(flow)],
        "overhead": overhead,
        # the CPU the flow adds: in this process (task runs, logs, API calls), and in the API
        # server it talks to (elsewhere in production), per pass, medians
        "plain_main_cpu_seconds": statistics.median(cpu_plain),
        "flow_main_cpu_seconds": statistics.median(cpu_flow),
        "flow_added_main_cpu_seconds": statistics.median(cpu_flow) - statistics.median(cpu_plain),
        "flow_api_server_cpu_seconds": statistics.median(cpu_api),
        "overhead_with_log_flush": with_flush,
        "target_overhead": TARGET_OVERHEAD,
        "same_work": same_work,
        "meets_target": overhead <= TARGET_OVERHEAD and same_work,
        "machine": machine_info(load_before),
    }
    write_result(output, result)
    return result


def print_table(result: dict[str, Any]) -> None:
    print(
        f"{result['pages']} pages ({result['corpus_pages']} aeb-dev pages x {result['repeat']}), "
        f"{result['rounds']} rounds; Prefect harness started in "
        f"{result['harness_start_seconds']:.1f} s (not counted)"
    )
    print(
        f"{'pass':<6} {'variant':<6} {'seconds':>8} {'main CPU':>8} {'API CPU':>8} "
        f"{'log flush':>9} {'stored':>7} status"
    )
    for index, p in enumerate(result["passes"], start=1):
        flush = f"{p['log_flush_seconds']:.2f}" if "log_flush_seconds" in p else "-"
        print(
            f"{index:<6} {p['variant']:<6} {p['seconds']:>8.2f} "
            f"{p['main_process_cpu_seconds']:>8.2f} {p['api_server_cpu_seconds']:>8.2f} "
            f"{flush:>9} {p['articles_stored']:>7} {p['status']}"
        )
    verdict = "pass" if result["meets_target"] else "FAIL"
    print(
        f"median: plain {result['plain_median_seconds']:.2f} s, flow "
        f"{result['flow_median_seconds']:.2f} s; overhead {result['overhead']:+.1%} "
        f"({result['overhead_with_log_flush']:+.1%} with the log flush); target <= "
        f"{result['target_overhead']:.0%}: {verdict}"
    )
    print(
        f"CPU per pass (median): main process plain {result['plain_main_cpu_seconds']:.2f} s, "
        f"flow {result['flow_main_cpu_seconds']:.2f} s "
        f"({result['flow_added_main_cpu_seconds']:+.2f} s); the API server "
        f"{result['flow_api_server_cpu_seconds']:.2f} s during a flow"
    )
    m = result["machine"]
    print(
        f"warm-up ({WARM_UP_PAGES} pages, not counted): plain "
        f"{result['warm_up']['plain']['seconds']:.2f} s, flow "
        f"{result['warm_up']['flow']['seconds']:.2f} s; load average "
        f"{m['load_average_before'][0]:.2f} before, {m['load_average_after'][0]:.2f} after"
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
        help=f"editions of each page (default: {DEFAULT_REPEAT})",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=DEFAULT_ROUNDS,
        help=f"timed passes of each variant (default: {DEFAULT_ROUNDS})",
    )
    parser.add_argument("--seed", type=int, default=None, help="seed of the edits (default: 8)")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"default: {RESULTS}")
    args = parser.parse_args(argv)
    if (args.pages is not None and args.pages < 1) or args.repeat < 1 or args.rounds < 1:
        parser.error("--pages, --repeat and --rounds must be at least 1")
    from tests.support.corpus import aeb_dev_missing

    missing = aeb_dev_missing()
    if missing:
        print(f"cannot run: {missing}", file=sys.stderr)
        return 1
    result = run(args.pages, args.repeat, rounds=args.rounds, seed=args.seed, output=args.output)
    print_table(result)
    print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
