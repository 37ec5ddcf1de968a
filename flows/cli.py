"""The ``newsmon`` command: a thin skin over the library (CONTRACT.md lists the commands).

Library errors (``NewsmonError``) become one readable line and a non-zero exit, never a
traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import datetime as dt
import json
import math
import os
import sys
import uuid
from collections.abc import Callable, Sequence
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click
import duckdb
from rich.console import Console
from rich.table import Table
from rich.text import Text

from extractors.errors import NewsmonError, first_line
from warehouse.connection import default_db_path, lock_down, open_warehouse
from warehouse.locks import writer_lock

F = TypeVar("F", bound=Callable[..., Any])

DB_OPTION = click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="DuckDB file (default: $NEWSMON_DB, else ./newsmon.duckdb).",
)
CONFIG_OPTION = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="TOML config (default: $NEWSMON_CONFIG).",
)


def _one_line_errors(func: F) -> F:
    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except NewsmonError as exc:
            raise click.ClickException(str(exc)) from None
        except duckdb.Error as exc:  # e.g. a DuckDB file that is no warehouse
            raise click.ClickException(f"warehouse error: {first_line(exc)}") from None

    return wrapper  # type: ignore[return-value]


@click.group()
@click.version_option(package_name="newsmon")
def main() -> None:
    """newsmon: monitor news feeds for wire copy, stories and US-Russia leader calls."""


@main.command()
@DB_OPTION
@click.option(
    "--port", type=int, default=None, help="Port of the loopback demo site (default 8765)."
)
@_one_line_errors
def demo(db_path: Path | None, port: int | None) -> None:
    """Serve seeds/ on loopback, run one pass against it and show what it found."""
    from flows.config import parse_config
    from flows.demo import DEFAULT_PORT, serve_seeds
    from flows.passes import run_pass
    from flows.progress import TerminalProgress

    db = db_path or default_db_path()
    console = Console()
    with contextlib.ExitStack() as stack:
        try:
            feed_url = stack.enter_context(serve_seeds(DEFAULT_PORT if port is None else port))
        except OSError as exc:
            raise click.ClickException(
                f"cannot serve the demo site on 127.0.0.1:{port or DEFAULT_PORT} "
                f"({exc.strerror}); pass --port with a free port"
            ) from None
        config = parse_config(
            {
                "feeds": [{"name": "newsmon demo wire", "url": feed_url}],
                "fetch": {"allow_private_networks": ["127.0.0.1/32"]},
            },
            source="the demo",
        )
        with TerminalProgress() as progress:
            stats = asyncio.run(run_pass(config, db, run_id=str(uuid.uuid4()), progress=progress))
    from flows.report import print_demo_report

    print_demo_report(console, db, stats)


@main.command()
@CONFIG_OPTION
@DB_OPTION
@click.option(
    "--all-feeds",
    is_flag=True,
    help="Poll every feed now, not only those whose polling interval is up.",
)
@_one_line_errors
def run(config_path: Path | None, db_path: Path | None, all_feeds: bool) -> None:
    """Run one monitoring pass over the config's feeds as a Prefect flow run."""
    from flows.config import load_config
    from flows.progress import TerminalProgress

    config_file = _config_file(config_path)
    load_config(config_file)  # refuse a bad config before Prefect starts
    db = db_path or default_db_path()
    with open_warehouse(db):
        pass  # refuse an unusable database before Prefect starts
    with writer_lock(db):
        pass  # and a pass while another writes (the flow would refuse it, in many lines)
    from prefect.exceptions import TerminationSignal

    from flows import monitor as monitor_module

    with TerminalProgress() as progress:
        monitor_module.set_progress(progress)
        try:
            asyncio.run(
                monitor_module.monitor(
                    config_path=str(config_file), db_path=str(db), poll_all=all_feeds
                )
            )
        except TerminationSignal:
            raise click.ClickException("terminated: the pass stopped, its run recorded") from None
        finally:
            monitor_module.set_progress(None)


@main.command()
@CONFIG_OPTION
@DB_OPTION
@_one_line_errors
def serve(config_path: Path | None, db_path: Path | None) -> None:
    """Run the monitoring flow as a Prefect deployment on the config's schedule."""
    from flows.config import load_config
    from flows.serving import serve_monitor

    config_file = _config_file(config_path)
    config = load_config(config_file)
    db = db_path or default_db_path()
    with open_warehouse(db):
        pass  # refuse an unusable database before Prefect starts (as run does)
    serve_monitor(config, config_file, db)


@main.command()
@DB_OPTION
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
@click.option(
    "--live",
    is_flag=True,
    help="Query the warehouse file itself (blocks a running pass while open) "
    "instead of the snapshot refreshed after each pass.",
)
@click.argument("query")
@_one_line_errors
def sql(db_path: Path | None, output_format: str, live: bool, query: str) -> None:
    """Run a read-only QUERY against the warehouse and print the result."""
    from warehouse.queries import query as run_query
    from warehouse.search import load_fts

    db = db_path or default_db_path()
    _check_query(query)
    with open_warehouse(db if live else _readable(db), read_only=True) as con:
        load_fts(con)  # issue 6: fts_main_articles.match_bm25 works in queries, offline
        lock_down(con)  # read-only, and no file written, attached or read besides
        try:
            names, rows = run_query(con, query)
        except duckdb.Error as exc:
            raise click.ClickException(f"query failed: {first_line(exc)}") from None
    print_rows(names, rows, output_format)


@main.group(name="eval")
def eval_group() -> None:
    """Measure newsmon against labelled sets (docs/dedup-eval.md)."""


@eval_group.command()
@click.option("--limit", type=int, default=None, help="Use only the first N corpus articles.")
@click.option("--seed", type=int, default=None, help="Seed of the variant generator.")
@click.option(
    "--corpus",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The shared corpus folder (default ../shared/corpus beside the checkout).",
)
@click.option("--show-errors", is_flag=True, help="List every article the matcher got wrong.")
@click.option("--json", "as_json", is_flag=True, help="Print the scores as JSON.")
@_one_line_errors
def dedup(
    limit: int | None, seed: int | None, corpus: Path | None, show_errors: bool, as_json: bool
) -> None:
    """Score copy detection and story grouping through the warehouse (issue 3)."""
    import dataclasses

    from flows.evaluation import DEFAULT_CORPUS, DEFAULT_SEED, render_report, run_dedup_eval

    run = run_dedup_eval(
        corpus or DEFAULT_CORPUS, limit=limit, seed=DEFAULT_SEED if seed is None else seed
    )
    if as_json:
        click.echo(json.dumps(dataclasses.asdict(run.scores), indent=2))
        return
    for line in render_report(run, show_errors=show_errors):
        click.echo(line)


@main.command()
@DB_OPTION
@click.option(
    "--runs",
    "n_runs",
    type=click.IntRange(min=0, max=1_000_000),
    default=5,
    show_default=True,
    help="How many runs.",
)
@_one_line_errors
def status(db_path: Path | None, n_runs: int) -> None:
    """Show the last runs and the feeds that need attention."""
    from warehouse.queries import feeds_needing_attention, recent_runs

    db = db_path or default_db_path()
    with open_warehouse(_readable(db), read_only=True) as con:
        run_names, run_rows = recent_runs(con, n_runs)
        feed_names, feed_rows = feeds_needing_attention(con)
    click.echo("Last runs:")
    print_rows(run_names, run_rows, "table")
    if feed_rows:
        click.echo("Feeds that need attention:")
        print_rows(feed_names, feed_rows, "table")
    else:
        click.echo("All feeds answered at their last poll.")


def _check_query(query: str) -> None:
    if not query.strip():
        raise click.ClickException("the query is empty")
    try:
        query.encode("utf-8")
    except UnicodeEncodeError:  # bytes the terminal's encoding could not decode
        raise click.ClickException("the query is not valid UTF-8 text") from None


def _readable(db: Path) -> Path:
    """The analysts' snapshot when there is one (it never blocks a pass), else the file."""
    from warehouse.snapshot import snapshot_path

    snap = snapshot_path(db)
    return snap if snap.exists() else db


def print_rows(names: Sequence[str], rows: Sequence[Sequence[Any]], output_format: str) -> None:
    if output_format == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(names)
        writer.writerows([[_plain(v) for v in row] for row in rows])
    elif output_format == "json":
        # JSON has no NaN nor Infinity: such a float is null (json.dumps wrote NaN, which
        # no JSON reader takes)
        records = [
            {name: _json_value(v) for name, v in zip(names, row, strict=True)} for row in rows
        ]
        click.echo(json.dumps(records, default=_plain, indent=2, allow_nan=False))
    else:
        # Text, not str: rich reads a str as markup, and "[UPDATED] Putin call" would print
        # as " Putin call" ("[/]" would raise)
        table = Table(show_lines=False)
        for name in names:
            table.add_column(Text(name))
        for row in rows:
            table.add_row(*(Text(_cell(v)) for v in row))
        Console().print(table)
        click.echo(f"{len(rows)} row{'s' if len(rows) != 1 else ''}")


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, int | float | str | bool):
        return value
    return str(value)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = json.dumps(_plain(value)) if isinstance(value, list | tuple) else str(_plain(value))
    return text if len(text) <= 120 else text[:117] + "..."


def _config_file(config_path: Path | None) -> Path:
    from extractors.errors import ConfigError

    if config_path is not None:
        return config_path
    env = os.environ.get("NEWSMON_CONFIG")
    if not env:
        raise ConfigError("no config given: pass --config PATH or set NEWSMON_CONFIG")
    return Path(env)


@main.command()
@DB_OPTION
@click.option("--limit", type=click.IntRange(min=1), default=10, show_default=True)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
@click.option("--live", is_flag=True, help="Search the warehouse file instead of its snapshot.")
@click.argument("query")
@_one_line_errors
def search(db_path: Path | None, limit: int, output_format: str, live: bool, query: str) -> None:
    """Full-text search of article titles and text, best matches (BM25) first."""
    from warehouse.search import SearchHit
    from warehouse.search import search as search_articles

    db = db_path or default_db_path()
    _check_query(query)
    with open_warehouse(db if live else _readable(db), read_only=True) as con:
        hits = search_articles(con, query, limit)
    if output_format == "table":
        # what fits a terminal; csv and json carry every field (title, article_id, url)
        names = ["score", "headline", "source", "date", "story_id"]
        table_rows = [(round(h.score, 3), h.headline, h.source, h.date, h.story_id) for h in hits]
        print_rows(names, table_rows, output_format)
    else:
        print_rows(SearchHit._fields, hits, output_format)


@main.command()
@DB_OPTION
@click.option(
    "--to",
    "target",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder to write the Parquet files into (created if missing).",
)
@click.option("--live", is_flag=True, help="Export the warehouse file instead of its snapshot.")
@_one_line_errors
def export(db_path: Path | None, target: Path, live: bool) -> None:
    """Write the public tables as Parquet files (articles partitioned by month)."""
    from warehouse.export import export_tables

    db = db_path or default_db_path()
    with open_warehouse(db if live else _readable(db), read_only=True) as con:
        exported = export_tables(con, target)
    print_rows(
        ["table", "rows", "path"], [(t.table, t.rows, str(t.path)) for t in exported], "table"
    )
