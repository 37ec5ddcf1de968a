"""The session's guard against processes the tests leave running (tests/support/processes.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from tests.support import processes


def test_a_process_started_by_a_test_is_found_wherever_it_went_and_ended() -> None:
    marker = f"probe-{os.getpid()}-{time.monotonic_ns()}"
    env = {**os.environ, processes.MARKER: marker}
    # in a session of its own, as servers started by the tests are
    child = subprocess.Popen(["sleep", "60"], env=env, start_new_session=True)
    other = subprocess.Popen(["sleep", "60"])  # started by the tests too, but without this mark
    try:
        found = processes.leftovers(marker)
        assert [(p.pid, p.command) for p in found] == [(child.pid, "sleep 60")]
        processes.end(found, grace=5.0)
        assert child.wait(timeout=5) != 0  # ended by a signal
        assert processes.leftovers(marker) == []
        assert other.poll() is None  # not marked, not touched
    finally:
        for proc in (child, other):
            proc.kill()
            proc.wait()


def test_an_exited_child_not_yet_reaped_is_not_a_leftover() -> None:
    marker = f"probe-{os.getpid()}-{time.monotonic_ns()}"
    env = {**os.environ, processes.MARKER: marker}
    child = subprocess.Popen([sys.executable, "-c", "pass"], env=env)
    try:
        deadline = time.monotonic() + 10
        while processes.leftovers(marker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert processes.leftovers(marker) == []
        assert child.returncode is None  # still a zombie: nobody has waited for it yet
    finally:
        child.wait()


def test_the_session_marks_itself() -> None:
    assert os.environ[processes.MARKER] == str(os.getpid())
