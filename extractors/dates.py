"""Dates as newsmon stores them: timezone-aware, in UTC, or ``None``.

Feeds, pages and HTTP headers declare dates in every form, and some outside what ``datetime``
can hold, as written (a year 99999999999) or once moved to UTC (``9999-12-31T23:00:00-05:00``
is a year 10000 there, a ``0001-01-01`` placeholder with a positive offset a year 0). Such a
date is no date: it yields ``None`` rather than an ``OverflowError`` that would cost the page,
the feed item or the pass that carried it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def as_utc(value: datetime) -> datetime | None:
    """``value`` in UTC, a naive value read as UTC (the least surprising reading of a date
    without an offset); ``None`` when UTC cannot hold it."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        return None


def parse_iso(value: str | None) -> datetime | None:
    """An ISO 8601 date or timestamp (a bare date is midnight) as UTC; ``None`` when ``value``
    is empty, not ISO 8601, or out of range."""
    if not value or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return as_utc(parsed)


def parse_http_date(value: str | None) -> datetime | None:
    """An RFC 5322 date (HTTP headers, RSS) as written, with its offset (naive for ``-0000``);
    ``None`` when ``value`` is empty or no date ``datetime`` can hold."""
    if not value or not value.strip():
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
