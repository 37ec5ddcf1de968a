"""Copy and story matching against what the warehouse stores (issue 3).

``load_articles`` makes one ``Matcher`` per load and asks it about each new article in load
order, inside the load's transaction; ``flush`` then writes what the batch added. Everything
the matcher reads comes through indexed lookups of a bounded number of keys
(``warehouse.match_index``), so the cost of matching one article does not grow with the number
stored. The tables (migration 2):

- ``copy_keys`` (key -> article, seen_at): MinHash band keys and anchor shingles
  (``extractors.copies``). Postings outside the window are ignored; a key stops taking
  postings after ``max_postings`` articles (boilerplate, not evidence). Candidates sharing a
  band or enough anchors are verified against their stored text (``compare``). A copy points
  at its candidate's root (``coalesce(copy_of, article_id)``), so never along a chain; within
  a batch, a version published before the root it matched takes the root's place.
- ``story_keys`` (hash of entity and day -> story): the stories that named an entity on a
  given day. An article looks up its strongest entities over the days of the story window.
- ``story_profiles``: each story's TF-IDF-ish profile, the sum of its members' unit profiles.
- ``term_counts``: document frequencies of profile terms (key 0 counts the articles).
- ``story_sources``: one row per (story, source), for ``stories.n_sources``.

A copy joins its root's story. A story's id is the article id of its first article (in load
order); ``stories.leader_call`` is never written here beyond its default.

Memory follows the size of the index: see ``match_index.prune_postings``.
"""

from __future__ import annotations

import logging
from collections import Counter, OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import duckdb

from extractors.copies import (
    CopyText,
    CopyThresholds,
    anchor_share,
    compare,
    prepare,
)
from extractors.features import MatchFeatures, match_features
from extractors.stories import (
    StoryThresholds,
    cosine,
    day_of,
    entity_day_key,
    idf_of,
    lookup_entities,
    merge_profiles,
    term_key,
    weigh,
)
from extractors.types import Article
from warehouse.match_index import (
    STORED_ARTICLES,
    STORIES,
    STORY_PROFILES,
    STORY_SOURCES,
    TERM_COUNTS,
    copy_postings,
    insert_postings,
    lookup_keys,
    lookup_rows,
    story_postings,
    upsert_stories,
    upsert_term_counts,
)

LOGGER = logging.getLogger(__name__)

_DOCS_KEY = 0  # term_counts row that counts the profiled articles
UNIQUE_CHUNK = 1024  # values per IN list on a unique column (match_index.lookup_rows)


@dataclass(frozen=True)
class MatchSettings:
    """How far back to look and what counts (the ``[matching]`` config table)."""

    window_days: float = 30.0
    story_window_hours: float = 72.0
    copy: CopyThresholds = field(default_factory=CopyThresholds)
    story: StoryThresholds = field(default_factory=StoryThresholds)
    max_candidates: int = 8
    max_postings: int = 64


@dataclass(frozen=True)
class Match:
    """The matcher's answer for one article."""

    copy_of: str | None
    story_id: str
    new_story: bool


@dataclass
class _Known:
    article_id: str
    root_id: str
    story_id: str
    seen_at: datetime
    source: str | None
    text: str


@dataclass
class _Story:
    story_id: str
    headline: str | None
    first_seen_at: datetime
    last_seen_at: datetime
    n_articles: int
    n_sources: int
    profile: dict[str, float]
    dirty: bool = False


class _PreparedTexts:
    """The prepared texts of recent candidates, kept across loads (a pass's batches meet the
    same wire texts again and again); at most ``size`` of them, the least recently used go."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._texts: OrderedDict[str, tuple[str, CopyText]] = OrderedDict()

    def get(self, article_id: str, text: str) -> CopyText:
        """``text`` prepared; kept under ``article_id`` for as long as the text is the same."""
        found = self._texts.get(article_id)
        if found is not None and found[0] == text:
            self._texts.move_to_end(article_id)
            return found[1]
        prepared = prepare(text)
        self.put(article_id, text, prepared)
        return prepared

    def put(self, article_id: str, text: str, prepared: CopyText) -> None:
        self._texts[article_id] = (text, prepared)
        self._texts.move_to_end(article_id)
        if len(self._texts) > self.size:
            self._texts.popitem(last=False)


# kept for the process: a pass's batches, and the next pass, meet the same wire texts again
_PREPARED = _PreparedTexts()


def features_of(article: Article) -> MatchFeatures:
    """The article's copy and story features: those it carries from the extraction worker when
    they were made for its title and text, else computed now."""
    carried = article.features
    if carried is not None and carried.fits(article.title, article.text_hash):
        return carried
    return match_features(article.title, article.text)


def seen_at(article: Article) -> datetime:
    """The time the window is measured in: publication, else fetch."""
    return article.published_at or article.fetched_at


class Matcher:
    """Assigns ``copy_of`` and ``story_id`` to new articles, one at a time, in order."""

    def __init__(self, con: duckdb.DuckDBPyConnection, settings: MatchSettings | None = None):
        self.con = con
        self.settings = settings or MatchSettings()
        self.copies = 0
        self.stories_new = 0
        self._window = timedelta(days=self.settings.window_days)
        self._story_window = timedelta(hours=self.settings.story_window_hours)
        self._copy_postings: dict[int, list[tuple[str, datetime, int]]] = {}
        self._story_postings: dict[int, list[str]] = {}
        self._new_copy_postings: list[tuple[int, str, datetime, int]] = []
        self._new_story_postings: list[tuple[int, str, int]] = []
        self._known: dict[str, _Known] = {}
        self._decisions: dict[str, Match] = {}
        self._features: dict[str, MatchFeatures] = {}
        self._df: dict[int, int] = {}
        self._df_delta: Counter[int] = Counter()
        self._stories: dict[str, _Story] = {}
        self._sources: dict[int, tuple[str, str] | None] = {}
        self._new_sources: list[tuple[int, str, str]] = []
        self._created: set[str] = set()  # stories this load started: nothing stored of them

    def prefetch(self, articles: Sequence[Article]) -> None:
        """Fill the caches for a whole batch with a few bulk lookups (issue 8).

        Matching then finds almost everything it asks for in memory, instead of making half a
        dozen queries an article: the batch's copy keys, profile terms and entity-day keys (a
        superset: every entity of each article over its story window), the stored candidates
        of its copy keys, and the stories its entities point at. Decisions are unchanged:
        ``match`` still reads the same rows, some of them fetched earlier.
        """
        features = [(a, features_of(a)) for a in articles]
        self._features.update((a.article_id, f) for a, f in features)
        copy_keys = {
            k
            for _, f in features
            if f.fingerprint.n_tokens >= self.settings.copy.min_tokens
            for k in f.fingerprint.keys
        }
        postings = self._lookup_copy_keys(sorted(copy_keys))
        terms = {term_key(t) for _, f in features for t in f.story.terms()}
        self._load_df(sorted(terms | {_DOCS_KEY}))
        days_of: list[set[int]] = []
        for article, f in features:
            when = seen_at(article)
            days = range(day_of(when - self._story_window), day_of(when + self._story_window) + 1)
            days_of.append({entity_day_key(e, d) for e in f.story.entities for d in days})
        entity_days = set().union(*days_of)
        story_hits = self._lookup_story_keys(sorted(entity_days))
        candidates = {aid for k in copy_keys for aid, _, _ in postings.get(k, ())}
        if len(candidates) <= self.settings.max_candidates * max(len(articles), 1):
            self._load_known(sorted(candidates))
        stories = {sid for k in entity_days for sid in story_hits.get(k, ())}
        self._load_stories(sorted(stories))
        # the (story, source) rows an article may need: its own source with each story it may
        # join (those its entities point at, its copy candidates'), not every pair of the batch
        pairs: set[int] = set()
        for (article, f), keys in zip(features, days_of, strict=True):
            if not article.source:
                continue
            mine = {sid for k in keys for sid in story_hits.get(k, ())}
            mine.update(
                self._known[aid].story_id
                for k in f.fingerprint.keys
                for aid, _, _ in postings.get(k, ())
                if aid in self._known
            )
            pairs.update(term_key(f"{sid}\x00{article.source}") for sid in mine)
        self._load_sources(sorted(pairs))

    def match(self, article: Article) -> Match:
        """Decide ``article``'s root and story and remember it for the articles after it."""
        when = seen_at(article)
        features = self._features.pop(article.article_id, None) or features_of(article)
        copy_of, story_id = self._match_copy(article, features, when)
        # later articles compare with this one's text as the worker prepared it
        _PREPARED.put(article.article_id, article.text, features.copy_text)
        profile = self._profile(features.story.terms())
        new_story = False
        if story_id is None:
            story_id = self._match_story(profile, when)
        if story_id is None:
            story_id, new_story = article.article_id, True
            self.stories_new += 1
            self._created.add(story_id)
            self._stories[story_id] = _Story(story_id, article.title, when, when, 0, 0, {})
        if copy_of is not None and self._reroots(copy_of, when):
            # same batch, published earlier than the root it matched: it becomes the root
            for known in self._known.values():
                if known.root_id == copy_of and known.article_id in self._decisions:
                    known.root_id = article.article_id
                    old = self._decisions[known.article_id]
                    self._decisions[known.article_id] = replace(old, copy_of=article.article_id)
            self.copies += 1  # the old root is a copy now
            copy_of = None
        else:
            self.copies += copy_of is not None
        self._join_story(story_id, article, when, profile)
        self._known[article.article_id] = _Known(
            article.article_id,
            copy_of or article.article_id,
            story_id,
            when,
            article.source,
            article.text,
        )
        self._decisions[article.article_id] = Match(copy_of, story_id, new_story)
        return self._decisions[article.article_id]

    def _reroots(self, root_id: str, when: datetime) -> bool:
        root = self._known.get(root_id)
        return root_id in self._decisions and root is not None and when < root.seen_at

    def decision(self, article_id: str) -> Match:
        """The final answer for an article matched by this matcher: a later article of the same
        batch that was published before its root takes the root's place (the demo's feed lists
        the newest first)."""
        return self._decisions[article_id]

    def _match_copy(
        self, article: Article, features: MatchFeatures, when: datetime
    ) -> tuple[str | None, str | None]:
        keys = features.fingerprint
        if keys.n_tokens < self.settings.copy.min_tokens:
            return None, None
        postings = self._lookup_copy_keys(keys.keys)
        n_anchors = len(keys.anchor_keys)
        bands: Counter[str] = Counter()
        anchors: Counter[str] = Counter()
        their_anchors: dict[str, int] = {}
        band_set = set(keys.band_keys)
        for key in keys.keys:
            for aid, at, count in postings[key]:
                if abs(at - when) <= self._window:
                    (bands if key in band_set else anchors)[aid] += 1
                    their_anchors[aid] = count
        for key in keys.keys:
            found = postings[key]
            if len(found) < self.settings.max_postings:
                found.append((article.article_id, when, n_anchors))
                self._new_copy_postings.append((key, article.article_id, when, n_anchors))
        ranked = sorted(
            (
                aid
                for aid in their_anchors
                if bands[aid] or anchor_share(anchors[aid], n_anchors, their_anchors[aid]) > 0
            ),
            key=lambda aid: (
                -bands[aid],
                -anchor_share(anchors[aid], n_anchors, their_anchors[aid]),
                -anchors[aid],
                aid,
            ),
        )[: self.settings.max_candidates]
        if not ranked:
            return None, None
        self._load_known(ranked)
        new_text = features.copy_text
        best: tuple[float, datetime, str] | None = None
        chosen: _Known | None = None
        for aid in ranked:
            known = self._known.get(aid)
            if known is None:
                continue
            if chosen is not None and (known.root_id, known.story_id) == (
                chosen.root_id,
                chosen.story_id,
            ):
                # the answer is the chosen one's root and story: a candidate with the same
                # ones cannot change it, whatever its evidence (versions of one wire text)
                continue
            evidence = compare(
                new_text,
                self._prepared_text(known),
                self.settings.copy,
                same_source=known.source == article.source,
            )
            if not evidence.is_copy:
                continue
            rank = (-evidence.strength, known.seen_at, known.article_id)
            if best is None or rank < best:
                best, chosen = rank, known
        if chosen is None:
            return None, None
        LOGGER.debug("%s is a copy of %s", article.article_id, chosen.root_id)
        return chosen.root_id, chosen.story_id

    def _prepared_text(self, known: _Known) -> CopyText:
        return _PREPARED.get(known.article_id, known.text)

    def _profile(self, terms: dict[str, tuple[int, float]]) -> dict[str, float]:
        keys = {term: term_key(term) for term in terms}
        self._load_df([*keys.values(), _DOCS_KEY])
        n_docs = self._df_value(_DOCS_KEY)
        profile = weigh(terms, {t: idf_of(self._df_value(k), n_docs) for t, k in keys.items()})
        for key in [*keys.values(), _DOCS_KEY]:
            self._df_delta[key] += 1
        return profile

    def _df_value(self, key: int) -> int:
        return self._df.get(key, 0) + self._df_delta[key]

    def _match_story(self, profile: dict[str, float], when: datetime) -> str | None:
        days = range(day_of(when - self._story_window), day_of(when + self._story_window) + 1)
        lookup = {entity_day_key(e, d): e for e in lookup_entities(profile) for d in days}
        postings = self._lookup_story_keys(lookup)
        shared: dict[str, set[str]] = {}
        for key, entity in lookup.items():
            for story_id in postings.get(key, ()):
                shared.setdefault(story_id, set()).add(entity)
        least = self.settings.story.min_shared_entities
        ranked = sorted(
            (sid for sid, found in shared.items() if len(found) >= least),
            key=lambda sid: (-len(shared[sid]), sid),
        )[: self.settings.max_candidates]
        self._load_stories(ranked)
        best: tuple[float, str] | None = None
        for story_id in ranked:
            story = self._stories.get(story_id)
            if story is None:
                continue
            if not story.first_seen_at - self._story_window <= when:
                continue
            if not when <= story.last_seen_at + self._story_window:
                continue
            score = cosine(profile, story.profile)
            if score >= self.settings.story.min_cosine and (best is None or score > best[0]):
                best = (score, story_id)
        return best[1] if best else None

    def _join_story(
        self, story_id: str, article: Article, when: datetime, profile: dict[str, float]
    ) -> None:
        self._load_stories([story_id])
        story = self._stories[story_id]
        if story.n_articles == 0 or when < story.first_seen_at:
            story.headline = article.title or story.headline
        story.first_seen_at = min(story.first_seen_at, when)
        story.last_seen_at = max(story.last_seen_at, when)
        story.n_articles += 1
        story.profile = merge_profiles(story.profile, profile)
        story.dirty = True
        if article.source:
            key = term_key(f"{story_id}\x00{article.source}")
            if story_id in self._created:
                self._sources.setdefault(key, None)
            self._load_sources([key])
            if self._sources.get(key) is None:
                self._sources[key] = (story_id, article.source)
                self._new_sources.append((key, story_id, article.source))
                story.n_sources += 1
        day = day_of(when)
        keys = [entity_day_key(e, day) for e in lookup_entities(profile)]
        found = self._lookup_story_keys({k: "" for k in keys})
        for key in keys:
            if story_id not in found[key] and len(found[key]) < self.settings.max_postings:
                found[key].append(story_id)
                self._new_story_postings.append((key, story_id, day))

    def _lookup_copy_keys(self, keys: Iterable[int]) -> dict[int, list[tuple[str, datetime, int]]]:
        missing = [k for k in dict.fromkeys(keys) if k not in self._copy_postings]
        for key in missing:
            self._copy_postings[key] = []
        for key, article_id, at, n_anchors in copy_postings(self.con, missing):
            self._copy_postings[key].append((article_id, at, n_anchors))
        return self._copy_postings

    def _lookup_story_keys(self, keys: Iterable[int]) -> dict[int, list[str]]:
        missing = [k for k in dict.fromkeys(keys) if k not in self._story_postings]
        for key in missing:
            self._story_postings[key] = []
        for key, story_id in story_postings(self.con, missing):
            self._story_postings[key].append(story_id)
        return self._story_postings

    def _load_known(self, article_ids: Sequence[str]) -> None:
        missing = [a for a in article_ids if a not in self._known]
        for aid, root, story_id, at, source, text in lookup_rows(
            self.con, STORED_ARTICLES, "article_id", missing, chunk_size=UNIQUE_CHUNK
        ):
            if story_id is not None:
                self._known[aid] = _Known(aid, root, story_id, at, source, text)

    def _load_df(self, keys: Sequence[int]) -> None:
        missing = [k for k in dict.fromkeys(keys) if k not in self._df]
        for key in missing:
            self._df[key] = 0
        for key, df in lookup_keys(self.con, TERM_COUNTS, missing):
            self._df[key] = int(df)

    def _load_stories(self, story_ids: Sequence[str]) -> None:
        missing = [s for s in dict.fromkeys(story_ids) if s not in self._stories]
        for sid, headline, first, last, n_articles, n_sources in lookup_rows(
            self.con, STORIES, "story_id", missing, chunk_size=UNIQUE_CHUNK
        ):
            self._stories[sid] = _Story(sid, headline, first, last, n_articles, n_sources, {})
        for sid, terms, weights in lookup_rows(
            self.con, STORY_PROFILES, "story_id", missing, chunk_size=UNIQUE_CHUNK
        ):
            if sid in self._stories:
                self._stories[sid].profile = dict(zip(terms, weights, strict=True))

    def _load_sources(self, keys: Sequence[int]) -> None:
        missing = [k for k in keys if k not in self._sources]
        for key in missing:
            self._sources[key] = None
        for key, story_id, source in lookup_keys(self.con, STORY_SOURCES, missing):
            self._sources[key] = (story_id, source)

    def flush(self) -> None:
        """Write what this load added to the index, the profiles and ``stories``."""
        insert_postings(self.con, "copy_keys", self._new_copy_postings)
        insert_postings(self.con, "story_keys", self._new_story_postings)
        insert_postings(self.con, "story_sources", self._new_sources)
        upsert_term_counts(self.con, self._df_delta)
        dirty = [s for s in self._stories.values() if s.dirty]
        upsert_stories(
            self.con,
            [
                (
                    s.story_id,
                    s.headline,
                    s.first_seen_at,
                    s.last_seen_at,
                    s.n_articles,
                    s.n_sources,
                    list(s.profile),
                    list(s.profile.values()),
                )
                for s in sorted(dirty, key=lambda s: s.story_id)
            ],
        )
        self._new_copy_postings, self._new_story_postings, self._new_sources = [], [], []
        self._df = {k: self._df_value(k) for k in self._df}
        self._df_delta = Counter()
        for story in dirty:
            story.dirty = False
