"""Full-text search over article titles and text, with DuckDB's ``fts`` extension (issue 6).

The extension comes from the ``duckdb-extension-fts`` package, pinned to duckdb's version, and
is loaded from its file (``load_fts``): never ``INSTALL fts``, which would download it. A
connection that calls ``fts_main_articles.match_bm25`` without the extension loaded makes
DuckDB try to fetch it from the network, so every connection that searches loads it first.

The index (schema ``fts_main_articles``) is a snapshot of ``articles``: DuckDB does not update
it as rows arrive, so each pass rebuilds it before the analysts' snapshot is copied
(``rebuild_search_index`` from ``flows.passes.run_pass``), and the snapshot carries it.
Articles are only ever appended, so the index is current when it holds exactly the stored ids;
a pass that stored nothing new skips the rebuild.
"""

from __future__ import annotations

import importlib.util
import logging
import time
from datetime import date
from pathlib import Path
from typing import NamedTuple

import duckdb

from extractors.errors import WarehouseError, first_line
from warehouse.connection import open_warehouse

LOGGER = logging.getLogger(__name__)

INDEX_SCHEMA = "fts_main_articles"


class SearchHit(NamedTuple):
    """One article matching a search, best first."""

    score: float  # BM25 over title and text; higher is better
    headline: str | None  # the story's headline, else the article's title
    title: str | None
    source: str | None
    date: date | None  # published_at, else fetched_at (UTC)
    story_id: str | None
    article_id: str
    url: str


def fts_extension_path() -> Path:
    """The ``fts`` extension file shipped for the installed duckdb version."""
    spec = importlib.util.find_spec("duckdb_extension_fts")
    if spec is None or not spec.submodule_search_locations:
        raise WarehouseError(
            "the duckdb-extension-fts package is not installed: full-text search needs it"
        )
    package = Path(next(iter(spec.submodule_search_locations)))
    return package / "extensions" / f"v{duckdb.__version__}" / "fts.duckdb_extension"


def load_fts(con: duckdb.DuckDBPyConnection) -> None:
    """Load the bundled ``fts`` extension into ``con`` (no network)."""
    path = fts_extension_path()
    if not path.is_file():
        raise WarehouseError(
            f"the fts extension for duckdb {duckdb.__version__} is missing at {path}: "
            "install duckdb-extension-fts of the same version as duckdb"
        )
    try:
        con.execute(f"LOAD '{_quote(str(path))}'")
    except duckdb.Error as exc:
        raise WarehouseError(f"cannot load the fts extension {path}: {first_line(exc)}") from exc


def has_search_index(con: duckdb.DuckDBPyConnection) -> bool:
    rows = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = 'docs'",
        [INDEX_SCHEMA],
    ).fetchall()
    return bool(rows and rows[0][0])


def search_index_is_current(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the index holds exactly the stored articles (they are append-only)."""
    if not has_search_index(con):
        return False
    rows = con.execute(
        "SELECT (SELECT count(*) FROM articles) = (SELECT count(*) FROM fts_main_articles.docs)"
        " AND (SELECT coalesce(bit_xor(hash(article_id)), 0) FROM articles)"
        " = (SELECT coalesce(bit_xor(hash(name)), 0) FROM fts_main_articles.docs)"
    ).fetchall()
    return bool(rows and rows[0][0])


def refresh_search_index(con: duckdb.DuckDBPyConnection, *, force: bool = False) -> bool:
    """Rebuild the BM25 index over ``articles.title`` and ``articles.text`` unless it is
    current (or ``force``); return whether it was rebuilt. ``con`` must be a write connection."""
    load_fts(con)
    if not force and search_index_is_current(con):
        return False
    started = time.monotonic()
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(
            "PRAGMA create_fts_index('articles', 'article_id', 'title', 'text', overwrite=1)"
        )
        con.execute("COMMIT")
    except duckdb.Error as exc:
        con.execute("ROLLBACK")
        raise WarehouseError(f"cannot build the search index: {first_line(exc)}") from exc
    LOGGER.info("rebuilt the search index in %.2f s", time.monotonic() - started)
    return True


def rebuild_search_index(db_path: str | Path) -> bool:
    """``refresh_search_index`` on the warehouse file (the pass calls this under its lock)."""
    try:
        with open_warehouse(db_path) as con:
            return refresh_search_index(con)
    except duckdb.Error as exc:
        raise WarehouseError(f"cannot build the search index: {first_line(exc)}") from exc


def search(con: duckdb.DuckDBPyConnection, query: str, limit: int = 10) -> list[SearchHit]:
    """The articles best matching ``query`` (BM25 over title and text), best first."""
    if not has_search_index(con):
        raise WarehouseError(
            "the warehouse has no search index yet: run a pass (newsmon run / newsmon demo)"
        )
    load_fts(con)
    try:
        rows = con.execute(
            """
            WITH hits AS (
                SELECT article_id, fts_main_articles.match_bm25(article_id, ?) AS score
                FROM articles
            )
            SELECT h.score, coalesce(s.headline, a.title), a.title, a.source,
                   CAST(coalesce(a.published_at, a.fetched_at) AS DATE), a.story_id,
                   a.article_id, a.url
            FROM hits h
            JOIN articles a USING (article_id)
            LEFT JOIN stories s ON s.story_id = a.story_id
            WHERE h.score IS NOT NULL
            ORDER BY h.score DESC, coalesce(a.published_at, a.fetched_at) DESC, a.article_id
            LIMIT ?
            """,
            [query, limit],
        ).fetchall()
    except duckdb.Error as exc:
        raise WarehouseError(f"search failed: {first_line(exc)}") from exc
    return [SearchHit(*row) for row in rows]


def _quote(text: str) -> str:
    return text.replace("'", "''")
