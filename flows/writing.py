"""Where a pass's batches are written: the single writer's connection, and staging.

``run_pass`` opens a ``batch_writer`` around its loads. The first batch opens the warehouse
(with the loads' memory cap, ``warehouse.connection.load_memory_limit``); the following batches
reuse that connection, and the last one's end closes it. Opening costs a migration check and
closing a checkpoint, about 0.1 s together: once a pass rather than once a batch (issue 8).
The pass holds the writer lock throughout anyway; analysts read the snapshot
(``warehouse.snapshot``), which the pass refreshes after its loads.

A batch that finds the file locked by another process (a reader of the live file) is staged
next to the database and loaded at the start of the next pass (issue 5): fetched work is never
thrown away, and the next batch tries to open the file again. A load that fails otherwise
closes the connection (its transaction rolled back) before the error goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from pathlib import Path

import duckdb

from extractors.errors import WarehouseLocked
from extractors.types import Article, PassError
from warehouse.connection import connect, load_memory_limit, open_warehouse
from warehouse.loads import LoadResult, load_articles, record_errors
from warehouse.matching import MatchSettings
from warehouse.staging import read_batch, stage_batch, staged_batches

LOGGER = logging.getLogger(__name__)

# the [matching] settings of the pass in progress (issue 3). Load stages are called with four
# arguments (flows.monitor wraps them as tasks), so run_pass hands the settings over in context,
# as flows.pipeline does its resources; a caller may still pass them explicitly.
MATCHING: ContextVar[MatchSettings | None] = ContextVar("newsmon_matching", default=None)


class BatchWriter:
    """One write connection to ``db_path``, opened by the first batch stored through it."""

    def __init__(self, db_path: str | Path) -> None:
        self.db_path = str(db_path)
        self.opened = 0  # how many times the file was opened (a test reads it)
        self._con: duckdb.DuckDBPyConnection | None = None

    def store(
        self,
        articles: Sequence[Article],
        errors: Sequence[PassError],
        run_id: str,
        matching: MatchSettings | None,
    ) -> LoadResult:
        if self._con is None:
            self._con = connect(self.db_path, memory_limit=load_memory_limit())
            self.opened += 1
        try:
            return _load(self._con, articles, errors, run_id, matching)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._con is not None:
            con, self._con = self._con, None
            con.close()


_WRITER: ContextVar[BatchWriter | None] = ContextVar("newsmon_batch_writer", default=None)


@contextlib.contextmanager
def batch_writer(db_path: str | Path) -> Iterator[BatchWriter]:
    """Share one write connection among the batches written to ``db_path`` in this context."""
    writer = BatchWriter(db_path)
    token = _WRITER.set(writer)
    try:
        yield writer
    finally:
        _WRITER.reset(token)
        writer.close()


def write_batch(
    db_path: str,
    articles: Sequence[Article],
    errors: Sequence[PassError],
    run_id: str,
    matching: MatchSettings | None = None,
) -> LoadResult:
    """Store one batch and its errors; stage it if the file stays locked."""
    try:
        return _store(db_path, articles, errors, run_id, matching or MATCHING.get())
    except WarehouseLocked as exc:
        LOGGER.warning("%s", exc)
        stage_batch(db_path, articles, errors, run_id)
        return LoadResult((), 0, 0, 0, staged=len(articles))


def _store(
    db_path: str,
    articles: Sequence[Article],
    errors: Sequence[PassError],
    run_id: str,
    matching: MatchSettings | None,
) -> LoadResult:
    writer = _WRITER.get()
    if writer is not None and writer.db_path == str(db_path):
        return writer.store(articles, errors, run_id, matching)
    with open_warehouse(db_path, memory_limit=load_memory_limit()) as con:
        return _load(con, articles, errors, run_id, matching)


def _load(
    con: duckdb.DuckDBPyConnection,
    articles: Sequence[Article],
    errors: Sequence[PassError],
    run_id: str,
    matching: MatchSettings | None,
) -> LoadResult:
    result = load_articles(con, articles, run_id=run_id, matching=matching)
    record_errors(con, run_id, errors)
    return result


def load_staged(db_path: str, matching: MatchSettings | None) -> int:
    """Load the batches earlier passes staged, oldest first; return how many articles."""
    loaded = 0
    for path in staged_batches(db_path):
        run_id, articles, errors = read_batch(path)
        result = _store(db_path, articles, errors, run_id, matching)
        path.unlink()
        loaded += len(result.new_ids)
        LOGGER.info("loaded %d staged articles from %s", len(result.new_ids), path.name)
    return loaded


async def load_batch(
    db_path: str,
    articles: Sequence[Article],
    errors: Sequence[PassError],
    run_id: str,
    matching: MatchSettings | None = None,
) -> LoadResult:
    return await asyncio.to_thread(write_batch, db_path, articles, errors, run_id, matching)
