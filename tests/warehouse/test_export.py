"""``newsmon export``: the public tables round-trip through Parquet (issue 6)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from flows.cli import main
from tests.warehouse.analyst_db import fill_demo
from warehouse.connection import open_warehouse
from warehouse.export import PUBLIC_TABLES, export_tables
from warehouse.queries import table_counts


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("export") / "demo.duckdb"
    fill_demo(db)
    return db


def parquet_rows(con: duckdb.DuckDBPyConnection, pattern: Path) -> int:
    rows = con.execute(
        "SELECT count(*) FROM read_parquet(?, hive_partitioning = true)", [str(pattern)]
    ).fetchall()
    return int(rows[0][0])


def test_export_round_trips_every_public_table(demo_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["export", "--db", str(demo_db), "--to", str(out)])
    assert result.exit_code == 0, result.output
    assert "articles" in result.output and "5 rows" in result.output

    with open_warehouse(demo_db, read_only=True) as con:
        counts = table_counts(con)
        stored = con.execute(
            "SELECT article_id, title, published_at, relevance_terms, us_russia FROM articles"
            " ORDER BY article_id"
        ).fetchall()
        assert counts == {"articles": 5, "stories": 3, "alerts": 3, "feeds": 1, "runs": 1}
        for table in PUBLIC_TABLES:
            pattern = out / "articles" / "**" / "*.parquet" if table == "articles" else None
            read = parquet_rows(con, pattern or out / f"{table}.parquet")
            assert read == counts[table], table
        # the values come back as stored: timestamps in UTC, lists as lists
        back = con.execute(
            "SELECT article_id, title, published_at, relevance_terms, us_russia"
            " FROM read_parquet(?, hive_partitioning = true) ORDER BY article_id",
            [str(out / "articles" / "**" / "*.parquet")],
        ).fetchall()
    assert back == stored


def test_articles_are_partitioned_by_month(demo_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with open_warehouse(demo_db, read_only=True) as con:
        exported = {t.table: t for t in export_tables(con, out)}
    assert exported["articles"].path == out / "articles"
    months = sorted(p.name for p in (out / "articles").iterdir())
    # the seeds span Nov 2016 - May 2017: FT in November, the Jan 28 call, Bloomberg in May
    assert months == ["month=2016-11", "month=2017-01", "month=2017-05"]
    con = duckdb.connect()
    try:
        per_month = {
            d.name: parquet_rows(con, d / "*.parquet") for d in (out / "articles").iterdir()
        }
        stories = con.execute("SELECT * FROM read_parquet(?)", [str(out / "stories.parquet")])
        columns = [d[0] for d in stories.description or []]
        n_stories = len(stories.fetchall())
    finally:
        con.close()
    assert per_month == {"month=2016-11": 1, "month=2017-01": 3, "month=2017-05": 1}
    assert n_stories == 3 and "leader_call" in columns


def test_a_new_export_replaces_the_old_one_and_leaves_other_files(
    demo_db: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    stale = out / "articles" / "month=1999-01"
    stale.mkdir(parents=True)
    (stale / "data_0.parquet").write_bytes(b"stale")
    (out / "notes.txt").write_text("mine")
    with open_warehouse(demo_db, read_only=True) as con:
        export_tables(con, out)
        export_tables(con, out)
        assert parquet_rows(con, out / "articles" / "**" / "*.parquet") == 5
    assert not stale.exists()
    assert (out / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in out.iterdir()) == [
        "alerts.parquet",
        "articles",
        "feeds.parquet",
        "notes.txt",
        "runs.parquet",
        "stories.parquet",
    ]


def test_an_empty_warehouse_exports_empty_tables(tmp_path: Path) -> None:
    db = tmp_path / "empty.duckdb"
    with open_warehouse(db) as con:
        exported = export_tables(con, tmp_path / "out")
    assert [(t.table, t.rows) for t in exported] == [(name, 0) for name in PUBLIC_TABLES]
    assert (tmp_path / "out" / "articles").is_dir()
    con = duckdb.connect()
    try:
        assert parquet_rows(con, tmp_path / "out" / "runs.parquet") == 0
    finally:
        con.close()


def test_export_errors_are_one_line(demo_db: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = CliRunner().invoke(
        main, ["export", "--db", str(demo_db), "--to", str(blocker / "out")]
    )
    assert result.exit_code == 1
    assert result.output.startswith("Error: cannot create the export folder")
    assert result.output.count("\n") == 1


@pytest.mark.parametrize(
    ("path", "content"),
    [
        ("articles/draft.md", b"my notes"),  # a user's file in the articles folder
        ("articles/month=2020-01/w.duckdb", b"a database"),
        ("runs.parquet", b"not parquet"),
        ("articles", b"a file where the folder goes"),
    ],
)
def test_an_export_replaces_nothing_an_export_did_not_write(
    demo_db: Path, tmp_path: Path, path: str, content: bytes
) -> None:
    # it replaced those paths whatever they held: a note in articles/ was deleted, and with
    # --to beside a warehouse in articles/, the warehouse itself
    out = tmp_path / "out"
    theirs = out / path
    theirs.parent.mkdir(parents=True, exist_ok=True)
    theirs.write_bytes(content)
    result = CliRunner().invoke(main, ["export", "--db", str(demo_db), "--to", str(out)])
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert result.output.startswith(f"Error: cannot export to {out}: ")
    assert theirs.read_bytes() == content
    assert [p for p in out.rglob("*") if p.is_file()] == [theirs]  # nothing written either


def test_a_database_that_is_no_warehouse_is_one_line(tmp_path: Path) -> None:
    plain = tmp_path / "plain.duckdb"
    duckdb.connect(str(plain)).close()
    result = CliRunner().invoke(
        main, ["export", "--db", str(plain), "--to", str(tmp_path / "out"), "--live"]
    )
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert result.output.startswith("Error: ")
