"""Every ```sql block of docs/warehouse.md runs, as written, against a warehouse filled by a real
pass (issue 6): the docs cannot rot. Blocks go through ``newsmon sql`` as a user would send
them, so the snapshot, the read-only connection and the fts extension are all in play."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from flows.cli import main
from tests.warehouse.analyst_db import fill_mixed

DOC = Path(__file__).resolve().parents[2] / "docs" / "warehouse.md"
SQL_BLOCK = re.compile(r"^```sql\n(.*?)^```", re.DOTALL | re.MULTILINE)
BLOCKS = SQL_BLOCK.findall(DOC.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("docs") / "newsmon.duckdb"
    stats = fill_mixed(db)
    assert stats.status == "completed" and stats.articles_new == 8
    return db


def run_sql(db: Path, query: str) -> list[dict[str, object]]:
    result = CliRunner().invoke(main, ["sql", "--db", str(db), "--format", "json", query])
    assert result.exit_code == 0, f"{query}\n{result.output}"
    rows: list[dict[str, object]] = json.loads(result.output)
    return rows


def test_the_doc_has_the_promised_examples() -> None:
    text = "\n".join(BLOCKS)
    assert len(BLOCKS) >= 6
    for needle in ("leader_calls", "copy_of", "us_russia_articles", "consecutive_errors"):
        assert needle in text, needle
    assert "fts_main_articles.match_bm25" in text


@pytest.mark.parametrize("query", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_every_sql_block_runs(warehouse: Path, query: str) -> None:
    run_sql(warehouse, query)


def test_the_examples_answer_their_questions(warehouse: Path) -> None:
    by_question = {block: run_sql(warehouse, block) for block in BLOCKS}

    def rows_of(needle: str) -> list[dict[str, object]]:
        (block,) = [b for b in BLOCKS if needle in b]
        return by_question[block]

    reprints = rows_of("outlets_reprinting")
    assert [(r["first_outlet"], r["reprinted_by"]) for r in reprints] == [
        ("Metro Herald", ["Capital Journal"])
    ]
    per_day = rows_of("count(*) FILTER (copy_of IS NOT NULL) AS copies")
    assert [(r["day"], r["articles"]) for r in per_day] == [
        ("2016-11-14", 1),
        ("2017-01-28", 3),
        ("2017-05-02", 1),
    ]
    failing = rows_of("failing_since")
    assert [(r["name"], r["last_http_status"]) for r in failing] == [("Broken feed", 500)]
    assert failing[0]["failing_since"] is not None
    search = rows_of("match_bm25")
    assert search and "Phone Call" in str(search[0]["title"])
