"""The analysts' snapshot (``warehouse.snapshot``): a whole copy, and no debris of a killed one."""

from __future__ import annotations

from pathlib import Path

from warehouse.connection import open_warehouse
from warehouse.snapshot import refresh_snapshot, snapshot_path


def test_the_snapshot_is_a_copy_and_a_killed_copys_temp_file_is_removed(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    with open_warehouse(db) as con:
        con.execute("INSERT INTO runs (run_id, started_at, status) VALUES ('r1', now(), 'x')")
    # what a pass killed during its copy leaves: a temp file as big as the warehouse, named
    # with that pass's pid, which later passes (other pids) used to leave alone for good
    debris = tmp_path / f".{snapshot_path(db).name}.999999.tmp"
    debris.write_bytes(b"\0" * 4096)
    snapshot = refresh_snapshot(db)
    assert not debris.exists() and list(tmp_path.glob(".*.tmp")) == []
    with open_warehouse(snapshot, read_only=True) as con:
        assert con.execute("SELECT run_id FROM runs").fetchall() == [("r1",)]
