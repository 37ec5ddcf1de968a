"""Opening the DuckDB file: UTC sessions, migrations, and patience with a held lock.

DuckDB lets one process write a file, and a process that has it open (even read-only) blocks
a writer from another process. ``open_warehouse`` retries with backoff while the file is
locked, and reports a lock that outlasts ``lock_timeout`` as one readable ``WarehouseError``.
Hold a write connection only for the step that writes.

A caller that opens many connections (a pass) sets the patience for all of them at once with
``lock_patience``; a connection opened without ``lock_timeout`` inherits it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path

import duckdb

from extractors.errors import WarehouseError, WarehouseLocked, first_line
from warehouse.schema import migrate

LOGGER = logging.getLogger(__name__)

DEFAULT_DB = "newsmon.duckdb"
DEFAULT_LOCK_TIMEOUT = 30.0
# DuckDB's memory cap for the connections that load articles (issues 3 and 8). Its default is
# 80% of the machine's memory, and it keeps the ART indexes it has touched (primary keys, the
# copy and story index) in memory up to that cap, so a pass's memory would follow the size of
# the archive. Under a cap the buffer manager evicts index blocks to the file and reads them
# back as needed: bench/matching.py measures the cost. Other connections (analysts, the
# pass's upkeep: pruning, the search index) keep DuckDB's default, since rebuilding a whole
# index needs more. ``NEWSMON_DUCKDB_MEMORY_LIMIT`` overrides it ("1GB", "512MB").
DEFAULT_LOAD_MEMORY_LIMIT = "256MB"

# how long a connect waits for another process's lock when it is not told (issue 5): a pass
# opens the file at every step, some of them inside Prefect tasks with fixed signatures, so
# run_pass sets its patience here once, as flows.passes hands over the [matching] settings
_LOCK_TIMEOUT: ContextVar[float] = ContextVar("newsmon_lock_timeout", default=DEFAULT_LOCK_TIMEOUT)


def default_db_path() -> Path:
    """``$NEWSMON_DB`` or ``./newsmon.duckdb`` (CONTRACT.md)."""
    return Path(os.environ.get("NEWSMON_DB") or DEFAULT_DB)


def _is_lock_error(exc: duckdb.Error) -> bool:
    message = str(exc)
    return "Could not set lock" in message or "Conflicting lock" in message


def load_memory_limit() -> str:
    """DuckDB's memory cap for loading connections (``DEFAULT_LOAD_MEMORY_LIMIT``)."""
    return os.environ.get("NEWSMON_DUCKDB_MEMORY_LIMIT") or DEFAULT_LOAD_MEMORY_LIMIT


@contextlib.contextmanager
def lock_patience(seconds: float) -> Iterator[None]:
    """Within the block, connections opened without ``lock_timeout`` wait up to ``seconds``."""
    token = _LOCK_TIMEOUT.set(seconds)
    try:
        yield
    finally:
        _LOCK_TIMEOUT.reset(token)


def connect(
    path: str | Path,
    *,
    read_only: bool = False,
    lock_timeout: float | None = None,
    memory_limit: str | None = None,
) -> duckdb.DuckDBPyConnection:
    """Open the warehouse (migrated to the latest schema unless read-only); ``memory_limit``
    caps DuckDB's memory (``load_memory_limit()`` for loads).

    A lock held by another process is retried for ``lock_timeout`` seconds (default: the
    ``lock_patience`` in force, else 30 s), then reported as a ``WarehouseError``.
    """
    path = Path(path)
    if lock_timeout is None:
        lock_timeout = _LOCK_TIMEOUT.get()
    if read_only and not path.exists():
        raise WarehouseError(f"no warehouse at {path}: run a pass first (newsmon run / demo)")
    if not read_only and path.parent and not path.parent.exists():
        raise WarehouseError(f"cannot create the warehouse {path}: folder {path.parent} is missing")
    deadline = time.monotonic() + lock_timeout
    delay = 0.05
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only)
            break
        except duckdb.IOException as exc:
            if _is_lock_error(exc) and time.monotonic() < deadline:
                LOGGER.info("warehouse %s is locked by another process; retrying", path)
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
                continue
            if _is_lock_error(exc):
                raise WarehouseLocked(
                    f"warehouse {path} is locked by another process "
                    f"(waited {lock_timeout:g} s): {first_line(exc)}"
                ) from exc
            raise WarehouseError(f"cannot open warehouse {path}: {first_line(exc)}") from exc
        except duckdb.Error as exc:
            raise WarehouseError(f"cannot open warehouse {path}: {first_line(exc)}") from exc
    try:
        con.execute("SET TimeZone = 'UTC'")
        if memory_limit:
            con.execute("SET memory_limit = ?", [memory_limit])
        if not read_only:
            migrate(con)
    except duckdb.Error as exc:
        con.close()
        raise WarehouseError(f"cannot prepare warehouse {path}: {first_line(exc)}") from exc
    return con


@contextlib.contextmanager
def open_warehouse(
    path: str | Path,
    *,
    read_only: bool = False,
    lock_timeout: float | None = None,
    memory_limit: str | None = None,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """``connect`` as a context manager that always closes the connection."""
    con = connect(path, read_only=read_only, lock_timeout=lock_timeout, memory_limit=memory_limit)
    try:
        yield con
    finally:
        con.close()


def lock_down(con: duckdb.DuckDBPyConnection) -> None:
    """Leave ``con`` able to read its database and nothing else, for good.

    A read-only connection still writes files: ``COPY ... TO`` over the warehouse itself,
    ``ATTACH ... (READ_WRITE)`` of the live file from the snapshot, ``EXPORT DATABASE``,
    ``INSTALL`` into ``~/.duckdb`` (and a download). With file access off and the
    configuration locked, a query reads the open database only. Load extensions first.
    """
    con.execute("SET enable_external_access = false")
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    con.execute("SET lock_configuration = true")
