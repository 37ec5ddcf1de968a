"""Reading a test's warehouse back, and watching how a pass opens it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from flows import writing
from warehouse.connection import open_warehouse


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with open_warehouse(db, read_only=True) as con:
        return [tuple(r) for r in con.execute(sql).fetchall()]


def writer_opens(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files ``flows.writing`` opens from now on, in order (each open still happens)."""
    opened: list[str] = []
    real_connect = writing.connect

    def counted(path: Any, **kwargs: Any) -> Any:
        opened.append(str(path))
        return real_connect(path, **kwargs)

    monkeypatch.setattr(writing, "connect", counted)
    return opened
