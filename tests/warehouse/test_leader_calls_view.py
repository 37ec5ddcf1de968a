"""Migration 6 redefines the ``leader_calls`` view for speed (issue 8): a warehouse left at
version 5, with leader-call stories inside and outside the last 30 days, migrates, and the view
then returns exactly the rows migration 4's definition returned."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from warehouse import schema
from warehouse.connection import connect

STORIES = [
    # story_id, days ago, leader_call, evidence article
    ("call-recent", 2, True, "call-recent"),
    ("call-no-articles", 5, True, None),
    ("call-ten-days", 10, True, "ten-b"),
    ("call-old", 45, True, "call-old"),
    ("other-recent", 1, False, None),
]
ARTICLES = [
    # article_id, story_id, source, hours after the story's start (None: no published_at),
    # copy_of, evidence sentence
    ("call-recent", "call-recent", "Metro Herald", 0, None, "Putin and Trump spoke by phone."),
    ("recent-copy", "call-recent", "Xinhua", 3, "call-recent", "Putin and Trump spoke by phone."),
    ("recent-other", "call-recent", "Capital Journal", 3, None, None),
    ("recent-same", "call-recent", "Metro Herald", 5, None, None),
    ("ten-a", "call-ten-days", None, 0, None, None),
    ("ten-b", "call-ten-days", "Valley Gazette", None, None, "The presidents held a call."),
    ("call-old", "call-old", "Harbor Times", 0, None, "Trump said he spoke with Putin."),
    ("old-copy", "call-old", "Pacific Post", 20, "call-old", None),
    ("other-recent", "other-recent", "Northern Star", 0, None, None),
]
ALERTS = [
    # story_id, channel, status
    ("call-recent", "console", "sent"),
    ("call-recent", "mailtos://alerts.example", "sent"),
    ("call-ten-days", "console", "failed"),
    ("call-old", "console", "sent"),
    ("call-old", "mailtos://alerts.example", "pending"),
]
# one reference time for every fill, so two warehouses can be compared row for row
NOW = datetime.now(UTC)
ALL_ROWS = "SELECT * FROM leader_calls ORDER BY story_id"
LAST_30_DAYS = (
    "SELECT * FROM leader_calls WHERE first_seen_at >= now() - INTERVAL 30 DAY"
    " ORDER BY first_seen_at DESC"
)


def version_5_warehouse(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file as newsmon left it before migration 6, with stories, articles and alerts."""
    with monkeypatch.context() as patch:
        patch.setattr(schema, "MIGRATIONS", tuple(m for m in schema.MIGRATIONS if m.version <= 5))
        con = connect(path)
    try:
        assert schema.current_version(con) == 5
        fill(con)
    finally:
        con.close()


def fill(con: duckdb.DuckDBPyConnection) -> None:
    started = {sid: days for sid, days, _, _ in STORIES}
    for sid, days, call, evidence_article in STORIES:
        members = [a for a in ARTICLES if a[1] == sid]
        con.execute(
            "INSERT INTO stories VALUES (?, ?, ? - to_days(?), ? - to_days(?) + "
            "INTERVAL 20 HOUR, ?, ?, ?, ?, ?)",
            [
                sid,
                f"Headline of {sid}",
                NOW,
                days,
                NOW,
                days,
                len(members),
                len({a[2] for a in members}),
                call,
                "Putin and Trump spoke by phone." if evidence_article else None,
                evidence_article,
            ],
        )
    for aid, sid, source, hours, copy_of, evidence in ARTICLES:
        con.execute(
            "INSERT INTO articles (article_id, url, canonical_url, source, title, published_at,"
            " fetched_at, us_russia, relevance, copy_of, story_id, leader_call_evidence)"
            " VALUES (?, ?, ?, ?, ?,"
            " ? - to_days(?) + to_hours(CAST(? AS BIGINT)),"
            " ? - to_days(?) + INTERVAL 6 HOUR, TRUE, 0.8, ?, ?, ?)",
            [
                aid,
                f"https://news.example/{aid}",
                f"https://news.example/{aid}",
                source,
                f"Title of {aid}",
                NOW,
                started[sid],
                hours,
                NOW,
                started[sid],
                copy_of,
                sid,
                evidence,
            ],
        )
    for sid, channel, status in ALERTS:
        con.execute(
            "INSERT INTO alerts (alert_id, story_id, channel, status, attempts, created_at,"
            " sent_at) VALUES (?, ?, ?, ?, 1, ?, CASE WHEN ? = 'sent' THEN ? END)",
            [f"{sid}/{channel}", sid, channel, status, NOW, status, NOW],
        )


def test_migrating_a_version_5_file_keeps_the_rows_of_leader_calls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "v5.duckdb"
    version_5_warehouse(db, monkeypatch)
    with duckdb.connect(str(db)) as con:
        con.execute("SET TimeZone = 'UTC'")
        before_all = con.execute(ALL_ROWS).fetchall()
        before_recent = con.execute(LAST_30_DAYS).fetchall()

    con = connect(db)  # applies migration 6 and what follows
    try:
        assert schema.current_version(con) == schema.LATEST_VERSION >= 6
        names = con.execute("SELECT name FROM schema_migrations WHERE version = 6").fetchall()
        assert len(names) == 1 and "leader_calls" in names[0][0]
        after_all = con.execute(ALL_ROWS).fetchall()
        after_recent = con.execute(LAST_30_DAYS).fetchall()
        columns = [d[0] for d in con.execute(ALL_ROWS).description]
    finally:
        con.close()

    assert after_all == before_all
    assert after_recent == before_recent
    assert [r[0] for r in after_recent] == ["call-recent", "call-no-articles", "call-ten-days"]
    by_story = {r[0]: dict(zip(columns, r, strict=True)) for r in after_all}
    recent = by_story["call-recent"]
    assert recent["outlets"] == ["Capital Journal", "Metro Herald", "Xinhua"]
    assert recent["n_copies"] == 1 and len(recent["urls"]) == 4
    assert recent["evidence_source"] == "Metro Herald"
    assert recent["alerted_channels"] == ["console", "mailtos://alerts.example"]
    assert by_story["call-ten-days"]["evidence_url"] == "https://news.example/ten-b"
    assert by_story["call-ten-days"]["outlets"] == ["Valley Gazette"]
    assert by_story["call-no-articles"]["urls"] is None
    assert "other-recent" not in by_story


def test_a_new_warehouse_has_the_same_view_as_a_migrated_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    migrated, fresh = tmp_path / "migrated.duckdb", tmp_path / "fresh.duckdb"
    version_5_warehouse(migrated, monkeypatch)
    con = connect(fresh)
    try:
        fill(con)
    finally:
        con.close()
    rows = []
    for db in (migrated, fresh):
        con = connect(db)
        try:
            rows.append(con.execute(ALL_ROWS).fetchall())
        finally:
            con.close()
    assert rows[0] == rows[1] and len(rows[0]) == 4
