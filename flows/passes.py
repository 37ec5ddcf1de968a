"""One monitoring pass, orchestrated: poll, skip what is known, collect pages, load in batches.

``run_pass`` is the single description of a pass. It takes its stages as a ``Stages`` value so
that the Prefect flow (``flows.monitor``) can plug in task-wrapped stages while the demo and the
benchmarks run the very same orchestration with plain calls.

Batches are collected a few at a time and loaded strictly in order, so the warehouse sees the
same sequence of articles for the same input (deterministic copy and story decisions) and no
more than ``window`` batches of pages are held in memory at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Protocol

import duckdb

from extractors.errors import WarehouseError, WarehouseLocked
from extractors.schedule import PollHistory, is_due, plan_next_poll
from extractors.types import Article, FeedItem, FeedPoll, FeedState, PassError, RunStats
from extractors.urls import canonicalize_url
from flows.alerts import AlertReport, deliver_alerts
from flows.config import Config
from flows.pipeline import (
    FeedSpec,
    PassSettings,
    collect_articles,
    internal_error,
    new_items,
    pass_resources,
    poll_feeds,
)
from flows.writing import MATCHING, batch_writer, load_batch, load_staged
from warehouse.connection import (
    DEFAULT_LOCK_TIMEOUT,
    lock_patience,
    open_warehouse,
)
from warehouse.loads import (
    LoadResult,
    finish_run,
    mark_interrupted_runs,
    record_errors,
    record_feed_polls,
    start_run,
)
from warehouse.locks import writer_lock
from warehouse.match_index import prune_postings
from warehouse.matching import MatchSettings
from warehouse.queries import feed_states, known_urls, listed
from warehouse.search import rebuild_search_index
from warehouse.snapshot import refresh_snapshot

LOGGER = logging.getLogger(__name__)


class Progress(Protocol):
    def feeds_polled(self, done: int, total: int) -> None: ...
    def pages_extracted(self, done: int, total: int) -> None: ...


class NoProgress:
    def feeds_polled(self, done: int, total: int) -> None:
        pass

    def pages_extracted(self, done: int, total: int) -> None:
        pass


PollStage = Callable[
    [Sequence[FeedSpec], dict[str, FeedState], PassSettings], Awaitable[list[FeedPoll]]
]
CollectStage = Callable[
    [Sequence[FeedItem], PassSettings], Awaitable[tuple[list[Article], list[PassError]]]
]
LoadStage = Callable[[str, Sequence[Article], Sequence[PassError], str], Awaitable[LoadResult]]


AlertStage = Callable[[str, Sequence[str]], Awaitable[AlertReport]]


@dataclass(frozen=True)
class Stages:
    poll: PollStage = poll_feeds
    collect: CollectStage = collect_articles
    load: LoadStage = load_batch
    alert: AlertStage = deliver_alerts


def prune_match_index(db_path: str | Path, matching: MatchSettings) -> None:
    """Drop the copy and story index postings that fell out of the matching window."""
    cutoff = datetime.now(UTC) - timedelta(days=matching.window_days)
    with open_warehouse(db_path) as con:
        copies, stories = prune_postings(con, cutoff)
    if copies or stories:
        LOGGER.info("match index: %d copy and %d story postings left the window", copies, stories)


def pass_settings(config: Config) -> PassSettings:
    return PassSettings(
        fetch=config.fetch.settings(),
        lexicon=config.relevance.lexicon(),
        leaders=config.leaders.leaders(),
        extraction_workers=config.extraction.workers,
        extraction_time_limit=config.extraction.time_limit_seconds,
        extraction_fallback=config.extraction.fallback,
        batch_size=config.extraction.batch_size,
    )


def _record_polls(db_path: str, polls: Sequence[FeedPoll], stats: RunStats) -> None:
    errors = [PassError("feed", p.feed_url, p.error, p.polled_at) for p in polls if p.error]
    with open_warehouse(db_path) as con:
        record_feed_polls(con, polls)
        record_errors(con, stats.run_id, errors)


def _planned(poll: FeedPoll, history: PollHistory | None, settings: PassSettings) -> FeedPoll:
    """``plan_next_poll``, and for a bug of ours in it (a feed's values it did not foresee)
    that feed's error, as ``pipeline.poll_feed`` does for the poll itself."""
    try:
        return plan_next_poll(poll, history, settings.fetch)
    except Exception as exc:
        LOGGER.exception("feed %s: unexpected error planning its next poll", poll.feed_url)
        failed = replace(
            poll, feed=None, not_modified=False, error=internal_error(exc), max_age_seconds=None
        )
        return plan_next_poll(failed, None, settings.fetch)


def _feeds_listing(polls: Sequence[FeedPoll], canonical_urls: set[str]) -> set[str]:
    """The feeds (URLs) that listed an item at any of ``canonical_urls``."""
    return {
        p.feed_url
        for p in polls
        if p.feed and any(canonicalize_url(i.url) in canonical_urls for i in p.feed.items)
    }


def _unconfirmed(poll: FeedPoll) -> FeedPoll:
    """``poll`` as recorded until its items are loaded: due now, with a full GET."""
    return replace(poll, etag=None, last_modified=None, items_digest=None, next_poll_at=None)


def _confirm_polls(db_path: str, polls: Sequence[FeedPoll]) -> None:
    """Record ``polls`` as they were, their items loaded (or left for later: see
    ``_repoll_unfinished``)."""
    if polls:
        with open_warehouse(db_path) as con:
            record_feed_polls(con, polls)


def _poll_histories(con: duckdb.DuckDBPyConnection, urls: list[str]) -> dict[str, PollHistory]:
    """What the ``feeds`` table remembers of each feed's polling (issue 7)."""
    with listed(con, "wanted_feeds", urls):
        rows = con.execute(
            "SELECT feed_url, poll_interval_seconds, next_poll_at, retry_after_until,"
            " items_digest, consecutive_errors FROM feeds"
            " WHERE feed_url IN (SELECT value FROM wanted_feeds)"
        ).fetchall()
    return {str(r[0]): PollHistory(str(r[0]), r[1], r[2], r[3], r[4], int(r[5])) for r in rows}


def _repoll_unfinished(db_path: str, polls: Sequence[FeedPoll], todo: Sequence[FeedItem]) -> None:
    """Make feeds whose items were left for a later pass (Retry-After, robots.txt answering
    5xx) due again with a full GET: a 304 or a skipped poll would never offer them again."""
    if not todo:
        return
    with open_warehouse(db_path) as con:
        wanted = {canonicalize_url(i.url) for i in todo}
        left = wanted - known_urls(con, wanted)
        feeds = sorted(_feeds_listing(polls, left))
        if not feeds:
            return
        LOGGER.info("%d items left for a later pass, from %d feeds", len(left), len(feeds))
        con.execute(
            "UPDATE feeds SET etag = NULL, last_modified = NULL, items_digest = NULL,"
            " next_poll_at = NULL WHERE feed_url IN (SELECT unnest(?))",
            [feeds],
        )


def _unknown_items(db_path: str, items: Sequence[FeedItem]) -> list[FeedItem]:
    canonical = [canonicalize_url(i.url) for i in items]
    with open_warehouse(db_path) as con:
        known = known_urls(con, canonical)
    return [i for i, url in zip(items, canonical, strict=True) if url not in known]


async def run_pass(
    config: Config,
    db_path: str | Path,
    *,
    run_id: str,
    flow_run_id: str | None = None,
    stages: Stages | None = None,
    progress: Progress | None = None,
    window: int = 3,
    lock_wait: float = 0.0,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    poll_all: bool = False,
) -> RunStats:
    """Run one pass over the config's feeds into the warehouse at ``db_path``.

    Feeds are polled when due (their adaptive interval is up); ``poll_all`` polls every feed
    whatever its interval, still honouring a server's ``Retry-After``.

    The pass holds the warehouse's writer lock throughout: a second pass started meanwhile
    waits ``lock_wait`` seconds, then gives up with ``PassInProgress`` (nothing written). After
    the pass, the analysts' snapshot is refreshed.

    Every time the pass opens the file, another process holding it open (a reader of the live
    file) is waited for up to ``lock_timeout`` seconds; then the pass fails with a one-line
    ``WarehouseError`` naming the lock (issue 5).
    """
    with writer_lock(db_path, wait=lock_wait), lock_patience(lock_timeout):
        stats = await _run_pass(
            config,
            db_path,
            run_id=run_id,
            flow_run_id=flow_run_id,
            stages=stages,
            progress=progress,
            window=window,
            poll_all=poll_all,
        )
        # issue 3: the match index keeps the window only; issue 6: the search index before the
        # snapshot, so the snapshot carries it
        matching = config.matching.settings()
        upkeep = (partial(prune_match_index, matching=matching), rebuild_search_index)
        for step in (*upkeep, refresh_snapshot):
            try:
                await asyncio.to_thread(step, db_path)
            except WarehouseError as exc:
                # the pass itself is stored; upkeep left undone is done by the next pass, and a
                # stale index or snapshot is worth a warning
                LOGGER.warning("%s", exc)
    return stats


async def _run_pass(
    config: Config,
    db_path: str | Path,
    *,
    run_id: str,
    flow_run_id: str | None,
    stages: Stages | None,
    progress: Progress | None,
    window: int,
    poll_all: bool = False,
) -> RunStats:
    stages = stages or Stages()
    progress = progress or NoProgress()
    db = str(db_path)
    settings = pass_settings(config)
    feeds = [FeedSpec(url=f.url, name=f.name) for f in config.feeds]
    stats = RunStats(run_id=run_id, flow_run_id=flow_run_id, started_at=datetime.now(UTC))
    with open_warehouse(db) as con:
        # under the pass lock no other pass is live: a run still "running" was killed
        if stale := mark_interrupted_runs(con):
            LOGGER.warning("%d earlier runs ended without finishing: marked interrupted", stale)
        start_run(con, stats)
        states = feed_states(con, (f.url for f in feeds))
        histories = _poll_histories(con, [f.url for f in feeds])
    # issue 7: a feed is polled when its adaptive interval and any Retry-After are up
    due = [
        f for f in feeds if is_due(histories.get(f.url), stats.started_at, ignore_interval=poll_all)
    ]
    stats.feeds_skipped = len(feeds) - len(due)
    if stats.feeds_skipped:
        LOGGER.info("%d feeds not due yet, skipped", stats.feeds_skipped)
    match_settings = config.matching.settings()
    matching = MATCHING.set(match_settings)
    try:
        # work an earlier pass fetched but could not load goes in first (issue 5)
        stats.articles_new += await asyncio.to_thread(load_staged, db, match_settings)
        async with pass_resources(settings):
            progress.feeds_polled(0, len(due))
            polls = await stages.poll(due, states, settings)
            progress.feeds_polled(len(polls), len(due))
            polls = [_planned(p, histories.get(p.feed_url), settings) for p in polls]
            items = new_items(polls)
            stats.items_seen = len(items)
            todo = await asyncio.to_thread(_unknown_items, db, items)
            stats.items_new = len(todo)
            # a feed with items to load is recorded as due, without validators, until they are
            # loaded: a pass that ends before (killed, interrupted, failed) must not leave a
            # 304 and a later next poll to a feed whose items nobody stored
            pending = _feeds_listing(polls, {canonicalize_url(i.url) for i in todo})
            provisional = [_unconfirmed(p) if p.feed_url in pending else p for p in polls]
            await asyncio.to_thread(_record_polls, db, provisional, stats)
            _count_polls(stats, polls)
            LOGGER.info("%d feeds polled, %d items, %d new", len(polls), len(items), len(todo))
            # one write connection for all the batches (flows.writing)
            with batch_writer(db):
                await _collect_and_load(db, todo, settings, stages, stats, progress, window)
            try:
                confirmed = [p for p in polls if p.feed_url in pending]
                await asyncio.to_thread(_confirm_polls, db, confirmed)
            except WarehouseLocked as exc:  # they stay due, with a full GET: safe, if slower
                LOGGER.warning("feeds with new items not confirmed: %s", exc)
            try:
                await asyncio.to_thread(_repoll_unfinished, db, polls, todo)
            except WarehouseLocked as exc:
                LOGGER.warning("feeds with pages left for later not rescheduled: %s", exc)
            try:
                report = await stages.alert(db, [a.url for a in config.alerts])
            except WarehouseLocked as exc:
                # the outbox is derived from stories: what is not sent now is sent next pass
                LOGGER.warning("alerts postponed to the next pass: %s", exc)
                stats.errors += 1
            else:
                stats.alerts_sent = report.sent
                stats.errors += report.failed
                stats.alert_lines = report.lines
        stats.status = "completed"
    except BaseException:
        stats.status = "failed"
        raise
    finally:
        MATCHING.reset(matching)
        stats.finished_at = datetime.now(UTC)
        try:
            with open_warehouse(db) as con:
                finish_run(con, stats)
        except WarehouseLocked as exc:
            LOGGER.warning("run %s not recorded as finished: %s", run_id, exc)
    return stats


def _count_polls(stats: RunStats, polls: Sequence[FeedPoll]) -> None:
    stats.feeds_polled = len(polls)
    stats.feeds_failed = sum(1 for p in polls if p.error)
    stats.feeds_not_modified = sum(1 for p in polls if p.not_modified)
    stats.errors += stats.feeds_failed


async def _collect_and_load(
    db: str,
    items: Sequence[FeedItem],
    settings: PassSettings,
    stages: Stages,
    stats: RunStats,
    progress: Progress,
    window: int,
) -> None:
    batches = [
        items[i : i + settings.batch_size] for i in range(0, len(items), settings.batch_size)
    ]
    pending: deque[asyncio.Task[tuple[list[Article], list[PassError]]]] = deque()
    next_batch = 0
    done = 0
    progress.pages_extracted(0, len(items))
    while next_batch < len(batches) or pending:
        while next_batch < len(batches) and len(pending) < window:
            pending.append(asyncio.ensure_future(stages.collect(batches[next_batch], settings)))
            next_batch += 1
        try:
            articles, errors = await pending.popleft()
        except BaseException:
            for task in pending:
                task.cancel()
            raise
        result = await stages.load(db, articles, errors, stats.run_id)
        done += len(articles)
        progress.pages_extracted(done, len(items))
        stats.pages_fetched += sum(1 for a in articles if a.text_source == "page")
        stats.pages_failed += sum(1 for a in articles if a.text_source != "page")
        stats.errors += len(errors)
        stats.articles_new += len(result.new_ids)
        stats.copies += result.copies
        stats.stories_new += result.stories_new
        if result.staged:
            stats.errors += 1
        new = set(result.new_ids)
        stats.articles_us_russia += sum(
            1 for a in articles if a.article_id in new and a.relevance.us_russia
        )
