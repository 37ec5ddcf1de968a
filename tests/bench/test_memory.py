"""The memory benchmark's process-tree sampler (bench/memory.py) against real processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from bench.memory import TreeSampler, _status, cpu_seconds, fit, process_parents, tree

HOLD_MB = 64
CHILD = (
    "import sys, time\n"
    f"held = bytearray({HOLD_MB} * 1024 * 1024)\n"
    "for i in range(0, len(held), 4096):\n"
    "    held[i] = 1\n"
    "print('ready', flush=True)\n"
    "time.sleep(60)\n"
)


def test_the_sampler_adds_up_the_tree_and_leaves_out_what_it_is_told() -> None:
    with subprocess.Popen(
        [sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True
    ) as child:
        try:
            assert child.stdout is not None and child.stdout.readline().strip() == "ready"
            assert child.pid in tree(os.getpid(), process_parents())
            sampler = TreeSampler(os.getpid())
            sampler.sample()
            excluding = TreeSampler(os.getpid(), frozenset({child.pid}))
            excluding.sample()
        finally:
            child.kill()
    assert sampler.processes[os.getpid()].role == "main"
    assert sampler.processes[child.pid].role == "other"
    assert sampler.processes[child.pid].vmhwm >= HOLD_MB * 1024 * 1024
    _, _, main_rss, tree_rss, tree_pss = sampler.timeline[-1]
    assert tree_rss - main_rss >= HOLD_MB * 1024 * 1024
    assert 0 < tree_pss <= tree_rss
    assert child.pid not in excluding.processes
    assert excluding.timeline[-1][3] < tree_rss - HOLD_MB * 1024 * 1024 // 2
    # a process that has ended reads as gone, not as zero
    assert _status(child.pid) is None and cpu_seconds(child.pid) is None


def test_cpu_seconds_grow_with_work() -> None:
    before = cpu_seconds(os.getpid())
    started = time.process_time()
    while time.process_time() - started < 0.3:
        sum(range(10_000))
    after = cpu_seconds(os.getpid())
    assert before is not None and after is not None and after - before >= 0.2


def test_the_sampler_thread_samples_until_stopped() -> None:
    sampler = TreeSampler(os.getpid(), interval=0.01)
    sampler.start()
    deadline = time.monotonic() + 10
    while len(sampler.timeline) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    sampler.done = 7
    sampler.stop()
    count = len(sampler.timeline)
    time.sleep(0.05)
    assert count >= 4 and len(sampler.timeline) == count
    assert sampler.timeline[-1][1] == 7


def test_fit_recovers_a_line() -> None:
    line = fit([500, 1000, 2000, 5000], [10 + 0.02 * x for x in (500, 1000, 2000, 5000)])
    assert line is not None
    assert abs(line["fixed"] - 10) < 1e-9 and abs(line["per_unit"] - 0.02) < 1e-12
    assert fit([500], [1.0]) is None
