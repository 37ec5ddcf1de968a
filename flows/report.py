"""What ``newsmon demo`` prints: the pass's findings, read back from the warehouse."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from extractors.types import RunStats
from warehouse.connection import open_warehouse


def print_demo_report(console: Console, db: Path, stats: RunStats) -> None:
    with open_warehouse(db, read_only=True) as con:
        articles = con.execute(
            """
            SELECT strftime(a.published_at, '%Y-%m-%d') AS published, a.source, a.title,
                   a.us_russia, a.relevance, root.source AS copy_of_source, a.story_id
            FROM articles a LEFT JOIN articles root ON root.article_id = a.copy_of
            ORDER BY a.published_at, a.article_id
            """
        ).fetchall()
        stories = con.execute(
            """
            SELECT story_id, headline, n_articles, n_sources, leader_call
            FROM stories ORDER BY first_seen_at, story_id
            """
        ).fetchall()
        alerts = con.execute(
            "SELECT count(*) FILTER (status = 'sent'), count(*) FILTER (status = 'failed') "
            "FROM alerts"
        ).fetchone()
    story_number = {row[0]: n for n, row in enumerate(stories, start=1)}

    table = Table(title="Articles", title_justify="left", expand=False)
    table.add_column("published", no_wrap=True, min_width=10)
    table.add_column("source", no_wrap=True, max_width=14, overflow="ellipsis")
    table.add_column("title", no_wrap=True, overflow="ellipsis", max_width=20)
    table.add_column("US-Russia", no_wrap=True, min_width=9)
    table.add_column("copy of", no_wrap=True, max_width=12, overflow="ellipsis")
    table.add_column("story", no_wrap=True, min_width=5)
    for published, source, title, us_russia, relevance, copy_source, story in articles:
        table.add_row(  # data as Text: rich reads a str as markup ("[UPDATED] ...")
            published or "",
            Text(source or ""),
            Text(title or ""),
            f"yes {relevance:.2f}" if us_russia else f"no {relevance:.2f}",
            copy_source or "",
            str(story_number.get(story, "")),
        )
    console.print(table)

    story_table = Table(title="Stories", title_justify="left")
    story_table.add_column("story", no_wrap=True, min_width=5)
    story_table.add_column("headline", no_wrap=True, overflow="ellipsis", max_width=30)
    story_table.add_column("articles", no_wrap=True, min_width=8)
    story_table.add_column("outlets", no_wrap=True, min_width=7)
    story_table.add_column("leader call", no_wrap=True, min_width=11)
    for story, headline, n_articles, n_sources, leader_call in stories:
        story_table.add_row(
            str(story_number[story]),
            Text(headline or ""),
            str(n_articles),
            str(n_sources),
            "yes" if leader_call else "no",
        )
    console.print(story_table)

    sent, failed = alerts or (0, 0)
    console.print(
        f"This pass: {stats.feeds_polled} feed polled"
        f"{' (not modified)' if stats.feeds_not_modified else ''}"
        f"{f', {stats.feeds_skipped} not due yet' if stats.feeds_skipped else ''}, "
        f"{stats.items_new} new items, {stats.articles_new} articles stored, "
        f"{stats.alerts_sent} alerts sent, {stats.errors} errors."
    )
    console.print(
        f"Warehouse: {len(articles)} articles ({sum(1 for a in articles if a[3])} US-Russia, "
        f"{sum(1 for a in articles if a[5])} wire copies), {len(stories)} stories "
        f"({sum(1 for s in stories if s[4])} leader calls), {sent} alerts sent"
        f"{f', {failed} failed' if failed else ''}."
    )
    console.print(f"Database: {db.resolve()}", markup=False)
    query = f'uv run newsmon sql --db {db} "SELECT source, title FROM articles"'
    console.print(f"Query it: {query}", markup=False)
