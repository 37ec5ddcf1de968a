"""A read-only snapshot of the warehouse for analysts, refreshed after each pass.

DuckDB lets one process write a file, and any process holding it open (even read-only) keeps
the writer out. Analysts who query ``<db>.snapshot.duckdb`` never block ingestion: the writer
builds a fresh copy next to it after each pass and swaps it in atomically (``os.replace``), so
a reader keeps the copy it opened and the next query sees the new one.

The copy is a file copy of the checkpointed database, made under the pass's writer lock: no
other process writes meanwhile, and a checkpointed file is complete without its WAL. It costs
what the disk takes to copy the file and no memory, where ``COPY FROM DATABASE`` rebuilt every
index in memory (88 s and more than the write memory cap at 1,000,000 articles; issue 8).
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import duckdb

from extractors.errors import WarehouseError
from warehouse.connection import open_warehouse

LOGGER = logging.getLogger(__name__)


def snapshot_path(db_path: str | Path) -> Path:
    path = Path(db_path)
    return path.with_name(f"{path.stem}.snapshot{path.suffix or '.duckdb'}")


def refresh_snapshot(db_path: str | Path) -> Path:
    """Copy the warehouse into its snapshot file; return the snapshot's path.

    Call it while holding the writer lock (``warehouse.locks``), as ``flows.passes`` does."""
    source = Path(db_path)
    target = snapshot_path(db_path)
    staging = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    # under the writer lock no other copy is under way: a temp file is a killed pass's, and
    # as big as the warehouse
    for stale in target.parent.glob(f".{target.name}.*.tmp"):
        stale.unlink(missing_ok=True)
    try:
        with open_warehouse(source) as con:
            con.execute("CHECKPOINT")
        wal = source.with_name(source.name + ".wal")
        if wal.exists() and wal.stat().st_size:
            raise WarehouseError(
                f"cannot refresh the snapshot {target}: {wal.name} is not empty after a checkpoint"
                " (another process is writing?)"
            )
        shutil.copyfile(source, staging)
        os.replace(staging, target)
    except (duckdb.Error, OSError) as exc:
        staging.unlink(missing_ok=True)
        raise WarehouseError(f"cannot refresh the snapshot {target}: {exc}") from exc
    except WarehouseError:
        staging.unlink(missing_ok=True)
        raise
    LOGGER.info("refreshed the analysts' snapshot %s", target)
    return target
