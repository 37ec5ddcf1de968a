"""The warehouse benchmark's generated warehouse and queries (bench/storage.py, issue 8), at a
small size: the shape it promises, and migration 6's view giving migration 4's rows on it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from bench import storage as bench
from warehouse.connection import connect
from warehouse.schema import MIGRATIONS


def test_the_generated_warehouse_has_its_shape_and_the_view_keeps_its_rows(tmp_path: Path) -> None:
    db = tmp_path / "generated.duckdb"
    info = bench.build_query_warehouse(db, 20_000, datetime.now(UTC))
    counts = info["counts"]
    assert counts["articles"] == 20_000
    assert counts["articles"] / 4 < counts["stories"] < counts["articles"] / 2
    assert 0 < counts["leader_call_stories_last_30_days"] < counts["leader_call_stories"]
    assert 0 < counts["copies"] < counts["articles"] / 3
    assert counts["alerts"] >= counts["leader_call_stories"]

    queries = bench.doc_queries()
    assert "FROM leader_calls" in queries["leader_calls (docs)"]
    (v4,) = [m for m in MIGRATIONS if m.version == 4]
    old_view = v4.sql.split("CREATE VIEW leader_calls AS", 1)[1].strip().rstrip(";")
    con = connect(db, read_only=True)
    try:
        recent = {name: con.execute(sql).fetchall() for name, sql in queries.items()}
        now = con.execute("SELECT * FROM leader_calls ORDER BY story_id").fetchall()
        before = con.execute(f"SELECT * FROM ({old_view}) ORDER BY story_id").fetchall()
        stories = con.execute(
            "SELECT count(*) FROM stories WHERE leader_call AND leader_call_article IN "
            "(SELECT article_id FROM articles WHERE story_id = stories.story_id)"
        ).fetchall()
    finally:
        con.close()
    assert now == before and len(now) == counts["leader_call_stories"]
    assert stories == [(counts["leader_call_stories"],)]
    sizes = {len(rows) for rows in recent.values()}
    assert sizes == {counts["leader_call_stories_last_30_days"]}
    assert recent["leader_calls (docs)"] == recent["leader_calls as of migration 4"]
