"""Staged batches: fetched work that could not be loaded yet is kept, not lost.

When the warehouse stays locked past the connection's patience (an analyst holding the file
open, say), a batch's records are written to ``<db>.staging/`` instead. The next pass loads
every staged batch first, in the order they were staged, before it fetches anything new;
a staged file is deleted only after its load committed.
"""

from __future__ import annotations

import logging
import os
import pickle
import time
from collections.abc import Sequence
from pathlib import Path

from extractors.types import Article, PassError

LOGGER = logging.getLogger(__name__)


def staging_dir(db_path: str | Path) -> Path:
    return Path(f"{db_path}.staging")


def stage_batch(
    db_path: str | Path, articles: Sequence[Article], errors: Sequence[PassError], run_id: str
) -> Path:
    """Write a batch to the staging folder (atomically); return its file."""
    folder = staging_dir(db_path)
    folder.mkdir(exist_ok=True)
    name = f"{time.time_ns():020d}-{os.getpid()}.batch"
    partial = folder / f".{name}.tmp"
    with open(partial, "wb") as handle:
        pickle.dump((run_id, list(articles), list(errors)), handle)
    target = folder / name
    os.replace(partial, target)
    LOGGER.warning("warehouse busy: staged %d articles in %s", len(articles), target)
    return target


def staged_batches(db_path: str | Path) -> list[Path]:
    """Staged files, oldest first."""
    folder = staging_dir(db_path)
    return sorted(folder.glob("*.batch")) if folder.exists() else []


def read_batch(path: Path) -> tuple[str, list[Article], list[PassError]]:
    # these files are written by newsmon itself, next to the database it owns
    with open(path, "rb") as handle:
        run_id, articles, errors = pickle.load(handle)
    return str(run_id), list(articles), list(errors)
