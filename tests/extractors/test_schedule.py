"""Tests for ``extractors.schedule``: adaptive poll intervals, hints and Retry-After (issue 7),
as pure functions and through whole passes against a loopback site."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from extractors.fetching import FetchSettings
from extractors.schedule import (
    STEP,
    PollHistory,
    freshness_seconds,
    is_due,
    items_digest,
    plan_next_poll,
)
from extractors.types import FeedItem, FeedPoll, ParsedFeed, RunStats
from flows.config import parse_config
from flows.passes import run_pass
from tests.support.network import loopback_only  # noqa: F401 - the autouse guard
from tests.support.pages import page
from tests.support.sites import Site, serve_site
from tests.support.warehouse import rows

NOW = datetime(2026, 11, 19, 10, 0, tzinfo=UTC)
URL = "https://example.com/feed.xml"
SETTINGS = FetchSettings()


def parsed(*links: str, ttl: int | None = None) -> ParsedFeed:
    items = tuple(FeedItem(URL, link, guid=link) for link in links)
    return ParsedFeed(URL, "rss20", "T", None, items, ttl_minutes=ttl)


def ok(*links: str, ttl: int | None = None, max_age: float | None = None) -> FeedPoll:
    return FeedPoll(
        URL, "f", NOW, status=200, feed=parsed(*links, ttl=ttl), max_age_seconds=max_age
    )


def history(poll: FeedPoll, errors: int = 0) -> PollHistory:
    return PollHistory(
        URL,
        poll.poll_interval_seconds,
        poll.next_poll_at,
        poll.retry_after_until,
        poll.items_digest,
        errors,
    )


def interval(
    poll: FeedPoll, before: PollHistory | None, settings: FetchSettings = SETTINGS
) -> float:
    planned = plan_next_poll(poll, before, settings)
    assert planned.next_poll_at is not None and planned.poll_interval_seconds is not None
    return planned.poll_interval_seconds


def test_a_new_feed_is_always_due() -> None:
    assert is_due(None, NOW)
    assert is_due(PollHistory(URL), NOW)  # a row from before the schedule existed


def test_due_allows_a_little_grace_and_retry_after_none() -> None:
    soon = PollHistory(URL, 600.0, NOW + timedelta(seconds=50))
    later = PollHistory(URL, 600.0, NOW + timedelta(seconds=70))
    assert is_due(soon, NOW) and not is_due(later, NOW)
    long = PollHistory(URL, 36_000.0, NOW + timedelta(minutes=50))  # a tenth of 10 h
    assert is_due(long, NOW)
    held = PollHistory(URL, 0.0, NOW, retry_after_until=NOW + timedelta(seconds=1))
    assert not is_due(held, NOW) and not is_due(held, NOW, ignore_interval=True)
    assert is_due(held, NOW + timedelta(seconds=1))
    assert is_due(later, NOW, ignore_interval=True)


def test_an_unchanged_feed_backs_off_and_a_changed_one_comes_back() -> None:
    first = plan_next_poll(ok("https://e.com/1"), None, SETTINGS)
    assert first.poll_interval_seconds == 0.0 and first.next_poll_at == NOW
    steps = [first]
    for _ in range(6):
        steps.append(plan_next_poll(ok("https://e.com/1"), history(steps[-1]), SETTINGS))
    assert [s.poll_interval_seconds for s in steps[1:4]] == [STEP, STEP * 1.5, STEP * 2.25]
    not_modified = FeedPoll(URL, "f", NOW, status=304, not_modified=True)
    grown = interval(not_modified, history(steps[-1]))
    assert grown == steps[-1].poll_interval_seconds * 1.5  # type: ignore[operator]
    # new items: the interval halves, and under one step the feed is polled every pass
    changed = plan_next_poll(ok("https://e.com/1", "https://e.com/2"), history(steps[2]), SETTINGS)
    assert changed.poll_interval_seconds == 0.0
    busy = replace(steps[-1], poll_interval_seconds=4 * STEP)
    assert interval(ok("https://e.com/3"), history(busy)) == 2 * STEP


def test_order_and_text_edits_are_not_changes() -> None:
    a = parsed("https://e.com/1", "https://e.com/2")
    b = parsed("https://e.com/2", "https://e.com/1")
    assert items_digest(a) == items_digest(b) != items_digest(parsed("https://e.com/1"))


def test_a_failing_feed_backs_off_exponentially_after_one_retry() -> None:
    failed = FeedPoll(URL, "f", NOW, status=500, error="HTTP 500")
    base = PollHistory(URL, 0.0, NOW, None, "d", 0)
    assert interval(failed, base) == 0.0  # a blip is retried on the next pass
    assert interval(failed, replace(base, consecutive_errors=1)) == STEP
    assert interval(failed, replace(base, consecutive_errors=2)) == 2 * STEP
    assert interval(failed, replace(base, consecutive_errors=5)) == 16 * STEP
    assert interval(failed, replace(base, consecutive_errors=500)) == SETTINGS.max_poll_interval
    slow = replace(base, poll_interval_seconds=7200.0)
    assert interval(failed, slow) == 7200.0  # never polled more often for failing
    # the digest of the last good poll is kept: a failure is not a change
    assert plan_next_poll(failed, slow, SETTINGS).items_digest is None


def test_ttl_and_max_age_are_floors_capped_at_the_maximum() -> None:
    assert interval(ok("https://e.com/1", ttl=60), None) == 3600.0
    assert interval(ok("https://e.com/1", max_age=900), None) == 900.0
    assert interval(ok("https://e.com/1", ttl=10, max_age=1800), None) == 1800.0
    assert interval(ok("https://e.com/1", ttl=10**9), None) == SETTINGS.max_poll_interval
    bounded = FetchSettings(min_poll_interval=1200.0, max_poll_interval=7200.0)
    assert interval(ok("https://e.com/1"), None, bounded) == 1200.0
    assert interval(ok("https://e.com/1", ttl=600), None, bounded) == 7200.0


def test_retry_after_sets_the_next_poll() -> None:
    until = NOW + timedelta(minutes=30)
    limited = FeedPoll(URL, "f", NOW, status=429, error="HTTP 429", retry_after_until=until)
    planned = plan_next_poll(limited, None, SETTINGS)
    assert planned.next_poll_at == until and planned.retry_after_until == until


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"cache-control": "public, max-age=600"}, 600.0),
        ({"cache-control": 'max-age="60", must-revalidate'}, 60.0),
        ({"cache-control": "max-age=-5"}, 0.0),
        ({"cache-control": "max-age=soon"}, None),
        ({"cache-control": "max-age=" + "9" * 400}, None),
        ({"cache-control": "no-cache"}, None),
        ({"expires": "Thu, 19 Nov 2026 11:00:00 GMT"}, 3600.0),
        (
            {"expires": "Thu, 19 Nov 2026 11:00:00 GMT", "date": "Thu, 19 Nov 2026 10:30:00 GMT"},
            1800.0,
        ),
        ({"expires": "0"}, None),
        ({"expires": "Fri, 01 Jan 99999999999 00:00:00 GMT"}, None),  # no datetime holds it
        ({"expires": "Thu, 19 Nov 2026 11:00:00 GMT", "date": "soon"}, None),
        ({"expires": "Thu, 19 Nov 2026 09:00:00 GMT"}, 0.0),
        ({}, None),
    ],
)
def test_freshness(headers: dict[str, str], expected: float | None) -> None:
    assert freshness_seconds(headers, NOW) == expected


# through whole passes


def feed_xml(site: Site, paths: list[str], ttl: int | None = None) -> str:
    items = "".join(
        f"<item><title>Story {p}</title><link>{site.url(p)}</link><guid>{p}</guid></item>"
        for p in paths
    )
    ttl_tag = f"<ttl>{ttl}</ttl>" if ttl else ""
    return (
        "<?xml version='1.0'?><rss version='2.0'><channel><title>T</title>"
        f"<link>{site.url('/')}</link>{ttl_tag}{items}</channel></rss>"
    )


def run(site: Site, db: Path, *feeds: str, **fetch: object) -> RunStats:
    config = parse_config(
        {
            "feeds": [{"name": path, "url": site.url(path)} for path in feeds],
            "fetch": {"allow_private_networks": ["127.0.0.1/32"], **fetch},
            "extraction": {"workers": 1},
        }
    )
    return asyncio.run(run_pass(config, db, run_id=str(uuid.uuid4())))


def test_passes_skip_feeds_that_are_not_due(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    with serve_site() as site:
        site.add("/a", page("Story a"))
        site.add("/b", page("Story b"))
        site.add("/quiet.xml", feed_xml(site, ["/a"]), content_type="application/rss+xml")
        site.add("/ttl.xml", feed_xml(site, ["/b"], ttl=60), content_type="application/rss+xml")
        first = run(site, db, "/quiet.xml", "/ttl.xml")
        second = run(site, db, "/quiet.xml", "/ttl.xml")  # quiet: still due (interval 0)
        third = run(site, db, "/quiet.xml", "/ttl.xml")  # quiet unchanged once: 5 minutes
        fourth = run(site, db, "/quiet.xml", "/ttl.xml", "/new.xml")  # a new feed is polled
        assert len(site.requests_for("/quiet.xml")) == 2
        assert len(site.requests_for("/ttl.xml")) == 1  # <ttl>60</ttl>: not before an hour
        assert len(site.requests_for("/new.xml")) == 1
    assert [s.feeds_skipped for s in (first, second, third, fourth)] == [0, 1, 2, 2]
    assert [s.feeds_polled for s in (first, second, third, fourth)] == [2, 1, 0, 1]
    assert all(s.status == "completed" for s in (first, second, third, fourth))
    schedule = dict(rows(db, "SELECT name, poll_interval_seconds FROM feeds"))
    assert schedule == {"/quiet.xml": STEP, "/ttl.xml": 3600.0, "/new.xml": 0.0}
