"""One writer per warehouse: an advisory lock held for the whole of a pass.

Prefect's deployment concurrency limit keeps scheduled runs from overlapping; this lock also
covers passes started outside Prefect (``newsmon run`` or ``newsmon demo`` while a deployment
runs). It is an ``flock`` on ``<db>.lock``: the kernel releases it when the holder exits, so
a crashed or killed pass never wedges the schedule.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from extractors.errors import WarehouseError


class PassInProgress(WarehouseError):
    """Another pass holds the warehouse's writer lock."""


def lock_path(db_path: str | Path) -> Path:
    return Path(f"{db_path}.lock")


@contextlib.contextmanager
def writer_lock(db_path: str | Path, *, wait: float = 0.0) -> Iterator[None]:
    """Hold the pass lock of ``db_path``; wait up to ``wait`` seconds, then ``PassInProgress``."""
    path = lock_path(db_path)
    handle = open(path, "a+")  # noqa: SIM115 - held for the duration of the context
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = _holder(handle)
                    raise PassInProgress(
                        f"another pass is writing to {db_path} ({holder}); this one was skipped"
                    ) from None
                time.sleep(0.2)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    finally:
        handle.close()


def _holder(handle: IO[str]) -> str:
    """Who holds the lock, as its holder wrote it (``pid N``).

    The holder writes its pid just after taking the lock: a pass that loses the race by a
    hair can find the file still empty, so it looks again for a moment before giving up.
    """
    for _ in range(25):
        handle.seek(0)
        holder = handle.read().strip()
        if holder:
            return holder
        time.sleep(0.02)
    return "another process"
