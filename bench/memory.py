"""Memory of a pass against its size: peak RSS of the pass's processes over 500 to 5,000 pages.

Target (issue 8): the peak RSS of a pass over 5,000 pages stays under 1 GB: pages are streamed
in batches (``flows.passes``: at most ``window`` batches of ``[extraction] batch_size`` pages in
flight), nothing is held whole.

Per size, a fresh Python process (``python -m bench.memory --one N``) runs one ``run_pass`` with
the default config into a fresh DuckDB file, over N pages: the aeb-dev pages in editions with
varied, seeded edits (bench/editions.py; 91 pages x 55 editions = 5,005 for the largest size),
one RSS feed per edition. The pages are served by a loopback site (127.0.0.1) in another,
spawned process that makes each edition when it is requested, so neither side holds the whole
run's HTML; that process is left out of the figures.

While the pass runs, a thread of the measuring process reads /proc every 100 ms: the RSS (and
the PSS, which shares pages fairly among processes) of the main process and of each of its
descendants (the fork server, the extraction workers it forks, multiprocessing's resource
tracker), their sum, and each process's VmHWM (its own peak RSS, which the kernel keeps, so a
process's peak between two samples is not missed). Reported per size:

* ``main_vmhwm_mb``: the main process's own peak RSS (VmHWM read at the end: exact);
* ``tree_rss_peak_mb``: the largest sum of RSS over the tree seen in one sample (shared pages
  counted once per process: an over-estimate of the memory the pass takes);
* ``tree_pss_peak_mb``: the same with PSS;
* ``tree_vmhwm_bound_mb``: main's, the fork server's and each worker slot's largest VmHWM
  added up: no sampling can miss more than this (peaks that did not coincide counted as if
  they did);
* pages/s of the pass, and how RSS moved as pages were done (``timeline``).

The target is judged on ``tree_rss_peak_mb`` of the largest size (at least 5,000 pages), with
every page fetched and extracted from the page (``pages_fetched``; the warehouse may keep out
an edition whose text is identical to one it has, which ``articles_stored`` shows).

Prints a table and writes bench/results/memory.json. Usage:

    uv run python bench/memory.py [--sizes 500 1000 2000 5000] [--seed S] [--output PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# project modules are imported inside the functions (see bench/extraction.py): the extraction
# workers' fork server re-imports a main script, and the measured process should only hold
# what the pass needs

RESULTS = ROOT / "bench" / "results" / "memory.json"
SIZES = (500, 1000, 2000, 5000)
QUICK_SIZES = (100, 200, 400)
TARGET_PAGES = 5000
TARGET_MB = 1024.0
INTERVAL = 0.1
TIMELINE_POINTS = 200
MB = 1024 * 1024


def _status(pid: int) -> tuple[int, int] | None:
    """``(VmRSS, VmHWM)`` of ``pid`` in bytes, or ``None`` when it is gone."""
    rss = hwm = 0
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1]) * 1024
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return rss, hwm


def _pss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii", errors="replace") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def process_parents() -> dict[int, int]:
    """``pid -> parent pid`` of every process now (from /proc/<pid>/stat)."""
    parents: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="ascii", errors="replace") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        parents[int(entry.name)] = int(fields[1])
    return parents


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time of ``pid`` so far, or ``None`` when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    # fields after the command: state is [0], utime [11], stime [12], in clock ticks
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def command_line(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return cmdline.read().replace(b"\0", b" ")
    except OSError:
        return b""


def tree(root: int, parents: dict[int, int], exclude: frozenset[int] = frozenset()) -> list[int]:
    """``root`` and every process below it, leaving out ``exclude`` and what is below them."""
    children: dict[int, list[int]] = {}
    for pid, parent in parents.items():
        children.setdefault(parent, []).append(pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in exclude:
            continue
        found.append(pid)
        todo += children.get(pid, [])
    return found


def _role(pid: int, root: int, forkservers: set[int], parents: dict[int, int]) -> str:
    if pid == root:
        return "main"
    # the workers are forks of the fork server: same command line, the server as parent
    if parents.get(pid) in forkservers:
        return "extraction worker"
    command = command_line(pid)
    if b"forkserver" in command:
        forkservers.add(pid)
        return "fork server"
    if b"resource_tracker" in command:
        return "resource tracker"
    return "other"


@dataclass
class SeenProcess:
    pid: int
    role: str
    first_seen: float
    last_seen: float
    vmhwm: int = 0
    rss_peak: int = 0


@dataclass
class TreeSampler:
    """Samples the RSS of ``root`` and its descendants every ``interval`` seconds, in a thread.

    ``done`` is read at each sample (pages done so far: the pass's progress)."""

    root: int
    exclude: frozenset[int] = frozenset()
    interval: float = INTERVAL
    done: int = 0
    processes: dict[int, SeenProcess] = field(default_factory=dict)
    timeline: list[tuple[float, int, int, int, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _forkservers: set[int] = field(default_factory=set)
    _started: float = 0.0

    def start(self) -> None:
        self._started = time.perf_counter()
        self.sample()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sample()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def sample(self) -> None:
        now = time.perf_counter() - self._started
        parents = process_parents()
        main_rss = tree_rss = tree_pss = 0
        for pid in tree(self.root, parents, self.exclude):
            status = _status(pid)
            if status is None:
                continue  # ended since /proc was listed
            rss, hwm = status
            seen = self.processes.get(pid)
            if seen is None:
                seen = SeenProcess(pid, _role(pid, self.root, self._forkservers, parents), now, now)
                self.processes[pid] = seen
            seen.last_seen = now
            seen.vmhwm = max(seen.vmhwm, hwm)
            seen.rss_peak = max(seen.rss_peak, rss)
            tree_rss += rss
            tree_pss += _pss(pid)
            if pid == self.root:
                main_rss = rss
        self.timeline.append((now, self.done, main_rss, tree_rss, tree_pss))


class PagesDone:
    """The pass's progress hook: tells the sampler how many pages are done."""

    def __init__(self, sampler: TreeSampler) -> None:
        self.sampler = sampler

    def feeds_polled(self, done: int, total: int) -> None:
        pass

    def pages_extracted(self, done: int, total: int) -> None:
        self.sampler.done = done


def _thin(points: list[tuple[float, int, int, int, int]], most: int) -> list[list[float]]:
    step = max(1, len(points) // most)
    kept = points[::step]
    if points and kept[-1] is not points[-1]:
        kept.append(points[-1])
    return [
        [round(t, 2), done, round(m / MB, 1), round(r / MB, 1), round(p / MB, 1)]
        for t, done, m, r, p in kept
    ]


def measure_one(pages: int, seed: int | None = None) -> dict[str, Any]:
    """One pass over ``pages`` pages in this process, sampled (what ``--one`` runs)."""
    from bench.editions import SEED, pass_config, serve_editions_elsewhere, stored
    from bench.machine import machine_info
    from extractors.workers import default_workers
    from flows.config import parse_config
    from flows.passes import run_pass

    seed = SEED if seed is None else seed
    load_before = os.getloadavg()
    with (
        tempfile.TemporaryDirectory(prefix="newsmon-bench-") as folder,
        serve_editions_elsewhere(pages, seed=seed) as (published, served, server_pid),
    ):
        db_path = Path(folder) / "bench.duckdb"
        config = parse_config(pass_config(published["feeds"]))
        before = _status(os.getpid())
        sampler = TreeSampler(os.getpid(), frozenset({server_pid}))
        sampler.start()
        started = time.perf_counter()
        try:
            stats = asyncio.run(
                run_pass(config, db_path, run_id="bench-memory", progress=PagesDone(sampler))
            )
        finally:
            seconds = time.perf_counter() - started
            sampler.stop()
        main_status = _status(os.getpid())
        found = stored(db_path)
        db_mb = db_path.stat().st_size / MB
    seen = list(sampler.processes.values())
    by_role: dict[str, dict[str, Any]] = {}
    for process in seen:
        role = by_role.setdefault(process.role, {"processes": 0, "vmhwm_max_mb": 0.0})
        role["processes"] += 1
        role["vmhwm_max_mb"] = max(role["vmhwm_max_mb"], process.vmhwm / MB)
    workers = config.extraction.workers or default_workers()
    bound = (
        (main_status[1] if main_status else 0) / MB
        + sum(r["vmhwm_max_mb"] for name, r in by_role.items() if name != "main")
        + (workers - 1) * by_role.get("extraction worker", {}).get("vmhwm_max_mb", 0.0)
    )
    return {
        "pages": pages,
        "seconds": seconds,
        "pages_per_second": pages / seconds,
        "main_rss_before_mb": (before[0] if before else 0) / MB,
        "main_vmhwm_mb": (main_status[1] if main_status else 0) / MB,
        "main_rss_peak_sampled_mb": max((m for _, _, m, _, _ in sampler.timeline), default=0) / MB,
        "tree_rss_peak_mb": max((r for _, _, _, r, _ in sampler.timeline), default=0) / MB,
        "tree_pss_peak_mb": max((p for _, _, _, _, p in sampler.timeline), default=0) / MB,
        "tree_vmhwm_bound_mb": bound,
        "extraction_workers": workers,
        "by_role": by_role,
        "processes": [
            {
                "pid": p.pid,
                "role": p.role,
                "vmhwm_mb": round(p.vmhwm / MB, 1),
                "seen_from_s": round(p.first_seen, 2),
                "seen_to_s": round(p.last_seen, 2),
            }
            for p in seen
        ],
        "samples": len(sampler.timeline),
        # [seconds, pages done, main RSS MB, tree RSS MB, tree PSS MB]
        "timeline": _thin(sampler.timeline, TIMELINE_POINTS),
        "status": stats.status,
        "pages_fetched": stats.pages_fetched,
        "pages_failed": stats.pages_failed,
        "errors": stats.errors,
        "copies": stats.copies,
        "articles_stored": found.articles,
        "articles_from_page": found.from_page,
        "db_mb": db_mb,
        "served": served,
        "machine": machine_info(load_before),
    }


def _measure_in_subprocess(pages: int, seed: int | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="newsmon-bench-") as folder:
        out = Path(folder) / "one.json"
        command = [sys.executable, "-m", "bench.memory", "--one", str(pages), "--output", str(out)]
        if seed is not None:
            command += ["--seed", str(seed)]
        subprocess.run(command, cwd=ROOT, check=True)
        result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return result


def fit(xs: list[float], ys: list[float]) -> dict[str, float] | None:
    """Least-squares line ``y = fixed + per_unit * x``; ``None`` with fewer than two sizes."""
    if len(xs) < 2:
        return None
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    if spread == 0:
        return None
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread
    return {"fixed": mean_y - slope * mean_x, "per_unit": slope}


def run(
    sizes: tuple[int, ...] | list[int] = SIZES,
    *,
    seed: int | None = None,
    output: Path | None = None,
) -> dict[str, Any]:
    """One fresh process per size, smallest first; written to ``output`` when given."""
    from bench.machine import machine_info, write_result

    load_before = os.getloadavg()
    started = time.perf_counter()
    runs = []
    for pages in sorted(sizes):
        print(f"memory: a pass over {pages} pages ...", flush=True)
        runs.append(_measure_in_subprocess(pages, seed))
    largest = runs[-1] if runs else None
    xs = [float(r["pages"]) for r in runs]
    growth = {
        "seconds": fit(xs, [r["seconds"] for r in runs]),
        "main_vmhwm_mb": fit(xs, [r["main_vmhwm_mb"] for r in runs]),
        "tree_rss_peak_mb": fit(xs, [r["tree_rss_peak_mb"] for r in runs]),
    }
    result = {
        "benchmark": "memory",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "sizes": sorted(sizes),
        "runs": runs,
        "growth_per_page": growth,
        "target_pages": TARGET_PAGES,
        "target_mb": TARGET_MB,
        "target_size_run": bool(largest and largest["pages"] >= TARGET_PAGES),
        # every page fetched and extracted from the page itself; the warehouse may still keep
        # out a text identical to one it has (the JSON's articles_stored says how many it kept)
        "meets_target": bool(
            largest
            and largest["pages"] >= TARGET_PAGES
            and largest["tree_rss_peak_mb"] < TARGET_MB
            and largest["status"] == "completed"
            and largest["pages_fetched"] == largest["pages"]
        ),
        "total_seconds": time.perf_counter() - started,
        "machine": machine_info(load_before),
    }
    write_result(output, result)
    return result


def print_table(result: dict[str, Any]) -> None:
    print(
        f"{'pages':>6} {'seconds':>8} {'pages/s':>8} {'main MB':>8} {'tree RSS':>9} "
        f"{'tree PSS':>9} {'bound':>7} {'workers':>7} {'stored':>7} {'load avg':>9}"
    )
    for r in result["runs"]:
        load = r["machine"]
        print(
            f"{r['pages']:>6} {r['seconds']:>8.1f} {r['pages_per_second']:>8.1f} "
            f"{r['main_vmhwm_mb']:>8.0f} {r['tree_rss_peak_mb']:>9.0f} "
            f"{r['tree_pss_peak_mb']:>9.0f} {r['tree_vmhwm_bound_mb']:>7.0f} "
            f"{r['by_role'].get('extraction worker', {}).get('processes', 0):>7} "
            f"{r['articles_stored']:>7} "
            f"{load['load_average_before'][0]:>4.1f}/{load['load_average_after'][0]:<4.1f}"
        )
    for name, line in result["growth_per_page"].items():
        if line:
            print(
                f"growth of {name}: {line['fixed']:.1f} + {line['per_unit'] * 1000:.2f} "
                "per 1,000 pages"
            )
    if result["target_size_run"]:
        verdict = "pass" if result["meets_target"] else "FAIL"
        print(
            f"target: tree RSS peak < {result['target_mb']:.0f} MB over "
            f"{result['target_pages']:,} pages: {verdict}"
        )
    else:
        print(f"target not judged: no size of {result['target_pages']:,} pages or more was run")
    print(f"total {result['total_seconds']:.0f} s (MB here are MiB)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=list(SIZES),
        help="pages per pass, one fresh process each (default: 500 1000 2000 5000)",
    )
    parser.add_argument("--seed", type=int, default=None, help="seed of the edits (default: 8)")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"default: {RESULTS}")
    parser.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    from tests.support.corpus import aeb_dev_missing

    missing = aeb_dev_missing()
    if missing:
        print(f"cannot run: {missing}", file=sys.stderr)
        return 1
    if sys.platform != "linux":
        print("cannot run: reads /proc (Linux)", file=sys.stderr)
        return 1
    if args.one is not None:
        one = measure_one(args.one, args.seed)
        args.output.write_text(json.dumps(one) + "\n", encoding="utf-8")
        return 0
    if any(size < 1 for size in args.sizes):
        parser.error("--sizes must be at least 1")
    result = run(args.sizes, seed=args.seed, output=args.output)
    print_table(result)
    print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
