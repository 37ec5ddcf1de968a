"""Shared fixtures: Prefect's test harness (one temporary API for the session, on loopback).

And two guards that keep CI from hanging after the tests: processes the tests started and
left running are reported and ended (and fail the session), and a process that has not exited
two minutes after the session prints every thread's stack and exits.
"""

from __future__ import annotations

import faulthandler
import sys
import time
from collections.abc import Iterator

import pytest

from tests.support import processes

# every process a test starts inherits this (see tests/support/processes.py)
SESSION = processes.mark_session()
EXIT_WATCHDOG_SECONDS = 120


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """A throwaway Prefect API and database for tests that run flows."""
    from prefect.testing.utilities import prefect_test_harness

    # the temporary server can take a while to start on a busy two-core machine
    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    left = processes.leftovers(SESSION)
    deadline = time.monotonic() + 10  # a server told to stop may still be on its way out
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = processes.leftovers(SESSION)
    if not left:
        return
    title = f"{len(left)} process(es) started by the tests still ran after them; ending them"
    lines = [f"pid {p.pid}: {p.command}" for p in left]
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.ensure_newline()
        reporter.write_sep("=", title, red=True)
        for line in lines:
            reporter.write_line(line)
    else:
        print(title, *lines, sep="\n", file=sys.stderr)
    processes.end(left)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_unconfigure() -> None:
    # a hang in interpreter exit (a thread joined at exit, an atexit handler) would hold CI
    # until its own time limit, silently: dump the stacks and exit 1 instead. Written to fd 2,
    # which is the real stderr again by then.
    faulthandler.dump_traceback_later(EXIT_WATCHDOG_SECONDS, exit=True, file=sys.__stderr__)
