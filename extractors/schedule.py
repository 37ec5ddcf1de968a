"""When to poll a feed next: adaptive intervals, the publisher's hints, and Retry-After.

The pass's own schedule (cron or interval) is the fastest any feed is polled; a feed's
interval only ever holds it back from some passes (issue 7). After each poll:

- a feed whose items changed (or a first poll) halves its interval; under ``STEP`` it is
  polled on every pass again;
- an unchanged feed (304, or the same items) grows its interval by ``GROWTH``, from ``STEP``;
- a failing feed keeps its interval on the first failure (a blip is retried on the next
  pass), then backs off exponentially from ``STEP`` (5, 10, 20, ... minutes);
- a successful poll never plans sooner than the feed's RSS ``<ttl>`` or the response's
  Cache-Control ``max-age`` / ``Expires`` allow;
- everything is kept within ``[fetch] min_poll_interval`` and ``max_poll_interval`` (hints
  past the maximum are cut to it: a typo must not silence a feed for a year);
- a 429/503 with ``Retry-After`` holds the feed until then (capped, ``[fetch]
  max_retry_after``), strictly: no grace, and not even a manual pass asks before.

A brand-new feed is always due. ``is_due`` allows ``GRACE`` (or a tenth of the interval),
since a pass polls its feeds a little after it starts.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from extractors.dates import parse_http_date
from extractors.fetching import FetchSettings
from extractors.types import FeedPoll, ParsedFeed

STEP = 300.0
GROWTH = 1.5
GRACE = 60.0


@dataclass(frozen=True)
class PollHistory:
    """What the warehouse remembers of a feed's last poll (the ``feeds`` row)."""

    feed_url: str
    poll_interval_seconds: float | None = None
    next_poll_at: datetime | None = None
    retry_after_until: datetime | None = None
    items_digest: str | None = None
    consecutive_errors: int = 0


def is_due(history: PollHistory | None, now: datetime, *, ignore_interval: bool = False) -> bool:
    """Whether a feed should be polled by a pass starting at ``now``.

    ``ignore_interval`` polls a feed before its adaptive interval is up (a forced pass);
    a ``Retry-After`` is honoured regardless.
    """
    if history is None:
        return True
    if history.retry_after_until is not None and history.retry_after_until > now:
        return False
    if ignore_interval or history.next_poll_at is None:
        return True
    grace = max(GRACE, 0.1 * (history.poll_interval_seconds or 0.0))
    return history.next_poll_at <= now + timedelta(seconds=grace)


def items_digest(feed: ParsedFeed) -> str:
    """A fingerprint of a feed's item set (order and text edits aside)."""
    keys = sorted({item.guid or item.url for item in feed.items})
    return hashlib.sha1("\n".join(keys).encode("utf-8")).hexdigest()[:16]


def freshness_seconds(headers: dict[str, str], now: datetime) -> float | None:
    """How long a response says it stays fresh: Cache-Control max-age, else Expires."""
    for directive in headers.get("cache-control", "").lower().split(","):
        name, _, value = directive.strip().partition("=")
        if name == "max-age":
            try:
                return max(float(int(value.strip().strip('"'))), 0.0)
            except (ValueError, OverflowError):
                return None
    expires = headers.get("expires")
    if not expires:
        return None
    until = parse_http_date(expires)
    base = parse_http_date(headers["date"]) if "date" in headers else now
    if until is None or base is None or until.tzinfo is None or base.tzinfo is None:
        return None  # "Expires: 0" and other junk mean "already stale"
    return max((until - base).total_seconds(), 0.0)


def plan_next_poll(
    poll: FeedPoll, history: PollHistory | None, settings: FetchSettings
) -> FeedPoll:
    """``poll`` with its items digest, interval and next poll time filled in."""
    previous = (history.poll_interval_seconds if history else None) or 0.0
    digest = items_digest(poll.feed) if poll.feed is not None else None
    if poll.error is not None:
        errors = (history.consecutive_errors if history else 0) + 1
        interval = previous
        if errors > 1:
            interval = max(previous, STEP * 2.0 ** min(errors - 2, 30))
    elif poll.not_modified or (
        digest is not None and history is not None and digest == history.items_digest
    ):
        interval = max(previous * GROWTH, STEP)
    else:
        interval = previous / 2 if previous / 2 >= STEP else 0.0
    if poll.error is None:
        hints = [poll.max_age_seconds or 0.0]
        if poll.feed is not None and poll.feed.ttl_minutes:
            hints.append(poll.feed.ttl_minutes * 60.0)
        interval = max(interval, min(max(hints), settings.max_poll_interval))
    interval = min(max(interval, settings.min_poll_interval), settings.max_poll_interval)
    if not math.isfinite(interval):
        interval = settings.max_poll_interval
    next_poll_at = poll.polled_at.astimezone(UTC) + timedelta(seconds=interval)
    if poll.retry_after_until is not None:
        next_poll_at = max(next_poll_at, poll.retry_after_until)
    return replace(
        poll,
        items_digest=digest,
        poll_interval_seconds=interval,
        next_poll_at=next_poll_at,
    )
