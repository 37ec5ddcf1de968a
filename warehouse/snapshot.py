"""A read-only snapshot of the warehouse for analysts, refreshed after each pass.

DuckDB lets one process write a file, and any process holding it open (even read-only) keeps
the writer out. Analysts who query ``<db>.snapshot.duckdb`` never block ingestion: the writer
builds a fresh copy next to it after each pass and swaps it in atomically (``os.replace``), so
a reader keeps the copy it opened and the next query sees the new one.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import duckdb

from extractors.errors import WarehouseError
from warehouse.connection import open_warehouse

LOGGER = logging.getLogger(__name__)


def snapshot_path(db_path: str | Path) -> Path:
    path = Path(db_path)
    return path.with_name(f"{path.stem}.snapshot{path.suffix or '.duckdb'}")


def refresh_snapshot(db_path: str | Path) -> Path:
    """Copy the warehouse into its snapshot file; return the snapshot's path."""
    target = snapshot_path(db_path)
    staging = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    staging.unlink(missing_ok=True)
    try:
        with open_warehouse(db_path) as con:
            row = con.execute("SELECT current_database()").fetchone()
            source = str(row[0]) if row else "main"
            con.execute(f"ATTACH '{_quote(staging)}' AS snapshot_copy")
            try:
                con.execute(f'COPY FROM DATABASE "{source}" TO snapshot_copy')
            finally:
                con.execute("DETACH snapshot_copy")
        os.replace(staging, target)
    except duckdb.Error as exc:
        staging.unlink(missing_ok=True)
        raise WarehouseError(f"cannot refresh the snapshot {target}: {exc}") from exc
    LOGGER.info("refreshed the analysts' snapshot %s", target)
    return target


def _quote(path: Path) -> str:
    return str(path).replace("'", "''")
