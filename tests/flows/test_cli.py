"""The ``newsmon`` commands as users run them: the demo in a subprocess, the rest via CliRunner."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from flows.cli import main
from flows.demo import load_seeds
from tests.support.corpus import token_f1
from tests.support.pages import page, rss
from tests.support.sites import serve_site
from warehouse.connection import open_warehouse

ROOT = Path(__file__).resolve().parents[2]
FURNITURE = (
    "ADVERTISEMENT",
    "Related coverage",
    "Subscribe for",
    "All rights reserved",
    "Sign up for our morning briefing",
    "Share on Facebook",
    "Privacy Policy",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def newsmon(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("NEWSMON_", "PREFECT_API"))},
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-c", "from flows.cli import main; main()", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_demo_stores_the_seeds_cleanly_and_a_second_run_changes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "demo.duckdb"
    port = str(free_port())
    first = newsmon("demo", "--db", str(db), "--port", port, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    for stream in (first.stdout, first.stderr):
        assert "Traceback" not in stream and "Warning" not in stream
    assert str(db) in first.stdout

    with open_warehouse(db, read_only=True) as con:
        stored = con.execute("SELECT title, text, us_russia, text_source FROM articles").fetchall()
        snapshot = con.execute(
            "SELECT article_id, copy_of, story_id, text FROM articles ORDER BY 1"
        ).fetchall()
    assert len(stored) == 5
    by_title = {title: (text, flag, source) for title, text, flag, source in stored}
    for seed in load_seeds():
        text, us_russia, text_source = by_title[seed.title]
        assert us_russia and text_source == "page"
        assert token_f1(text, seed.text) >= 0.95, seed.id
        for furniture in FURNITURE:
            assert furniture not in text, (seed.id, furniture)

    # issue 3/4 ground truth: 002 is a copy of 000, three stories, three leader-call alerts
    with open_warehouse(db, read_only=True) as con:
        copies = con.execute(
            "SELECT c.title, r.title FROM articles c JOIN articles r ON r.article_id = c.copy_of"
        ).fetchall()
        stories = con.execute(
            "SELECT count(*), count(*) FILTER (leader_call) FROM stories"
        ).fetchone()
        alerts = con.execute("SELECT count(*) FILTER (status = 'sent') FROM alerts").fetchone()
    seeds = {s.id: s.title for s in load_seeds()}
    assert copies == [(seeds["002"], seeds["000"])]
    assert stories == (3, 3) and alerts == (3,)
    assert first.stdout.count("Leader call:") == 3

    second = newsmon("demo", "--db", str(db), "--port", port, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "Traceback" not in second.stderr
    with open_warehouse(db, read_only=True) as con:
        again = con.execute(
            "SELECT article_id, copy_of, story_id, text FROM articles ORDER BY 1"
        ).fetchall()
        runs = con.execute("SELECT articles_new FROM runs ORDER BY started_at").fetchall()
        alerts_again = con.execute("SELECT count(*) FROM alerts").fetchone()
    assert again == snapshot
    assert runs == [(5,), (0,)]
    assert alerts_again == (3,) and "Leader call:" not in second.stdout


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo")
    db = folder / "demo.duckdb"
    result = newsmon("demo", "--db", str(db), "--port", str(free_port()), cwd=folder)
    assert result.returncode == 0, result.stderr
    return db


def test_sql_formats(demo_db: Path) -> None:
    runner = CliRunner()
    query = "SELECT source, us_russia FROM articles ORDER BY source"
    as_json = runner.invoke(main, ["sql", "--db", str(demo_db), "--format", "json", query])
    assert as_json.exit_code == 0, as_json.output
    rows = json.loads(as_json.output)
    assert len(rows) == 5 and all(r["us_russia"] is True for r in rows)
    as_csv = runner.invoke(main, ["sql", "--db", str(demo_db), "--format", "csv", query])
    assert as_csv.output.splitlines()[0] == "source,us_russia"
    assert len(as_csv.output.splitlines()) == 6
    table = runner.invoke(main, ["sql", "--db", str(demo_db), query])
    assert "Bloomberg" in table.output and "5 rows" in table.output


def test_sql_json_is_json_whatever_the_floats(demo_db: Path) -> None:
    # NaN and Infinity were written as such: no JSON reader takes them
    query = "SELECT 'nan'::DOUBLE AS a, ['inf'::DOUBLE, 1.5] AS b"
    result = CliRunner().invoke(main, ["sql", "--db", str(demo_db), "--format", "json", query])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output, parse_constant=lambda c: pytest.fail(c)) == [
        {"a": None, "b": [None, 1.5]}
    ]


def test_sql_prints_brackets_as_written(demo_db: Path) -> None:
    # rich read cells as markup: "[UPDATED] Putin call" printed as " Putin call"
    query = "SELECT '[UPDATED] Putin call' AS \"[b]title\", '[/]' AS odd"
    result = CliRunner().invoke(main, ["sql", "--db", str(demo_db), query])
    assert result.exit_code == 0, result.output
    assert "[UPDATED] Putin call" in result.output and "[/]" in result.output
    assert "[b]title" in result.output


def test_sql_is_read_only_and_errors_are_one_line(demo_db: Path) -> None:
    runner = CliRunner()
    bad = runner.invoke(main, ["sql", "--db", str(demo_db), "SELECT nope FROM articles"])
    assert bad.exit_code == 1
    assert bad.output.startswith("Error: query failed:") and bad.output.count("\n") == 1
    write = runner.invoke(main, ["sql", "--db", str(demo_db), "DELETE FROM articles"])
    assert write.exit_code == 1 and "read-only" in write.output.lower()
    missing = runner.invoke(
        main, ["sql", "--db", str(demo_db.parent / "absent.duckdb"), "SELECT 1"]
    )
    assert missing.exit_code == 1 and "no warehouse" in missing.output


@pytest.mark.parametrize(
    "statement",
    [
        "COPY (SELECT 'pwned' AS x) TO '{live}' (FORMAT csv)",  # over the live warehouse
        "ATTACH '{live}' AS w (READ_WRITE); DELETE FROM w.runs",  # the live file, from the snapshot
        "EXPORT DATABASE '{folder}/dump'",
        "PRAGMA profiling_output = '{folder}/profile.txt'",
        "SELECT * FROM read_csv('{live}')",
        "LOAD spatial",
        "SET enable_external_access = true",
    ],
)
def test_sql_writes_no_file_and_reads_no_other(tmp_path: Path, statement: str) -> None:
    # read_only=True left all of these open: one COPY replaced the warehouse with a CSV file
    live = tmp_path / "w.duckdb"
    with open_warehouse(live) as con:
        con.execute("INSERT INTO runs (run_id, started_at) VALUES ('r1', now())")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    sql = statement.format(live=live, folder=tmp_path)
    result = CliRunner().invoke(main, ["sql", "--db", str(live), sql])
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    assert after.keys() - {"w.snapshot.duckdb"} == before.keys()
    assert after["w.duckdb"] == before["w.duckdb"] and not (tmp_path / "dump").exists()


def test_run_is_quiet_and_stores_the_pass_even_with_an_empty_api_url(tmp_path: Path) -> None:
    # "PREFECT_API_URL=" (an .env line) made Prefect send every event to the empty URL, with a
    # traceback each, on an otherwise successful pass
    with serve_site() as site:
        site.add("/lavrov", page("Lavrov in Geneva"))
        site.add("/feed.xml", rss(site, [("/lavrov", "Lavrov in Geneva")]))
        config = tmp_path / "newsmon.toml"
        config.write_text(
            f'[[feeds]]\nname = "site"\nurl = "{site.url("/feed.xml")}"\n'
            '[fetch]\nallow_private_networks = ["127.0.0.1/32"]\n',
            encoding="utf-8",
        )
        db = tmp_path / "w.duckdb"
        result = newsmon(
            "run", "--config", str(config), "--db", str(db), cwd=tmp_path,
            env={"PREFECT_API_URL": ""},
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    for marker in ("Traceback", "ERROR", "Warning"):
        assert marker not in result.stderr, result.stderr
    with open_warehouse(db, read_only=True) as con:
        assert con.execute("SELECT title, text_source FROM articles").fetchall() == [
            ("Lavrov in Geneva", "page")
        ]


def test_run_refuses_an_unusable_config_in_one_line(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[[feeds]]\nname = "x"\nurl = "https://example.org/rss"\nfrequency = 5\n')
    result = CliRunner().invoke(
        main, ["run", "--config", str(config), "--db", str(tmp_path / "w.duckdb")]
    )
    assert result.exit_code == 1
    assert result.output.strip().startswith("Error: feeds[0].frequency: unknown key")
    assert result.output.count("\n") == 1


def test_run_refuses_an_unusable_database_in_one_line(tmp_path: Path) -> None:
    config = tmp_path / "ok.toml"
    config.write_text('[[feeds]]\nname = "x"\nurl = "https://example.org/rss"\n')
    bogus = tmp_path / "bogus.duckdb"
    bogus.write_text("not a database")
    result = CliRunner().invoke(main, ["run", "--config", str(config), "--db", str(bogus)])
    assert result.exit_code == 1
    assert (
        result.output.startswith("Error: cannot open warehouse") and result.output.count("\n") == 1
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sql", ""], "Error: the query is empty"),
        (["sql", "SELECT '\udcff'"], "Error: the query is not valid UTF-8 text"),
        (["search", "\udcff"], "Error: the query is not valid UTF-8 text"),
    ],
)
def test_an_unusable_query_is_one_line(demo_db: Path, args: list[str], message: str) -> None:
    # an empty query raised AttributeError; bytes the terminal could not decode reached
    # DuckDB as lone surrogates
    command, query = args
    result = CliRunner().invoke(main, [command, "--db", str(demo_db), query])
    assert result.exit_code == 1 and result.output == message + "\n"


def test_a_query_of_comments_only_has_no_rows(demo_db: Path) -> None:
    result = CliRunner().invoke(main, ["sql", "--db", str(demo_db), "--", "-- nothing"])
    assert result.exit_code == 0 and result.output.strip().endswith("0 rows")


def test_a_database_that_is_no_warehouse_is_one_line_for_status(tmp_path: Path) -> None:
    import duckdb

    plain = tmp_path / "plain.duckdb"
    duckdb.connect(str(plain)).close()
    result = CliRunner().invoke(main, ["status", "--db", str(plain)])
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert result.output.startswith("Error: warehouse error: Catalog Error")


def test_serve_refuses_an_unusable_database_before_prefect_starts(tmp_path: Path) -> None:
    config = tmp_path / "ok.toml"
    config.write_text('[[feeds]]\nname = "x"\nurl = "https://example.org/rss"\n')
    bogus = tmp_path / "bogus.duckdb"
    bogus.write_text("not a database")
    # a subprocess with a deadline: should the check go, serve would serve, and never return
    result = subprocess.run(
        [sys.executable, "-c", "from flows.cli import main; main()", "serve"]
        + ["--config", str(config), "--db", str(bogus)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("Error: cannot open warehouse")


def test_run_while_another_pass_writes_is_one_line(tmp_path: Path) -> None:
    # the flow refused it too, but only after Prefect had printed its traceback
    from warehouse.locks import writer_lock

    config = tmp_path / "ok.toml"
    config.write_text('[[feeds]]\nname = "x"\nurl = "https://example.org/rss"\n')
    db = tmp_path / "w.duckdb"
    with writer_lock(db):
        result = CliRunner().invoke(main, ["run", "--config", str(config), "--db", str(db)])
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert result.output.startswith(f"Error: another pass is writing to {db}")


def test_every_command_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in main.commands:
        assert f"newsmon {name}" in readme, name
