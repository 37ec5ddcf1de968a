"""Reading a test's warehouse back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from warehouse.connection import open_warehouse


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with open_warehouse(db, read_only=True) as con:
        return [tuple(r) for r in con.execute(sql).fetchall()]
