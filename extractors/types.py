"""Typed handoff records, named for what they carry between pipeline stages.

All datetimes are timezone-aware UTC. Records are frozen and hold only plain values, so they
cross process (and Prefect task) boundaries by pickling.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # extractors.features builds on these types
    from extractors.features import MatchFeatures, TextAnalysis


@dataclass(frozen=True)
class FeedItem:
    """One entry of a parsed feed.

    ``url`` is the entry's link as published (not yet canonical); ``summary`` is plain text
    (markup stripped) and is what we keep when the page itself cannot be had.
    """

    feed_url: str
    url: str
    guid: str | None = None
    title: str | None = None
    summary: str | None = None
    author: str | None = None
    published_at: datetime | None = None


@dataclass(frozen=True)
class ParsedFeed:
    """What a feed document holds.

    ``problem`` is set when the document is malformed but still yielded entries (feedparser's
    "bozo" documents): worth recording, not worth dropping the entries for.
    """

    url: str
    version: str
    title: str | None
    link: str | None
    items: tuple[FeedItem, ...]
    problem: str | None = None
    ttl_minutes: int | None = None


@dataclass(frozen=True)
class FeedState:
    """What storage remembers about a feed between polls (for conditional GET)."""

    feed_url: str
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True)
class FeedPoll:
    """The outcome of polling one feed; exactly one of ``feed`` / ``error`` / ``not_modified``.

    Politeness (issue 7): ``retry_after_until`` is when a 429/503's ``Retry-After`` ends (capped);
    ``max_age_seconds`` the response's freshness (Cache-Control max-age or Expires). The pass
    then plans the next poll (``extractors.schedule``): ``items_digest`` (the item set, to tell
    a changed feed), ``poll_interval_seconds`` and ``next_poll_at``.
    """

    feed_url: str
    name: str
    polled_at: datetime
    status: int | None = None
    etag: str | None = None
    last_modified: str | None = None
    not_modified: bool = False
    feed: ParsedFeed | None = None
    error: str | None = None
    retry_after_until: datetime | None = None
    max_age_seconds: float | None = None
    items_digest: str | None = None
    poll_interval_seconds: float | None = None
    next_poll_at: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class ExtractedPage:
    """What trafilatura found in a page. ``text`` is never empty."""

    text: str
    title: str | None = None
    author: str | None = None
    published_at: datetime | None = None
    site_name: str | None = None
    language: str | None = None
    canonical_url: str | None = None
    # computed in the extraction worker for the title the pass will store (extractors.features)
    analysis: TextAnalysis | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Relevance:
    """The US–Russia score of an article and the evidence behind it."""

    score: float
    us_russia: bool
    us_terms: tuple[str, ...] = ()
    ru_terms: tuple[str, ...] = ()

    @property
    def terms(self) -> tuple[str, ...]:
        # bilateral terms ("U.S.-Russia") count for both sides: list them once
        return tuple(dict.fromkeys(self.us_terms + self.ru_terms))


@dataclass(frozen=True)
class Article:
    """One article ready for the warehouse.

    ``text_source`` says where ``text`` came from: ``"page"`` (extracted) or ``"feed"`` (the feed's
    summary, kept because the page failed; ``note`` says why).
    """

    article_id: str
    url: str
    canonical_url: str
    feed_url: str
    source: str
    title: str
    text: str
    text_hash: str
    fetched_at: datetime
    published_at: datetime | None
    relevance: Relevance
    author: str | None = None
    language: str | None = None
    text_source: str = "page"
    note: str | None = None
    guid: str | None = None
    extra_urls: tuple[str, ...] = field(default_factory=tuple)
    # the sentence reporting a US–Russia leaders' call, when the article reports one (issue 4)
    leader_call_evidence: str | None = None
    # copy fingerprint and story features, computed with the text (extractors.features)
    features: MatchFeatures | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class PassError:
    """A failure recorded during a pass; ``stage``: ``feed``, ``page``, ``extract`` or ``load``."""

    stage: str
    url: str | None
    error: str
    at: datetime


@dataclass
class RunStats:
    """Counters of one pass, stored in ``runs`` and shown in the run's artifact."""

    run_id: str
    started_at: datetime
    flow_run_id: str | None = None
    finished_at: datetime | None = None
    status: str = "running"
    feeds_polled: int = 0
    feeds_skipped: int = 0  # not due yet (adaptive interval, Retry-After): issue 7
    feeds_failed: int = 0
    feeds_not_modified: int = 0
    items_seen: int = 0
    items_new: int = 0
    pages_fetched: int = 0
    pages_failed: int = 0
    articles_new: int = 0
    articles_us_russia: int = 0
    copies: int = 0
    stories_new: int = 0
    alerts_sent: int = 0
    errors: int = 0
    alert_lines: list[dict[str, str]] = field(default_factory=list)
