"""What ``newsmon demo`` prints: the pass's findings, read back from the warehouse."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from extractors.types import RunStats
from warehouse.connection import open_warehouse


def print_demo_report(console: Console, db: Path, stats: RunStats) -> None:
    with open_warehouse(db, read_only=True) as con:
        rows = con.execute(
            """
            SELECT source, title, strftime(published_at, '%Y-%m-%d %H:%M') AS published,
                   us_russia, relevance, text_source, copy_of, story_id
            FROM articles ORDER BY published_at, article_id
            """
        ).fetchall()
        stories = con.execute("SELECT count(*) FROM stories").fetchone()
        alerts = con.execute("SELECT count(*) FROM alerts WHERE status = 'sent'").fetchone()
    table = Table(title="Articles in the warehouse", title_justify="left")
    for column in ("published (UTC)", "source", "title", "US-Russia", "relevance", "text from"):
        table.add_column(column)
    for source, title, published, us_russia, relevance, text_source, _copy_of, _story in rows:
        table.add_row(
            published or "",
            source or "",
            (title or "")[:70],
            "yes" if us_russia else "no",
            f"{relevance:.2f}",
            text_source or "",
        )
    console.print(table)
    us_russia = sum(1 for r in rows if r[3])
    copies = sum(1 for r in rows if r[6])
    console.print(
        f"This pass: {stats.feeds_polled} feed polled"
        f"{' (not modified)' if stats.feeds_not_modified else ''}, "
        f"{stats.items_seen} items, {stats.items_new} new, "
        f"{stats.articles_new} articles stored, {stats.errors} errors."
    )
    console.print(
        f"Warehouse: {len(rows)} articles, {us_russia} US-Russia, {copies} wire copies, "
        f"{stories[0] if stories else 0} stories, {alerts[0] if alerts else 0} alerts sent."
    )
    console.print(f"Database: {db.resolve()}")
    console.print(
        f'Query it: uv run newsmon sql --db {db} "SELECT source, title, us_russia FROM articles"'
    )
