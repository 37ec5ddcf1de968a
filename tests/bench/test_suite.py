"""The suite runner (bench/__main__.py): parts found or skipped, summary rows, the plot."""

from __future__ import annotations

import json
import types
from pathlib import Path
from typing import Any

import pytest

import bench.__main__ as suite
from bench.orchestration import order


def test_a_missing_part_is_skipped_with_its_reason() -> None:
    module, why = suite.load_part("no_such_part")
    assert module is None and why == "bench/no_such_part.py is not there yet"
    module, why = suite.load_part("memory")
    assert why is None and callable(module.run)


def test_run_gets_only_the_arguments_it_takes(tmp_path: Path) -> None:
    calls: list[dict[str, Any]] = []

    def run(*, sizes: tuple[int, ...] = (1,)) -> dict[str, Any]:
        calls.append({"sizes": sizes})
        return {"sizes": list(sizes)}

    out = tmp_path / "part.json"
    result = suite.call_run(types.SimpleNamespace(run=run), {"sizes": (2,), "rounds": 3}, out)
    assert calls == [{"sizes": (2,)}] and result == {"sizes": [2]}
    # a run() without ``output`` has its result written for it
    assert json.loads(out.read_text()) == {"sizes": [2]}


def test_an_unreadable_result_still_gets_a_row_with_its_own_verdict() -> None:
    rows = suite.summarise("extraction", {"meets_target": False, "pages": 3})
    assert len(rows) == 1 and rows[0].verdict == "FAIL" and "extraction.json" in rows[0].figure
    rows = suite.summarise("warehouse", {"query": None, "load": None})
    assert rows == []


def _memory_result(largest: int, tree_mb: float) -> dict[str, Any]:
    runs = [
        {
            "pages": pages,
            "pages_per_second": 20.0,
            "main_vmhwm_mb": 300.0,
            "tree_rss_peak_mb": tree_mb,
            "tree_pss_peak_mb": tree_mb * 0.7,
            "timeline": [[0.0, 0, 100.0, 200.0, 150.0], [5.0, pages, 250.0, tree_mb, 300.0]],
        }
        for pages in (100, largest)
    ]
    return {
        "runs": runs,
        "target_pages": 5000,
        "target_mb": 1024.0,
        "target_size_run": largest >= 5000,
        "meets_target": largest >= 5000 and tree_mb < 1024,
    }


def test_memory_rows_judge_only_a_run_of_the_target_size() -> None:
    small = suite.memory_rows(_memory_result(400, 500.0))
    assert [r.verdict for r in small] == ["-", "-", "not judged"]
    full = suite.memory_rows(_memory_result(5005, 1100.0))
    assert [r.verdict for r in full] == ["-", "FAIL"]


def test_the_plot_is_a_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    extraction = {
        "pages": 455,
        "pass": {"pages_per_second": 30.0},
        "direct": {"pages_per_second": 20.0},
    }
    path = tmp_path / "plot.png"
    machine = {"cpu_count": 2, "memory_bytes": 2**34, "load_average_before": [0.5, 0.5, 0.5]}
    drawn = suite.plot(
        {"memory": _memory_result(5005, 600.0), "extraction": extraction}, path, machine
    )
    assert drawn and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not suite.plot({"memory": {"skipped": "x"}}, tmp_path / "none.png", machine)
    assert not (tmp_path / "none.png").exists()


def test_timed_passes_alternate_which_variant_goes_first() -> None:
    assert order(2) == ["plain", "flow", "flow", "plain"]
    assert order(3)[4:] == ["plain", "flow"]
