"""Alert delivery through a real Apprise json:// channel to a loopback receiver."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flows.alerts import deliver_alerts
from tests.support.webhook import webhook_receiver
from warehouse.connection import open_warehouse

T0 = datetime(2017, 1, 28, 19, 5, tzinfo=UTC)
FAST = timedelta(milliseconds=10)


def make_warehouse(db: Path, stories: dict[str, bool]) -> None:
    """Stories (id -> leader_call) with one article each."""
    with open_warehouse(db) as con:
        for n, (story, leader_call) in enumerate(stories.items()):
            con.execute(
                "INSERT INTO stories VALUES (?, ?, ?, ?, 1, 1, ?, ?, ?)",
                [
                    story,
                    f"Headline {story}",
                    T0,
                    T0,
                    leader_call,
                    "Putin and Trump spoke by phone on Saturday." if leader_call else None,
                    f"a{n}",
                ],
            )
            con.execute(
                "INSERT INTO articles (article_id, url, canonical_url, source, title, fetched_at,"
                " us_russia, relevance, story_id) VALUES (?, ?, ?, 'Outlet', 't', ?, TRUE, 1.0, ?)",
                [f"a{n}", f"https://outlet.example/{n}", f"https://outlet.example/{n}", T0, story],
            )


def deliver(db: Path, url: str) -> object:
    return asyncio.run(deliver_alerts(str(db), [url], retry_base=FAST))


def statuses(db: Path) -> dict[str, tuple[str, int]]:
    with open_warehouse(db, read_only=True) as con:
        rows = con.execute("SELECT story_id, status, attempts FROM alerts").fetchall()
    return {story: (status, attempts) for story, status, attempts in rows}


def test_one_delivery_per_leader_call_story_across_passes(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    make_warehouse(db, {"s1": True, "s2": True, "s3": False})
    with webhook_receiver() as receiver:
        for _ in range(3):
            deliver(db, receiver.url())
        delivered = receiver.delivered
    assert sorted(p["title"] for p in delivered) == [
        "Leader call: Headline s1",
        "Leader call: Headline s2",
    ]
    assert "Putin and Trump spoke by phone" in delivered[0]["message"]
    assert (
        "Outlet" in delivered[0]["message"] and "https://outlet.example/" in delivered[0]["message"]
    )
    assert statuses(db) == {"s1": ("sent", 1), "s2": ("sent", 1)}


def test_server_errors_are_retried_until_one_delivery(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    make_warehouse(db, {"s1": True})
    with webhook_receiver(statuses=[500, 500]) as receiver:
        deliver(db, receiver.url())
        deliver(db, receiver.url())
        assert len(receiver.posts) == 3 and len(receiver.delivered) == 1
    assert statuses(db) == {"s1": ("sent", 3)}


def test_a_400_is_failed_and_not_retried(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    make_warehouse(db, {"s1": True})
    with webhook_receiver(statuses=[400, 400, 400]) as receiver:
        deliver(db, receiver.url())
        deliver(db, receiver.url())
        assert len(receiver.posts) == 1 and receiver.delivered == []
    with open_warehouse(db, read_only=True) as con:
        row = con.execute("SELECT status, attempts, last_error FROM alerts").fetchone()
    assert row is not None and row[:2] == ("failed", 1) and "400" in row[2]


def test_transient_failures_stop_at_the_limit(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    make_warehouse(db, {"s1": True})
    with webhook_receiver(statuses=[503] * 50) as receiver:
        deliver(db, receiver.url())  # three tries in the run, then pending for a later run
        assert statuses(db) == {"s1": ("pending", 3)}
        with open_warehouse(db) as con:  # a later run, once the back-off has passed
            con.execute("UPDATE alerts SET next_attempt_at = now() - INTERVAL 1 MINUTE")
        deliver(db, receiver.url())
        assert len(receiver.posts) == 6
    assert statuses(db) == {"s1": ("failed", 6)}
