"""The alert outbox: one alert per (leader-call story, channel), delivered at most once.

Delivery follows record → send → mark: a row is written ``pending`` before anything is sent,
and becomes ``sent`` only after the channel accepted it. A transient failure (5xx, timeout,
connection refused) leaves it ``pending`` with ``next_attempt_at`` pushed back exponentially,
to be retried later in the run and on later runs, until ``max_attempts``; a permanent one
(4xx) or the last attempt marks it ``failed``, with the reason in ``last_error``. The alert id
is a hash of (story, channel), so re-running anything never creates a second row.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb


@dataclass(frozen=True)
class PendingAlert:
    """An alert due for a delivery attempt, with what its message needs."""

    alert_id: str
    story_id: str
    channel: str
    attempts: int
    headline: str
    first_seen_at: datetime | None
    evidence: str | None
    outlets: tuple[str, ...]
    links: tuple[str, ...]


def alert_id(story_id: str, channel: str) -> str:
    return hashlib.sha1(f"{story_id}\x00{channel}".encode()).hexdigest()[:20]


def rename_channel(con: duckdb.DuckDBPyConnection, old: str, new: str) -> int:
    """Record the alerts of channel ``old`` as ``new``'s (how a channel is named changed);
    a story ``new`` has a row for already keeps that row. Returns the rows renamed."""
    if old == new:
        return 0
    row = con.execute(
        """
        UPDATE alerts SET channel = $new
        WHERE channel = $old
          AND NOT EXISTS (SELECT 1 FROM alerts b
                          WHERE b.story_id = alerts.story_id AND b.channel = $new)
        RETURNING 1
        """,
        {"old": old, "new": new},
    ).fetchall()
    return len(row)


def enqueue_alerts(
    con: duckdb.DuckDBPyConnection, channels: Sequence[str], now: datetime
) -> list[str]:
    """Record a pending alert for every leader-call story and channel that has none yet.

    Returns the ids of the stories that got their first alert row in this call (new
    leader-call stories), so the caller can announce them once.
    """
    if not channels:
        return []
    rows = con.execute(
        """
        SELECT s.story_id, c.channel
        FROM stories s CROSS JOIN (SELECT unnest(?) AS channel) c
        WHERE s.leader_call
          AND NOT EXISTS (SELECT 1 FROM alerts a
                          WHERE a.story_id = s.story_id AND a.channel = c.channel)
        ORDER BY s.first_seen_at, s.story_id, c.channel
        """,
        [list(channels)],
    ).fetchall()
    if not rows:
        return []
    con.executemany(
        "INSERT INTO alerts (alert_id, story_id, channel, status, attempts, created_at,"
        " next_attempt_at) VALUES (?, ?, ?, 'pending', 0, ?, ?) ON CONFLICT DO NOTHING",
        [[alert_id(story, channel), story, channel, now, now] for story, channel in rows],
    )
    return list(dict.fromkeys(story for story, _ in rows))


def due_alerts(
    con: duckdb.DuckDBPyConnection, now: datetime, *, channels: Sequence[str] | None = None
) -> list[PendingAlert]:
    """Pending alerts whose next attempt is due, oldest story first."""
    rows = con.execute(
        """
        SELECT a.alert_id, a.story_id, a.channel, a.attempts, s.headline, s.first_seen_at,
               s.leader_call_evidence
        FROM alerts a JOIN stories s USING (story_id)
        WHERE a.status = 'pending' AND coalesce(a.next_attempt_at, a.created_at) <= ?
        ORDER BY s.first_seen_at, a.story_id, a.channel
        """,
        [now],
    ).fetchall()
    alerts = []
    for alert, story, channel, attempts, headline, first_seen, evidence in rows:
        if channels is not None and channel not in channels:
            continue
        outlets, links = _story_outlets(con, story)
        alerts.append(
            PendingAlert(
                alert,
                story,
                channel,
                attempts,
                headline or "",
                first_seen,
                evidence,
                outlets,
                links,
            )
        )
    return alerts


def _story_outlets(
    con: duckdb.DuckDBPyConnection, story_id: str
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    rows = con.execute(
        "SELECT source, url FROM articles WHERE story_id = ? "
        "ORDER BY coalesce(published_at, fetched_at), article_id",
        [story_id],
    ).fetchall()
    outlets = tuple(dict.fromkeys(str(s) for s, _ in rows if s))
    links = tuple(dict.fromkeys(str(u) for _, u in rows))
    return outlets, links


def mark_sent(con: duckdb.DuckDBPyConnection, alert: str, now: datetime) -> None:
    con.execute(
        "UPDATE alerts SET status = 'sent', attempts = attempts + 1, sent_at = ?,"
        " last_error = NULL, next_attempt_at = NULL WHERE alert_id = ? AND status = 'pending'",
        [now, alert],
    )


def mark_attempt_failed(
    con: duckdb.DuckDBPyConnection,
    alert: str,
    error: str,
    *,
    permanent: bool,
    now: datetime,
    max_attempts: int,
    base_delay: timedelta,
    patience: timedelta | None = None,
    max_delay: timedelta | None = None,
) -> str:
    """Record a failed attempt; return the alert's new status (``pending`` or ``failed``).

    A transient failure is retried after ``base_delay`` doubled per attempt (at most
    ``max_delay``), until the alert is ``patience`` old or has had ``max_attempts``."""
    row = con.execute(
        "SELECT attempts, created_at FROM alerts WHERE alert_id = ?", [alert]
    ).fetchone()
    attempts = (int(row[0]) if row else 0) + 1
    too_old = patience is not None and row is not None and now - row[1] >= patience
    give_up = permanent or attempts >= max_attempts or too_old
    status = "failed" if give_up else "pending"
    delay = base_delay * (2 ** min(attempts - 1, 30))
    if max_delay is not None:
        delay = min(delay, max_delay)
    retry_at = None if give_up else now + delay
    con.execute(
        "UPDATE alerts SET status = ?, attempts = ?, last_error = ?, next_attempt_at = ?"
        " WHERE alert_id = ?",
        [status, attempts, error, retry_at, alert],
    )
    return status
