"""The pass's write connection (flows.writing): shared by batches, closed on errors."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from extractors.relevance import score_relevance
from extractors.text import text_hash
from extractors.types import Article
from flows.writing import BatchWriter
from tests.support.pages import BODY
from tests.support.warehouse import rows
from warehouse.connection import open_warehouse


def article(n: int) -> Article:
    url = f"https://example.org/news/{n}"
    text = BODY.replace("Geneva", f"Geneva, session {n},")
    return Article(
        article_id=f"a{n}",
        url=url,
        canonical_url=url,
        feed_url="https://example.org/rss.xml",
        source=f"Outlet {n}",
        title=f"Talks, day {n}",
        text=text,
        text_hash=text_hash(text),
        fetched_at=datetime(2026, 11, 19, 10, n, tzinfo=UTC),
        published_at=datetime(2026, 11, 19, 9, n, tzinfo=UTC),
        relevance=score_relevance(f"Talks, day {n}", text),
    )


def test_batches_share_the_connection_until_it_is_closed(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    writer = BatchWriter(db)
    try:
        for n in range(3):
            writer.store([article(n)], [], "run", None)
    finally:
        writer.close()
    writer.close()  # twice is harmless
    assert writer.opened == 1
    assert rows(db, "SELECT count(*) FROM articles") == [(3,)]


def test_a_failed_load_closes_the_connection_and_the_next_batch_reopens_it(
    tmp_path: Path,
) -> None:
    db = tmp_path / "w.duckdb"
    writer = BatchWriter(db)
    broken = article(1)
    object.__setattr__(broken, "relevance", None)  # not storable: the load raises
    try:
        writer.store([article(0)], [], "run", None)
        with pytest.raises(AttributeError):
            writer.store([broken], [], "run", None)
        # the file is closed: another connection can open it meanwhile
        with open_warehouse(db, read_only=True) as con:
            assert con.execute("SELECT count(*) FROM articles").fetchone() == (1,)
        writer.store([article(2)], [], "run", None)
    finally:
        writer.close()
    assert writer.opened == 2
    assert rows(db, "SELECT article_id FROM articles ORDER BY article_id") == [("a0",), ("a2",)]
