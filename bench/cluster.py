"""Pages per second of the monitoring flow with the local process pool and on a Dask cluster.

Issue 9: the same flow (``flows.monitor.monitor``) collects its pages either in the flow's own
process pool (``[run] task_runner = "local"``) or as one Prefect task run per batch on a Dask
cluster through prefect-dask (``task_runner = "dask"``). This benchmark times both over the same
pages, on this machine:

* local: the flow with the default config (extraction pool of one process per core);
* dask: the flow with ``dask_address`` naming a ``distributed.LocalCluster`` of ``--workers``
  worker processes (default 2, one thread each) on 127.0.0.1, started before the timed passes
  and warmed up (its workers have imported Prefect and trafilatura), as a long-lived cluster is;
* dask, cluster per pass (one pass, reported apart): ``dask_workers = N`` instead, so the pass
  starts its own local cluster and pays for it, as ``newsmon run`` with that config does.

The pages are those of bench/extraction.py: the aeb-dev pages in ``--repeat K`` editions
(default 3: 273 pages) with seeded edits (bench/editions.py), one RSS feed per edition, served
by a loopback site (127.0.0.1) in this process. Each pass stores into a fresh DuckDB file;
the default ``batch_size`` (50 pages per task) applies to both. Prefect runs against a
temporary API (``prefect_test_harness``, as the tests use). Not timed: its start-up, the
cluster's, and one warm-up pass of each variant over ten pages in batches of two. The timed
passes alternate (local, dask, dask, local, ... for ``--rounds``) so a drift in the machine's
load falls on both; the figure is pages over each variant's median seconds.

Prints a table and writes bench/results/dask.json. Usage:

    uv run python bench/cluster.py [--pages N] [--repeat K] [--rounds R] [--workers W]
"""

from __future__ import annotations

import argparse
import asyncio
import os
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

if TYPE_CHECKING:
    from bench.editions import PublishedPage

# project modules are imported inside the functions (see bench/extraction.py): extraction and
# Dask worker processes re-import this script when they start

RESULTS = ROOT / "bench" / "results" / "dask.json"
DEFAULT_REPEAT = 3
DEFAULT_ROUNDS = 2
DEFAULT_WORKERS = 2
WARM_UP_PAGES = 10


def _config(folder: Path, name: str, feeds: list[str], run: str, batch_size: int = 0) -> Path:
    from bench.editions import config_toml

    path = folder / f"{name}.toml"
    extraction = f"\n[extraction]\nbatch_size = {batch_size}\n" if batch_size else ""
    path.write_text(config_toml(feeds) + extraction + f"\n[run]\n{run}\n", encoding="utf-8")
    return path


def _warm_imports() -> None:
    # on each Dask worker: what its first batch would import (Prefect's engine, trafilatura)
    import extractors.articles  # noqa: F401
    import flows.monitor  # noqa: F401


def time_flow(config_path: Path, db_path: Path) -> dict[str, Any]:
    """One flow run, timed; the logs it left queued are sent before the next (not timed)."""
    from prefect.logging.handlers import APILogWorker

    from bench.editions import stored
    from flows.monitor import monitor

    started = time.perf_counter()
    summary = asyncio.run(monitor(config_path=str(config_path), db_path=str(db_path)))
    seconds = time.perf_counter() - started
    APILogWorker.drain_all(timeout=60)
    found = stored(db_path)
    return {
        "seconds": seconds,
        "status": summary["status"],
        "articles_new": summary["articles_new"],
        "errors": summary["errors"],
        "articles_stored": found.articles,
        "articles_from_page": found.from_page,
    }


def order(rounds: int) -> list[str]:
    """local, dask, dask, local, ...: each variant first in every other round."""
    variants: list[str] = []
    for index in range(rounds):
        variants += ["local", "dask"] if index % 2 == 0 else ["dask", "local"]
    return variants


def measure(pages: list[PublishedPage], rounds: int, workers: int) -> dict[str, Any]:
    from distributed import Client, LocalCluster
    from prefect.testing.utilities import prefect_test_harness

    from bench.editions import feed_document, publish
    from flows.runners import local_cluster_kwargs, quiet_distributed
    from tests.support.sites import serve_site

    with (
        tempfile.TemporaryDirectory(prefix="newsmon-bench-") as folder,
        serve_site() as site,
        quiet_distributed(),
    ):
        work = Path(folder)
        feeds = publish(site, pages)
        warm_feed = "/bench/warm-up.xml"
        site.add(
            warm_feed,
            feed_document(site.base_url, [p.path for p in pages[:WARM_UP_PAGES]]),
            content_type="application/rss+xml",
        )
        started = time.perf_counter()
        with prefect_test_harness(server_startup_timeout=180):
            harness_seconds = time.perf_counter() - started
            started = time.perf_counter()
            with (
                LocalCluster(**local_cluster_kwargs(workers)) as cluster,
                Client(cluster, set_as_default=False) as client,
            ):
                cluster_seconds = time.perf_counter() - started
                address = client.scheduler.address
                runs = {
                    "local": 'task_runner = "local"',
                    "dask": f'task_runner = "dask"\ndask_address = "{address}"',
                }
                configs = {v: _config(work, v, feeds, run) for v, run in runs.items()}
                # warm up every worker, not only the one a small warm-up pass would reach
                client.run(_warm_imports)
                warm = {
                    v: time_flow(
                        _config(work, f"warm-{v}", [site.url(warm_feed)], run, batch_size=2),
                        work / f"warm-{v}.duckdb",
                    )
                    for v, run in runs.items()
                }
                timed: list[dict[str, Any]] = []
                for index, variant in enumerate(order(rounds)):
                    print(f"dask: {variant} pass {index + 1} of {rounds * 2} ...", flush=True)
                    one = time_flow(configs[variant], work / f"{index}-{variant}.duckdb")
                    timed.append({"variant": variant, **one})
            print("dask: one pass that starts its own cluster ...", flush=True)
            own = _config(work, "own", feeds, f'task_runner = "dask"\ndask_workers = {workers}')
            own_cluster = time_flow(own, work / "own-cluster.duckdb")
    return {
        "harness_start_seconds": harness_seconds,
        "cluster_start_seconds": cluster_seconds,
        "warm_up": warm,
        "passes": timed,
        "cluster_per_pass": own_cluster,
    }


def run(
    page_count: int | None = None,
    repeat: int = DEFAULT_REPEAT,
    *,
    rounds: int = DEFAULT_ROUNDS,
    workers: int = DEFAULT_WORKERS,
    seed: int | None = None,
    output: Path | None = None,
) -> dict[str, Any]:
    """Time ``rounds`` local and ``rounds`` Dask passes over ``repeat`` editions of the first
    ``page_count`` aeb-dev pages; written to ``output`` when given."""
    from bench.editions import SEED, edit_counts, editions
    from bench.machine import machine_info, write_result
    from tests.support.corpus import load_aeb_dev

    seed = SEED if seed is None else seed
    corpus = load_aeb_dev(page_count)
    pages = editions(corpus, len(corpus) * repeat, seed)
    load_before = os.getloadavg()
    measured = measure(pages, rounds, workers)
    medians = {
        variant: statistics.median(
            p["seconds"] for p in measured["passes"] if p["variant"] == variant
        )
        for variant in ("local", "dask")
    }
    every_pass = [*measured["passes"], measured["cluster_per_pass"]]
    result = {
        "benchmark": "dask",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "corpus": "aeb-dev",
        "corpus_pages": len(corpus),
        "repeat": repeat,
        "seed": seed,
        "pages": len(pages),
        "edits": edit_counts(pages),
        "rounds": rounds,
        "dask_workers": workers,
        **measured,
        "local_median_seconds": medians["local"],
        "dask_median_seconds": medians["dask"],
        "local_pages_per_second": len(pages) / medians["local"],
        "dask_pages_per_second": len(pages) / medians["dask"],
        "cluster_per_pass_pages_per_second": len(pages) / measured["cluster_per_pass"]["seconds"],
        "ratio_dask_to_local": medians["local"] / medians["dask"],
        # the same work: every pass stored every page, as a distinct article
        "same_work": all(
            p["status"] == "completed" and p["articles_stored"] == len(pages) for p in every_pass
        ),
        "machine": machine_info(load_before),
    }
    write_result(output, result)
    return result


def print_table(result: dict[str, Any]) -> None:
    m = result["machine"]
    print(
        f"{result['pages']} pages ({result['corpus_pages']} aeb-dev pages x {result['repeat']}), "
        f"{result['rounds']} rounds, {m['cpu_count']} CPUs; Prefect harness started in "
        f"{result['harness_start_seconds']:.1f} s, the cluster ({result['dask_workers']} "
        f"workers) in {result['cluster_start_seconds']:.1f} s (neither counted)"
    )
    print(f"{'pass':<5} {'variant':<28} {'seconds':>8} {'pages/s':>8} {'stored':>7} status")
    rows = [(i, p["variant"], p) for i, p in enumerate(result["passes"], start=1)]
    rows.append((len(rows) + 1, "dask, cluster started by pass", result["cluster_per_pass"]))
    for index, name, p in rows:
        print(
            f"{index:<5} {name:<28} {p['seconds']:>8.2f} {result['pages'] / p['seconds']:>8.1f} "
            f"{p['articles_stored']:>7} {p['status']}"
        )
    print(
        f"median: local pool {result['local_pages_per_second']:.1f} pages/s, Dask "
        f"({result['dask_workers']} workers) {result['dask_pages_per_second']:.1f} pages/s; "
        f"Dask / local {result['ratio_dask_to_local']:.2f}; same work: {result['same_work']}"
    )
    print(
        f"warm-up ({WARM_UP_PAGES} pages, not counted): local "
        f"{result['warm_up']['local']['seconds']:.2f} s, dask "
        f"{result['warm_up']['dask']['seconds']:.2f} s; load average "
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
    parser.add_argument(
        "--workers",
        type=int,
        default=DEFAULT_WORKERS,
        help=f"Dask worker processes (default: {DEFAULT_WORKERS})",
    )
    parser.add_argument("--seed", type=int, default=None, help="seed of the edits (default: 8)")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"default: {RESULTS}")
    args = parser.parse_args(argv)
    if min(args.repeat, args.rounds, args.workers, args.pages or 1) < 1:
        parser.error("--pages, --repeat, --rounds and --workers must be at least 1")
    from tests.support.corpus import aeb_dev_missing

    missing = aeb_dev_missing()
    if missing:
        print(f"cannot run: {missing}", file=sys.stderr)
        return 1
    result = run(
        args.pages,
        args.repeat,
        rounds=args.rounds,
        workers=args.workers,
        seed=args.seed,
        output=args.output,
    )
    print_table(result)
    print(f"written to {args.output}")
    return 0 if result["same_work"] else 1


if __name__ == "__main__":
    sys.exit(main())
