"""Processes the test session started and left running, found by an environment marker.

Every process a test starts inherits the session's environment (the tests that build a child's
environment copy ``os.environ``), so a marker set when the session starts names them all, even
one that started its own session or was re-parented to init. ``conftest.py`` looks for such
processes when the session ends: a leftover server or worker is a test's bug, and one that keeps
running holds CI open. They are reported and ended; nothing else is touched.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

MARKER = "PYTEST_NEWSMON_SESSION"

# started by the session's own process and ended when it exits: the pool of the extraction
# tests (multiprocessing's fork server) and the tracker of its semaphores
EXPECTED = ("multiprocessing.forkserver", "multiprocessing.resource_tracker")


@dataclass(frozen=True)
class Leftover:
    pid: int
    command: str


def mark_session() -> str:
    """Set the marker for this session (its value is this process's id) and return it."""
    value = str(os.getpid())
    os.environ[MARKER] = value
    return value


def leftovers(marker: str) -> list[Leftover]:
    """Live processes other than this one whose environment carries ``MARKER=marker``."""
    wanted = f"{MARKER}={marker}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            state, parent = _state_and_parent(entry)
            if state == "Z":
                continue  # exited, waiting for its parent: holds nothing
            if wanted not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError):
            continue  # gone meanwhile, or not ours to read
        # the fork server's own children (pool workers) carry its command line: only the
        # server itself, a child of this process, is expected
        expected = int(parent) == os.getpid() and any(e in command for e in EXPECTED)
        if not expected:
            found.append(Leftover(int(entry.name), command.strip()[:200]))
    return found


def end(processes: list[Leftover], grace: float = 5.0) -> None:
    """SIGTERM each, then SIGKILL whatever is still there after ``grace`` seconds."""
    for p in processes:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(p.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_alive(p.pid) for p in processes):
        time.sleep(0.1)
    for p in processes:
        if _alive(p.pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(p.pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        return _state_and_parent(Path(f"/proc/{pid}"))[0] != "Z"
    except OSError:
        return False


def _state_and_parent(entry: Path) -> tuple[str, str]:
    """A /proc/PID folder's process state letter and parent pid (after the command's ")")."""
    state, parent = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:2]
    return state, parent
