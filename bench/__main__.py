"""The benchmark suite of issue 8: every part, one summary table, one JSON file, one plot.

    uv run python -m bench [--quick] [--only PART ...] [--output PATH] [--plot PATH]

Runs, in order, ``polling``, ``extraction``, ``orchestration``, ``warehouse`` and ``memory``
(each ``bench/<part>.py``'s ``run(...)``; a part whose module is not there is skipped with a
line saying so), prints each part's own table as it finishes, then one summary table (measure,
figure, target, verdict); writes every part's result to ``bench/results/<part>.json`` and all of
them with the summary to ``bench/results/suite.json``; and draws throughput and memory against
work size (``docs/benchmarks.png``; ``bench/results/benchmarks-quick.png`` with ``--quick``) from
the memory sizes and the extraction run.

``--quick`` runs every part at a smaller size: a check that the suite works, not figures for
the docs. The exit status is 0 when every part ran and met its targets, 1 otherwise.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.machine import write_result

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "bench" / "results"
SUITE_RESULTS = RESULTS_DIR / "suite.json"
PLOT = ROOT / "docs" / "benchmarks.png"
QUICK_PLOT = RESULTS_DIR / "benchmarks-quick.png"
PARTS = ("polling", "extraction", "orchestration", "warehouse", "memory")

# keyword arguments of each part's run(); only those its run() accepts are passed
FULL: dict[str, dict[str, Any]] = {
    "polling": {},
    "extraction": {"repeat": 5},
    "orchestration": {"repeat": 5, "rounds": 3},
    "warehouse": {},
    "memory": {},
}
QUICK: dict[str, dict[str, Any]] = {
    "polling": {"feeds": 200, "hosts": 40},
    "extraction": {"page_count": 30, "repeat": 2},
    "orchestration": {"page_count": 30, "repeat": 2, "rounds": 1},
    "warehouse": {"articles_query": 100_000, "articles_load": 10_000, "load_budget_s": 10.0},
    "memory": {"sizes": (100, 200, 400)},
}


@dataclass(frozen=True)
class Row:
    """One line of the summary table."""

    part: str
    measure: str
    figure: str
    target: str
    verdict: str  # "pass", "FAIL", "-" (no target), or why it was not judged


def _verdict(ok: Any) -> str:
    if ok is None:
        return "not judged"
    return "pass" if ok else "FAIL"


def polling_rows(result: dict[str, Any]) -> list[Row]:
    passes = result["passes"]
    rows = []
    for name, label in (("first", "first pass"), ("not_modified", "second pass, every feed 304")):
        p = passes[name]
        rows.append(
            Row(
                "polling",
                f"{result['feeds']:,} feeds on {result['hosts']} hosts: {label}",
                f"{p['seconds']:.2f} s",
                f"<= {p['target_seconds']:g} s",
                _verdict(p["meets_target"]),
            )
        )
    servers = [p["server"] for p in passes.values()]
    in_flight = max(s["max_in_flight_per_host"] for s in servers)
    gaps = [s["min_gap_per_host"] for s in servers if s["min_gap_per_host"] is not None]
    settings = result["settings"]
    rows.append(
        Row(
            "polling",
            "politeness: most requests in flight to one host",
            f"{in_flight}" + (f", closest {min(gaps) * 1000:.0f} ms apart" if gaps else ""),
            f"<= {settings['per_host_concurrency']}, >= {settings['per_host_delay']:g} s apart",
            _verdict(all(s["holds"] for s in servers)),
        )
    )
    return rows


def extraction_rows(result: dict[str, Any]) -> list[Row]:
    pages = result["pages"]
    full, direct = result["pass"], result["direct"]
    return [
        Row(
            "extraction",
            f"full pass over {pages} pages",
            f"{full['pages_per_second']:.1f} pages/s",
            "",
            "-",
        ),
        Row(
            "extraction",
            "trafilatura.extract loop, same HTML",
            f"{direct['pages_per_second']:.1f} pages/s",
            "",
            "-",
        ),
        Row(
            "extraction",
            f"the same loop over {result['parallel']['processes']} processes (the ceiling)",
            f"{result['parallel']['pages_per_second']:.1f} pages/s, "
            f"{result['ratio_parallel_to_direct']:.2f} x the loop",
            "",
            "-",
        ),
        Row(
            "extraction",
            "ratio pass / loop",
            f"{result['ratio_pass_to_direct']:.2f}",
            f">= {result['target_ratio']:g}",
            _verdict(result["meets_target"]),
        ),
    ]


def orchestration_rows(result: dict[str, Any]) -> list[Row]:
    return [
        Row(
            "orchestration",
            f"plain run_pass, {result['pages']} pages (median of {result['rounds']})",
            f"{result['plain_median_seconds']:.2f} s",
            "",
            "-",
        ),
        Row(
            "orchestration",
            "Prefect flow, same pages (median)",
            f"{result['flow_median_seconds']:.2f} s",
            "",
            "-",
        ),
        Row(
            "orchestration",
            "overhead of the flow",
            f"{result['overhead']:+.1%}",
            f"<= {result['target_overhead']:.0%}",
            _verdict(result["meets_target"]),
        ),
    ]


def warehouse_rows(result: dict[str, Any]) -> list[Row]:
    rows = []
    load = result.get("load")
    if load:
        best = load.get("best_seconds_for_target")
        runs = load.get("runs", [])
        extrapolated = any(
            r.get("seconds_for_target") == best and not r.get("complete", True) for r in runs
        )
        figure = f"{best:.1f} s" if isinstance(best, int | float) else "see warehouse.json"
        rows.append(
            Row(
                "warehouse",
                f"load {load['articles']:,} articles (pass's load path, best batch size)",
                figure + (" (extrapolated)" if extrapolated else ""),
                f"<= {load['target_s']:g} s",
                _verdict(load.get("pass")),
            )
        )
    query = result.get("query")
    if query:
        counts = query.get("warehouse", {}).get("counts", {})
        snapshot = [t for t in query.get("timings", []) if t.get("file") == "snapshot"]
        figure = (
            f"{snapshot[0]['cold_ms']:.0f} ms cold, {snapshot[0]['warm_ms']:.0f} ms warm"
            if snapshot
            else "see warehouse.json"
        )
        rows.append(
            Row(
                "warehouse",
                f"leader-call stories, last 30 days, {counts.get('articles', 0):,} articles",
                figure,
                f"< {query['target_ms']:g} ms",
                _verdict(query.get("pass")),
            )
        )
    return rows


def memory_rows(result: dict[str, Any]) -> list[Row]:
    rows = []
    for run in result["runs"]:
        largest = run is result["runs"][-1]
        judged = largest and run["pages"] >= result["target_pages"]
        rows.append(
            Row(
                "memory",
                f"pass over {run['pages']:,} pages: peak RSS, main / tree",
                f"{run['main_vmhwm_mb']:.0f} / {run['tree_rss_peak_mb']:.0f} MiB, "
                f"{run['pages_per_second']:.1f} pages/s",
                f"tree < {result['target_mb']:.0f} MiB" if judged else "",
                _verdict(result["meets_target"]) if judged else "-",
            )
        )
    if not result["target_size_run"]:
        rows.append(
            Row(
                "memory",
                f"pass over {result['target_pages']:,} pages",
                "not run",
                f"tree < {result['target_mb']:.0f} MiB",
                "not judged",
            )
        )
    return rows


SUMMARIES: dict[str, Callable[[dict[str, Any]], list[Row]]] = {
    "polling": polling_rows,
    "extraction": extraction_rows,
    "orchestration": orchestration_rows,
    "warehouse": warehouse_rows,
    "memory": memory_rows,
}


def summarise(part: str, result: dict[str, Any]) -> list[Row]:
    """The part's summary rows; a result this suite cannot read still gets one row."""
    try:
        return SUMMARIES[part](result)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        ok = next((result[k] for k in ("meets_target", "ok", "pass") if k in result), None)
        figure = f"see {part}.json (summary unreadable: {type(exc).__name__} {exc})"
        return [Row(part, "result", figure, "", _verdict(ok) if isinstance(ok, bool) else "-")]


# a part's module when it is not named after the part (no module here takes the name of a
# package it imports: run as a script, its folder comes first on sys.path)
MODULES = {"warehouse": "storage"}


def load_part(name: str) -> tuple[Any | None, str | None]:
    """The part's module, or why it cannot run."""
    module_name = MODULES.get(name, name)
    try:
        module = importlib.import_module(f"bench.{module_name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"bench.{module_name}":
            return None, f"bench/{module_name}.py is not there yet"
        raise
    if not callable(getattr(module, "run", None)):
        return None, f"bench/{module_name}.py has no run()"
    return module, None


def call_run(module: Any, kwargs: dict[str, Any], output: Path) -> dict[str, Any]:
    """``module.run`` with the keyword arguments it accepts (and ``output`` if it takes it)."""
    accepted = inspect.signature(module.run).parameters
    given = {k: v for k, v in kwargs.items() if k in accepted}
    if "output" in accepted:
        given["output"] = output
    result: dict[str, Any] = module.run(**given)
    if "output" not in accepted:
        write_result(output, result)
    return result


def print_summary(rows: list[Row]) -> None:
    headers = ("part", "measure", "figure", "target", "verdict")
    table = [headers] + [(r.part, r.measure, r.figure, r.target, r.verdict) for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(headers))]
    for index, line in enumerate(table):
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))
        if index == 0:
            print("  ".join("-" * width for width in widths))


def plot(parts: dict[str, Any], path: Path, machine: dict[str, Any]) -> bool:
    """Throughput and peak memory against pages per pass; false when there is nothing to draw."""
    memory = parts.get("memory") if isinstance(parts.get("memory"), dict) else None
    extraction = parts.get("extraction") if isinstance(parts.get("extraction"), dict) else None
    runs = memory.get("runs", []) if memory else []
    has_extraction = bool(extraction and "pass" in extraction)
    if not runs and not has_extraction:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (speed, memory_axis) = plt.subplots(1, 2, figsize=(12, 4.8))
    if runs:
        sizes = [r["pages"] for r in runs]
        speed.plot(sizes, [r["pages_per_second"] for r in runs], "o-", label="pass (memory runs)")
        memory_axis.plot(
            sizes, [r["tree_rss_peak_mb"] for r in runs], "o-", label="tree: peak of summed RSS"
        )
        memory_axis.plot(
            sizes, [r["tree_pss_peak_mb"] for r in runs], "s-", label="tree: peak of summed PSS"
        )
        memory_axis.plot(
            sizes, [r["main_vmhwm_mb"] for r in runs], "^-", label="main process: VmHWM"
        )
        largest = runs[-1]
        timeline = largest.get("timeline", [])
        if timeline:
            memory_axis.plot(
                [point[1] for point in timeline],
                [point[3] for point in timeline],
                "-",
                color="grey",
                linewidth=0.8,
                alpha=0.7,
                label=f"tree RSS during the {largest['pages']:,}-page pass, by pages done",
            )
        memory_axis.axhline(
            memory["target_mb"] if memory else 1024, color="red", linestyle="--", linewidth=1
        )
        memory_axis.annotate(
            "target: 1 GiB",
            (0.01, (memory["target_mb"] if memory else 1024)),
            xycoords=("axes fraction", "data"),
            textcoords="offset points",
            xytext=(2, 3),
            color="red",
            fontsize=8,
        )
    if extraction and has_extraction:
        pages = extraction["pages"]
        speed.plot(
            [pages], [extraction["pass"]["pages_per_second"]], "D", label="pass (extraction run)"
        )
        speed.plot(
            [pages],
            [extraction["direct"]["pages_per_second"]],
            "x",
            markersize=9,
            label="trafilatura.extract loop, 1 process",
        )
        parallel = extraction.get("parallel")
        if isinstance(parallel, dict):
            speed.plot(
                [pages],
                [parallel["pages_per_second"]],
                "+",
                markersize=11,
                label=f"the same loop, {parallel['processes']} processes (ceiling)",
            )
    orchestration = parts.get("orchestration")
    if isinstance(orchestration, dict) and "flow_pages_per_second" in orchestration:
        speed.plot(
            [orchestration["pages"]],
            [orchestration["flow_pages_per_second"]],
            "v",
            label="Prefect flow (orchestration run)",
        )
    speed.set_xlabel("pages in the pass")
    speed.set_ylabel("pages per second")
    speed.set_ylim(bottom=0)
    speed.set_title("throughput")
    speed.grid(True, alpha=0.3)
    speed.legend(fontsize=8, loc="best")
    memory_axis.set_xlabel("pages in the pass")
    memory_axis.set_ylabel("MiB")
    memory_axis.set_ylim(bottom=0)
    memory_axis.set_title("peak memory")
    memory_axis.grid(True, alpha=0.3)
    memory_axis.legend(fontsize=8, loc="lower right")
    load = machine.get("load_average_before", [0.0])[0]
    figure.suptitle(
        f"newsmon pass, {machine.get('cpu_count')} CPUs, "
        f"{(machine.get('memory_bytes') or 0) / 2**30:.0f} GiB; "
        f"{datetime.now(UTC):%Y-%m-%d}; load average {load:.1f} at the start",
        fontsize=10,
    )
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--quick", action="store_true", help="every part at a smaller size")
    parser.add_argument(
        "--only", action="append", choices=PARTS, metavar="PART", help=f"one of {PARTS}"
    )
    parser.add_argument("--output", type=Path, default=SUITE_RESULTS, help=f"{SUITE_RESULTS}")
    parser.add_argument("--plot", type=Path, default=None, help=f"default: {PLOT}")
    parser.add_argument("--no-plot", action="store_true", help="do not draw the plot")
    args = parser.parse_args(argv)

    from bench.machine import machine_info

    load_before = os.getloadavg()
    started = time.perf_counter()
    chosen = [p for p in PARTS if not args.only or p in args.only]
    sizes = QUICK if args.quick else FULL
    parts: dict[str, Any] = {}
    rows: list[Row] = []
    failed = False
    for name in chosen:
        print(f"== {name} ==", flush=True)
        module, why = load_part(name)
        if module is None:
            print(f"{name}: skipped, {why}", flush=True)
            parts[name] = {"skipped": why}
            rows.append(Row(name, "skipped", why or "", "", "not run"))
            failed = True
            continue
        part_started = time.perf_counter()
        try:
            result = call_run(module, sizes[name], RESULTS_DIR / f"{name}.json")
        except Exception as exc:  # noqa: BLE001 - one broken part must not end the suite
            traceback.print_exc()
            parts[name] = {"error": f"{type(exc).__name__}: {exc}"}
            rows.append(Row(name, "error", f"{type(exc).__name__}: {exc}"[:80], "", "FAIL"))
            failed = True
            continue
        result.setdefault("suite_seconds", time.perf_counter() - part_started)
        parts[name] = result
        printer = getattr(module, "print_table", None)
        if callable(printer):
            try:
                printer(result)
            except (KeyError, TypeError, ValueError, IndexError) as exc:
                print(f"{name}: its table could not be printed ({exc!r})")
        part_rows = summarise(name, result)
        rows += part_rows
        failed = failed or any(r.verdict not in ("pass", "-") for r in part_rows)
        print(f"{name}: {time.perf_counter() - part_started:.0f} s", flush=True)

    machine = machine_info(load_before)
    print()
    print(f"newsmon benchmarks{' (quick)' if args.quick else ''}: {len(chosen)} parts")
    print_summary(rows)
    drawn = None
    if not args.no_plot:
        target = args.plot or (QUICK_PLOT if args.quick else PLOT)
        if plot(parts, target, machine):
            drawn = target
    suite = {
        "benchmark": "suite",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "parts": parts,
        "summary": [asdict(r) for r in rows],
        "seconds": time.perf_counter() - started,
        "plot": str(drawn) if drawn else None,
        "machine": machine,
    }
    write_result(args.output, suite)
    print(
        f"{suite['seconds']:.0f} s; load average {load_before[0]:.2f} before, "
        f"{machine['load_average_after'][0]:.2f} after; written to {args.output}"
        + (f"; plot {drawn}" if drawn else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
