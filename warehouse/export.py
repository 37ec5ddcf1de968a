"""Parquet export of the public tables for tools outside DuckDB (issue 6).

``export_tables`` writes, under the target folder::

    articles/month=YYYY-MM/*.parquet   articles, hive-partitioned by the month of published_at
                                       (fetched_at when the feed gave no date), UTC
    stories.parquet  alerts.parquet  feeds.parquet  runs.parquet

Everything is written into a staging folder beside the target first and moved into place
table by table, so a failed export leaves the previous one as it was, and a new export
replaces those paths (and only those) completely: no stale month of an earlier export remains.
It replaces only what an export wrote: when one of those paths holds anything else (a note
in ``articles/``, a database, a file that is not Parquet), the export is refused, before
anything is moved.
Read it back with ``read_parquet('DIR/articles/**/*.parquet', hive_partitioning = true)``.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import duckdb

from extractors.errors import WarehouseError, first_line

LOGGER = logging.getLogger(__name__)

PUBLIC_TABLES = ("articles", "stories", "alerts", "feeds", "runs")
ARTICLE_MONTH = "strftime(coalesce(published_at, fetched_at), '%Y-%m')"


@dataclass(frozen=True)
class ExportedTable:
    """One public table as written: its rows and the file or folder holding them."""

    table: str
    rows: int
    path: Path


def export_tables(con: duckdb.DuckDBPyConnection, target: str | Path) -> list[ExportedTable]:
    """Write the public tables as Parquet under ``target`` (created if missing)."""
    target = Path(target)
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WarehouseError(f"cannot create the export folder {target}: {exc.strerror}") from exc
    for table in PUBLIC_TABLES:
        if reason := _not_an_export(target / _file_name(table)):
            raise WarehouseError(f"cannot export to {target}: {reason}; export elsewhere")
    # month names are UTC months whatever the session's zone (connect() sets UTC; be sure)
    con.execute("SET TimeZone = 'UTC'")
    try:
        staging = Path(tempfile.mkdtemp(prefix=".newsmon-export-", dir=target))
    except OSError as exc:
        raise WarehouseError(f"cannot write in the export folder {target}: {exc.strerror}") from exc
    try:
        written = [_export_table(con, table, staging) for table in PUBLIC_TABLES]
        exported = []
        for table in written:
            final = target / table.path.name
            _remove(final)
            os.replace(table.path, final)
            exported.append(ExportedTable(table.table, table.rows, final))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    LOGGER.info("exported %d tables to %s", len(exported), target)
    return exported


def _file_name(table: str) -> str:
    return "articles" if table == "articles" else f"{table}.parquet"


def _not_an_export(path: Path) -> str | None:
    """Why ``path`` is not what an earlier export wrote there, or ``None`` when it is (or
    there is nothing at ``path``)."""
    if path.is_symlink() or not path.exists():
        return None  # nothing, or a link: replacing it removes the link, not what it points at
    if path.name == "articles":
        if not path.is_dir():
            return f"{path} is not a folder of Parquet files"
        other = next((p for p in path.rglob("*") if p.is_file() and p.suffix != ".parquet"), None)
        return f"{other} is not a file an export wrote" if other else None
    if path.is_dir() or not _is_parquet(path):
        return f"{path} is not a Parquet file"
    return None


def _is_parquet(path: Path) -> bool:
    try:
        with path.open("rb") as file:
            return file.read(4) == b"PAR1"
    except OSError:
        return False


def _export_table(con: duckdb.DuckDBPyConnection, table: str, folder: Path) -> ExportedTable:
    try:
        rows = con.execute(f"SELECT count(*) FROM {table}").fetchall()
    except duckdb.Error as exc:  # a database, but not a warehouse
        raise WarehouseError(f"cannot export {table}: {first_line(exc)}") from exc
    count = int(rows[0][0]) if rows else 0
    if table == "articles":
        path = folder / "articles"
        select = f"SELECT *, {ARTICLE_MONTH} AS month FROM articles"
        options = "FORMAT parquet, PARTITION_BY (month), OVERWRITE_OR_IGNORE"
        if count == 0:
            # an empty partitioned COPY writes no folder at all; keep the layout readers expect
            path.mkdir()
    else:
        path = folder / f"{table}.parquet"
        select = f"SELECT * FROM {table}"
        options = "FORMAT parquet"
    try:
        con.execute(f"COPY ({select}) TO '{_quote(str(path))}' ({options})")
    except duckdb.Error as exc:
        raise WarehouseError(f"cannot export {table} to Parquet: {first_line(exc)}") from exc
    return ExportedTable(table, count, path)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _quote(text: str) -> str:
    return text.replace("'", "''")
