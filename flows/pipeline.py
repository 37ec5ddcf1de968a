"""The stages of a monitoring pass as plain async functions (no Prefect here).

``flows.monitor`` wraps them in tasks; benchmarks and the Dask runner call the same code. Each
stage turns per-feed and per-page failures into recorded outcomes (``FeedPoll.error``,
``PassError``); only a bug escapes as an exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
from collections.abc import AsyncIterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime

from extractors.errors import ExtractionError, FeedError, FetchError, HTTPStatusError
from extractors.features import analyze_text
from extractors.feeds import parse_feed
from extractors.fetching import Fetcher, FetchSettings, parse_retry_after
from extractors.leader_calls import Leaders
from extractors.relevance import Lexicon
from extractors.robots import RobotsCache, RobotsDenied
from extractors.schedule import freshness_seconds
from extractors.types import (
    Article,
    ExtractedPage,
    FeedItem,
    FeedPoll,
    FeedState,
    PassError,
)
from extractors.urls import canonicalize_url, host_of
from extractors.workers import AnalysisRequest, ExtractionPool

LOGGER = logging.getLogger(__name__)

FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
# a feed bigger than this is parsed on a thread, off the event loop (about 0.1 s of feedparser)
PARSE_ON_LOOP_BYTES = 128 * 1024


@dataclass(frozen=True)
class FeedSpec:
    """A feed to poll, as named in the config."""

    url: str
    name: str


@dataclass(frozen=True)
class PassSettings:
    """Everything a pass's stages need, as plain values (it crosses task boundaries)."""

    fetch: FetchSettings = field(default_factory=FetchSettings)
    lexicon: Lexicon = field(default_factory=Lexicon.default)
    leaders: Leaders = field(default_factory=Leaders.default)
    extraction_workers: int | None = None
    extraction_time_limit: float = 30.0
    extraction_fallback: bool = False
    batch_size: int = 50


@dataclass
class PassResources:
    """The shared client and process pool of one pass in one process."""

    fetcher: Fetcher
    pool: ExtractionPool
    loop: asyncio.AbstractEventLoop
    robots: RobotsCache | None = None  # None: [fetch] respect_robots_txt = false


_RESOURCES: ContextVar[PassResources | None] = ContextVar("newsmon_pass_resources", default=None)


@contextlib.asynccontextmanager
async def pass_resources(
    settings: PassSettings, pool: ExtractionPool | None = None
) -> AsyncIterator[PassResources]:
    """Open the pass's one HTTP client and extraction pool; stages find them from context.

    ``pool``: another extraction pool to open instead of the settings' process pool (a Dask
    worker extracts in threads, ``flows.runners``)."""
    if pool is None:
        pool = ExtractionPool(
            settings.extraction_workers,
            time_limit=settings.extraction_time_limit,
            fallback=settings.extraction_fallback,
        )
    async with Fetcher(settings.fetch) as fetcher, pool:
        robots = RobotsCache(fetcher) if settings.fetch.respect_robots_txt else None
        resources = PassResources(fetcher, pool, asyncio.get_running_loop(), robots)
        token = _RESOURCES.set(resources)
        try:
            yield resources
        finally:
            _RESOURCES.reset(token)


@contextlib.asynccontextmanager
async def _resources(settings: PassSettings) -> AsyncIterator[PassResources]:
    current = _RESOURCES.get()
    if current is not None and current.loop is asyncio.get_running_loop():
        yield current
        return
    # called outside a pass (a remote worker, a test): open resources for this call only
    async with pass_resources(settings) as own:
        yield own


async def poll_feed(fetcher: Fetcher, feed: FeedSpec, state: FeedState | None) -> FeedPoll:
    """Conditional GET of one feed, parsed; any failure becomes ``FeedPoll.error``.

    Even a bug of ours: what a feed's server answers reaches much code, and an exception
    nobody foresaw on one feed is recorded as that feed's error (its traceback in the log),
    not the end of the pass for every feed.
    """
    try:
        return await _poll_feed(fetcher, feed, state)
    except Exception as exc:
        LOGGER.exception("feed %s: unexpected error (a newsmon bug)", feed.url)
        return FeedPoll(feed.url, feed.name, datetime.now(UTC), error=internal_error(exc))


def internal_error(exc: Exception) -> str:
    """The error recorded for a bug of ours met on one feed or page."""
    return f"internal error: {type(exc).__name__}: {exc}"


async def _poll_feed(fetcher: Fetcher, feed: FeedSpec, state: FeedState | None) -> FeedPoll:
    polled_at = datetime.now(UTC)
    try:
        response = await fetcher.fetch(
            feed.url,
            etag=state.etag if state else None,
            last_modified=state.last_modified if state else None,
            max_bytes=fetcher.settings.max_feed_bytes,
            accept=FEED_ACCEPT,
        )
    except FetchError as exc:
        status = getattr(exc, "status", None)
        LOGGER.warning("feed %s failed: %s", feed.url, exc)
        # a 429/503's Retry-After holds the feed until then, in later passes too (issue 7)
        retry_after = None
        if isinstance(exc, HTTPStatusError) and exc.status in (429, 503):
            cap = fetcher.settings.max_retry_after
            retry_after = parse_retry_after(exc.retry_after, polled_at, cap)
        return FeedPoll(
            feed.url,
            feed.name,
            polled_at,
            status=status,
            error=str(exc),
            retry_after_until=retry_after,
        )
    max_age = freshness_seconds(response.headers, polled_at)
    if response.not_modified:
        LOGGER.info("feed %s not modified", feed.url)
        return FeedPoll(
            feed.url,
            feed.name,
            polled_at,
            status=304,
            etag=response.etag,
            last_modified=response.last_modified,
            not_modified=True,
            max_age_seconds=max_age,
        )
    try:
        parse = functools.partial(
            parse_feed, response.content, url=response.url, content_type=response.content_type
        )
        # feedparser takes about a second a megabyte, time in which the event loop would serve
        # no other fetch of the pass (and their deadlines would run): a big feed is parsed on a
        # thread. A small one (most feeds: a few ms) is parsed here, where the hop to a thread
        # would cost more than it saves (1,000 small feeds: 4.4 s a pass on threads, 3.5 here).
        big = len(response.content) > PARSE_ON_LOOP_BYTES
        parsed = await asyncio.to_thread(parse) if big else parse()
    except FeedError as exc:
        LOGGER.warning("feed %s unreadable: %s", feed.url, exc)
        return FeedPoll(feed.url, feed.name, polled_at, status=response.status, error=str(exc))
    if parsed.problem:
        LOGGER.warning("feed %s is malformed but readable: %s", feed.url, parsed.problem)
    LOGGER.info("feed %s: %d items", feed.url, len(parsed.items))
    return FeedPoll(
        feed.url,
        feed.name,
        polled_at,
        status=response.status,
        etag=response.etag,
        last_modified=response.last_modified,
        feed=parsed,
        max_age_seconds=max_age,
    )


async def poll_feeds(
    feeds: Sequence[FeedSpec], states: dict[str, FeedState], settings: PassSettings
) -> list[FeedPoll]:
    """Poll every feed concurrently through one client; one result per feed, in order."""
    async with _resources(settings) as res:
        return list(
            await asyncio.gather(*(poll_feed(res.fetcher, f, states.get(f.url)) for f in feeds))
        )


def new_items(polls: Sequence[FeedPoll]) -> list[FeedItem]:
    """The items of all polled feeds, each canonical URL once, in feed order."""
    seen: set[str] = set()
    items: list[FeedItem] = []
    for poll in polls:
        if poll.feed is None:
            continue
        for item in poll.feed.items:
            key = canonicalize_url(item.url)
            if key not in seen:
                seen.add(key)
                items.append(item)
    return items


async def _collect_one(
    res: PassResources, item: FeedItem, settings: PassSettings, errors: list[PassError]
) -> Article | None:
    """The item's article, or ``None`` when the page is left for a later pass (issue 7).

    A bug of ours on one page (see ``poll_feed``) leaves that page for a later pass, with the
    error recorded, and the rest of the batch goes on."""
    try:
        return await _collect_page(res, item, settings, errors)
    except Exception as exc:
        LOGGER.exception("page %s: unexpected error (a newsmon bug)", item.url)
        errors.append(PassError("page", item.url, internal_error(exc), datetime.now(UTC)))
        return None


async def _collect_page(
    res: PassResources, item: FeedItem, settings: PassSettings, errors: list[PassError]
) -> Article | None:
    fetched_at = datetime.now(UTC)
    page: ExtractedPage | None = None
    final_url = item.url
    note: str | None = None
    try:
        response = await res.fetcher.fetch(
            item.url,
            max_bytes=settings.fetch.max_page_bytes,
            check_hop=res.robots.check if res.robots else None,
        )
        final_url = response.url
        request = AnalysisRequest(item.title, settings.lexicon, settings.leaders)
        outcome = await res.pool.extract(response.content, final_url, request)
        if isinstance(outcome, ExtractionError):
            note = f"extraction: {outcome}"
            errors.append(PassError("extract", item.url, str(outcome), fetched_at))
        else:
            page = outcome
    except FetchError as exc:
        errors.append(PassError("page", item.url, str(exc), fetched_at))
        if _later(exc):
            # the site asked us to wait (Retry-After), or answered robots.txt with 429/5xx:
            # not stored now, so the item stays unknown and a later pass fetches the page
            LOGGER.warning("page %s: %s; left for a later pass", item.url, exc)
            return None
        note = f"fetch: {exc}"
    if note:
        LOGGER.warning("page %s: %s; keeping the feed's summary", item.url, note)
    return build_article(
        item, page, final_url, fetched_at, settings.lexicon, note, leaders=settings.leaders
    )


def _later(exc: FetchError) -> bool:
    if isinstance(exc, RobotsDenied):
        return exc.temporary
    return isinstance(exc, HTTPStatusError) and exc.status in (429, 503) and bool(exc.retry_after)


def build_article(
    item: FeedItem,
    page: ExtractedPage | None,
    final_url: str,
    fetched_at: datetime,
    lexicon: Lexicon,
    note: str | None = None,
    *,
    leaders: Leaders | None = None,
) -> Article:
    """Assemble the stored record from the feed item and what the page yielded (if anything)."""
    canonical = page.canonical_url if page and page.canonical_url else canonicalize_url(final_url)
    if page is not None:
        text, text_source = page.text, "page"
    else:
        text, text_source = (item.summary or ""), "feed"
    title = item.title or (page.title if page else None) or ""
    # the worker analysed the page's text for this title already (issue 8)
    analysis = page.analysis if page is not None else None
    if analysis is None or analysis.title != title:
        analysis = analyze_text(title, text, lexicon, leaders)
    digest = analysis.text_hash or "url:" + _digest(canonical)
    extra = tuple(u for u in (item.url, final_url) if canonicalize_url(u) != canonical)
    return Article(
        article_id=_digest(canonical),
        url=final_url,
        canonical_url=canonical,
        feed_url=item.feed_url,
        source=(page.site_name if page and page.site_name else None) or host_of(canonical),
        title=title,
        text=text,
        text_hash=digest,
        fetched_at=fetched_at,
        published_at=item.published_at or (page.published_at if page else None),
        relevance=analysis.relevance,
        author=item.author or (page.author if page else None),
        language=page.language if page else None,
        text_source=text_source,
        note=note,
        guid=item.guid,
        extra_urls=extra,
        leader_call_evidence=analysis.leader_call_evidence,
        features=analysis.features,
    )


def _digest(value: str) -> str:
    return hashlib.sha1(value.encode("utf-8")).hexdigest()[:16]


async def collect_articles(
    items: Sequence[FeedItem], settings: PassSettings
) -> tuple[list[Article], list[PassError]]:
    """Fetch and extract a batch of pages; every item yields an article (page or summary),
    except pages left for a later pass (Retry-After, robots.txt answering 429/5xx), which
    yield an error only."""
    errors: list[PassError] = []
    async with _resources(settings) as res:
        articles = await asyncio.gather(*(_collect_one(res, i, settings, errors) for i in items))
    return [a for a in articles if a is not None], errors
