"""Alert delivery through a real Apprise json:// channel to a loopback receiver."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from flows.alerts import channel_name, deliver_alerts, legacy_channel_name
from tests.support.network import answer, canary, dripping, scripted_server
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


def deliver(db: Path, url: str, **options: Any) -> object:
    return asyncio.run(deliver_alerts(str(db), [url], retry_base=FAST, **options))


def last_error(db: Path, story: str = "s1") -> str:
    with open_warehouse(db, read_only=True) as con:
        ((error,),) = con.execute(
            "SELECT last_error FROM alerts WHERE story_id = ?", [story]
        ).fetchall()
    return str(error)


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
    assert row[2].startswith("Failed to send JSON POST notification")  # no log prefix


def test_transient_failures_are_retried_for_a_day_then_fail(tmp_path: Path) -> None:
    # six attempts over some twenty minutes was the budget: a webhook down for half an hour
    # lost the alert for good
    db = tmp_path / "w.duckdb"
    make_warehouse(db, {"s1": True})

    def later_run() -> None:  # once the back-off has passed
        with open_warehouse(db) as con:
            con.execute("UPDATE alerts SET next_attempt_at = now() - INTERVAL 1 MINUTE")

    with webhook_receiver(statuses=[503] * 50) as receiver:
        deliver(db, receiver.url())  # three tries in the run, then pending for a later run
        assert statuses(db) == {"s1": ("pending", 3)}
        for _ in range(3):
            later_run()
            deliver(db, receiver.url())
        assert statuses(db) == {"s1": ("pending", 12)}
        with open_warehouse(db, read_only=True) as con:  # never more than an hour away
            ((wait,),) = con.execute("SELECT epoch(next_attempt_at - now()) FROM alerts").fetchall()
        assert 0 < wait <= 3600
        with open_warehouse(db) as con:  # a day on
            con.execute("UPDATE alerts SET created_at = now() - INTERVAL 25 HOUR")
        later_run()
        deliver(db, receiver.url())
        assert len(receiver.posts) == 13
    assert statuses(db) == {"s1": ("failed", 13)}


def test_a_webhook_that_drips_is_cut_at_the_deadline_and_left_for_a_later_run(
    tmp_path: Path,
) -> None:
    # Apprise's timeouts bound each read, not the answer: this webhook held the pass, and the
    # warehouse's writer lock, for as long as it dripped
    db = tmp_path / "w.duckdb"
    make_warehouse(db, {"s1": True, "s2": True})
    # a byte every 0.1 s for 20 s: a sender without a deadline waits it out, and the test
    # fails rather than hangs
    with scripted_server(dripping(every=0.1, length=200)) as hook:
        started = time.monotonic()
        # 6 s: the deadline counts the sending process's start, a second or two on a busy
        # machine, and the POST must have gone out for the test to mean anything
        deliver(db, f"json://127.0.0.1:{hook.port}/hook", send_timeout=6)
        elapsed = time.monotonic() - started
        asked = list(hook.requests)
    # one try, cut at 6 s; the channel then rests for the run: the other story is not tried
    assert asked == ["/hook"] and elapsed < 15, elapsed
    assert statuses(db) == {"s1": ("pending", 1), "s2": ("pending", 0)}
    assert "no complete answer within 6 s" in last_error(db)


def test_a_redirect_is_not_followed_and_the_alert_fails_with_the_reason(tmp_path: Path) -> None:
    # requests turns a redirected POST into an empty GET, which Apprise counted as sent
    db = tmp_path / "w.duckdb"
    make_warehouse(db, {"s1": True})

    def moved(handler: BaseHTTPRequestHandler, stop: threading.Event) -> None:
        answer(handler, 302, b"", {"Location": "/landing"})

    with scripted_server(moved) as hook:
        deliver(db, f"json://127.0.0.1:{hook.port}/hook")
        asked = list(hook.requests)
    assert asked == ["/hook"]
    assert statuses(db) == {"s1": ("failed", 1)}
    assert "HTTP 302: a redirect, not followed" in last_error(db)


def test_a_redirect_toward_another_address_reaches_nothing(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    make_warehouse(db, {"s1": True})
    with canary() as elsewhere:

        def away(handler: BaseHTTPRequestHandler, stop: threading.Event) -> None:
            answer(handler, 307, b"", {"Location": elsewhere.url("/meta-data")})

        with scripted_server(away) as hook:
            deliver(db, f"json://127.0.0.1:{hook.port}/hook")
        reached = list(elsewhere.requests)
    assert reached == [] and statuses(db) == {"s1": ("failed", 1)}


def channels(db: Path) -> list[str]:
    with open_warehouse(db, read_only=True) as con:
        return [c for (c,) in con.execute("SELECT channel FROM alerts ORDER BY 1").fetchall()]


def test_a_header_value_is_masked_in_the_recorded_channel(tmp_path: Path) -> None:
    # Apprise masks passwords and tokens, not headers: a bearer token was stored as written
    db = tmp_path / "w.duckdb"
    make_warehouse(db, {"s1": True})
    with webhook_receiver() as receiver:
        deliver(db, receiver.url() + "?+Authorization=Bearer%20SECRET&-team=SECRET2")
        assert len(receiver.delivered) == 1
    assert statuses(db) == {"s1": ("sent", 1)}
    (channel,) = channels(db)
    assert "SECRET" not in channel and "Authorization=****" in channel


def test_a_changed_transport_option_is_the_same_channel(tmp_path: Path) -> None:
    # the options were part of the channel's name: a new timeout sent every story again
    db = tmp_path / "w.duckdb"
    make_warehouse(db, {"s1": True, "s2": True})
    with webhook_receiver() as receiver:
        deliver(db, receiver.url())
        deliver(db, receiver.url() + "?rto=10&cto=3")
        deliver(db, receiver.url() + "?rto=10&cto=3&format=markdown&retry=2")
        assert len(receiver.posts) == 2
    assert len(channels(db)) == 2 and len(set(channels(db))) == 1


def test_alerts_recorded_under_the_old_channel_name_are_not_sent_again(tmp_path: Path) -> None:
    # an upgrade renames a channel (headers masked, options left out): its alerts follow
    db = tmp_path / "w.duckdb"
    make_warehouse(db, {"s1": True, "s2": True})
    with webhook_receiver() as receiver:
        url = receiver.url() + "?+Authorization=Bearer%20SECRET"
        old = legacy_channel_name(url)
        assert old != channel_name(url)
        with open_warehouse(db) as con:  # s1 as an older version recorded it: sent
            con.execute(
                "INSERT INTO alerts (alert_id, story_id, channel, status, attempts, created_at,"
                " sent_at) VALUES ('old-s1', 's1', ?, 'sent', 1, ?, ?)",
                [old, T0, T0],
            )
        deliver(db, url)
        titles = [p["title"] for p in receiver.delivered]
    assert titles == ["Leader call: Headline s2"]
    assert channels(db) == [channel_name(url)] * 2
    assert statuses(db) == {"s1": ("sent", 1), "s2": ("sent", 1)}


def test_a_headline_is_printed_as_written_not_read_as_markup(tmp_path: Path) -> None:
    # rich reads a str as markup: "[UPDATED]" vanished from the console alert, and a "[/]"
    # in a headline raised, ending the alert stage
    from io import StringIO

    from rich.console import Console

    db = tmp_path / "w.duckdb"
    make_warehouse(db, {"s1": True})
    with open_warehouse(db) as con:
        con.execute("UPDATE stories SET headline = '[UPDATED] Putin [/] and Trump [b]talk'")
    out = StringIO()
    asyncio.run(deliver_alerts(str(db), ["console"], console=Console(file=out, width=200)))
    assert "Leader call: [UPDATED] Putin [/] and Trump [b]talk" in out.getvalue()
    assert statuses(db) == {"s1": ("sent", 1)}


def test_an_alert_sent_while_the_pass_is_cancelled_is_recorded_not_sent_again(
    tmp_path: Path,
) -> None:
    # a Ctrl-C during the send cancelled the coroutine, the thread still posted, and the
    # record of it was dropped: the next pass sent the alert a second time
    db = tmp_path / "w.duckdb"
    make_warehouse(db, {"s1": True})

    def slow_ok(handler: BaseHTTPRequestHandler, stop: threading.Event) -> None:
        stop.wait(1.0)
        answer(handler, 200, b"{}", {"Content-Type": "application/json"})

    async def cancelled_while_sending(url: str, posted: list[str]) -> None:
        task = asyncio.create_task(deliver_alerts(str(db), [url], retry_base=FAST))
        for _ in range(1500):  # until the POST has arrived (30 s at most)
            if posted:
                break
            await asyncio.sleep(0.02)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass

    with scripted_server(slow_ok) as hook:
        url = f"json://127.0.0.1:{hook.port}/hook"
        asyncio.run(cancelled_while_sending(url, hook.requests))  # waits for the send's thread
        assert statuses(db) == {"s1": ("sent", 1)}
        deliver(db, url)
        assert hook.requests == ["/hook"]
