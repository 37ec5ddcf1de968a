"""The pages the pass benchmarks publish: the aeb-dev pages in editions with varied, seeded edits.

Edition 0 of a page is the page as saved. Every later edition is the page as a later version
of the story would be published, edited in its HTML bytes (furniture, scripts, encoding and
everything else left as saved), by operations drawn from ``random.Random(f"{seed}:{page}:{n}")``
(deterministic: the same seed gives the same bytes on every run and machine):

* ``headline``: a new headline (``flows.variants.new_headline``) in ``<title>`` and the first
  ``<h1>`` (six editions in ten);
* ``drop``: no, one or two paragraphs deleted (pages with four or more paragraphs);
* ``reorder``: two neighbouring paragraphs swapped (one edition in two);
* ``edit``: one to three paragraphs lightly edited (``flows.variants.edit_paragraph``: words
  swapped, dropped or added, a trailing clause cut);
* ``add``: a sentence naming the edition's number added as a new paragraph after one of the
  first two body paragraphs (80 characters or more), in every edition, so each edition's text
  is its own even where the other edits fall on paragraphs the extractor leaves out.

A paragraph is one of the page's annotated paragraphs (40 characters or more) found, outside
scripts and comments, in a ``<p>`` element of the HTML; replaced text is written as ASCII with
character references, so it reads the same in whatever encoding the page declares. A page where
no paragraph is found in a ``<p>`` (5 of the 91) gets ``Edition N:`` in front of each annotated
paragraph it has (``marker``) instead. Every edition's text, and its hash, thus differs from
the others': each is stored as a new article, and the warehouse's copy and story matching sees
real near-copies.

Pages are served by the test suite's loopback site (``tests/support/sites.py``, 127.0.0.1
only) with one RSS feed per edition (``publish``); ``serve_editions_elsewhere`` serves them
from another process, each edition made when it is requested, so a long run holds no page
whole (bench/memory.py).
"""

from __future__ import annotations

import html
import multiprocessing
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flows.variants import OUTLETS, edit_paragraph, new_headline

if TYPE_CHECKING:
    from tests.support.corpus import GoldPage
    from tests.support.sites import FeedEntry, Route, Site

SEED = 8
MIN_PARAGRAPH = 40
NEWEST = datetime(2019, 11, 20, 12, 0, tzinfo=UTC)

_TITLE = re.compile(rb"<title[^>]*>(.*?)</title\s*>", re.S | re.I)
_H1 = re.compile(rb"<h1[^>]*>(.*?)</h1\s*>", re.S | re.I)
_HIDDEN = re.compile(rb"<(script|style|template|noscript)\b.*?</\1\s*>|<!--.*?-->", re.S | re.I)
_P_OPEN = re.compile(rb"<p[\s>]", re.I)
_P_CLOSE = re.compile(rb"</p\s*>", re.I)
_PAGE_PATH = re.compile(r"^/bench/(?:e(\d+)/)?([0-9A-Za-z_-]+)\.html$")
# the added sentence carries the edition's number: every edition's text is then its own, even
# where the other edits fall on paragraphs the extractor leaves out
_ADDED = (
    "This story has been updated {update} times with additional reporting from the {outlet}.",
    "Update {update}: the {outlet} could not independently verify the account.",
    "An earlier version of this story gave an incomplete figure (correction {update}).",
    "Officials did not respond to request {update} for comment from the {outlet} on Tuesday.",
)


@dataclass(frozen=True)
class PublishedPage:
    """One page as the loopback site serves it: its path, its HTML and the edits it got."""

    path: str
    html: bytes
    edits: tuple[str, ...] = ()

    @property
    def edited(self) -> bool:
        return bool(self.edits)


@dataclass(frozen=True)
class Paragraph:
    """An annotated paragraph found in the HTML: where its text starts, and the ``<p>``
    element holding it (``block``, end exclusive) when it is directly in one."""

    text: str
    start: int
    block: tuple[int, int] | None


def page_path(page_id: str, number: int) -> str:
    return f"/bench/{page_id}.html" if number == 0 else f"/bench/e{number}/{page_id}.html"


def feed_path(number: int) -> str:
    return f"/bench/feed-{number}.xml"


def annotated_paragraphs(gold: str) -> list[str]:
    return [p.strip() for p in gold.splitlines() if len(p.strip()) >= MIN_PARAGRAPH]


def hidden_spans(page_html: bytes) -> list[tuple[int, int]]:
    """Where the page's scripts, styles and templates are: text there is not the article's
    (some pages carry their article a second time, as a string in a script)."""
    return [m.span() for m in _HIDDEN.finditer(page_html)]


def _visible(match: re.Match[bytes], hidden: Sequence[tuple[int, int]]) -> bool:
    return not any(start <= match.start() < end for start, end in hidden)


def _first_visible(
    pattern: re.Pattern[bytes], page_html: bytes, hidden: Sequence[tuple[int, int]]
) -> re.Match[bytes] | None:
    return next((m for m in pattern.finditer(page_html) if _visible(m, hidden)), None)


def locate(page_html: bytes, paragraphs: Sequence[str]) -> list[Paragraph]:
    """The paragraphs found in ``page_html`` (the first text node outside scripts opening with
    their first 40, else 20, characters), in document order, each at most once."""
    hidden = hidden_spans(page_html)
    found: dict[int, Paragraph] = {}
    for text in paragraphs:
        match = None
        # 40 characters tell apart a paragraph and a caption opening alike; 20 find those
        # whose first 40 hold an entity or a tag
        for length in (40, 20):
            opening = re.compile(rb">\s*(" + re.escape(text[:length].encode("utf-8")) + rb")")
            match = _first_visible(opening, page_html, hidden)
            if match is not None:
                break
        if match is None or match.start(1) in found:
            continue
        found[match.start(1)] = Paragraph(text, match.start(1), _p_block(page_html, match))
    located = sorted(found.values(), key=lambda p: p.start)
    # a <p> holding two annotated paragraphs is one block: keep it for the first only
    seen: set[tuple[int, int]] = set()
    unique = []
    for paragraph in located:
        if paragraph.block in seen:
            paragraph = Paragraph(paragraph.text, paragraph.start, None)
        elif paragraph.block:
            seen.add(paragraph.block)
        unique.append(paragraph)
    return unique


def _p_block(page_html: bytes, match: re.Match[bytes]) -> tuple[int, int] | None:
    opened = page_html.rfind(b"<", 0, match.start() + 1)
    if opened < 0 or not _P_OPEN.match(page_html, opened):
        return None
    closed = _P_CLOSE.search(page_html, match.end(1))
    if closed is None:
        return None
    # another <p> before the </p>: this one is left unclosed, its extent unknown
    if _P_OPEN.search(page_html, match.end(1), closed.start()):
        return None
    return opened, closed.end()


def _ascii(text: str) -> bytes:
    return html.escape(text, quote=False).encode("ascii", "xmlcharrefreplace")


@dataclass(frozen=True)
class _Edit:
    start: int
    end: int
    replacement: bytes
    operation: str


def _apply(page_html: bytes, edits: Sequence[_Edit]) -> tuple[bytes, tuple[str, ...]]:
    """Splice non-overlapping edits in (an edit overlapping an earlier one is left out)."""
    out: list[bytes] = []
    applied: list[str] = []
    position = 0
    for edit in sorted(edits, key=lambda e: (e.start, e.end)):
        if edit.start < position:
            continue
        out += [page_html[position : edit.start], edit.replacement]
        applied.append(edit.operation)
        position = edit.end
    out.append(page_html[position:])
    return b"".join(out), tuple(sorted(applied))


def revise(
    page_html: bytes, gold: str, rng: random.Random, number: int
) -> tuple[bytes, tuple[str, ...]]:
    """A later edition of ``page_html`` (see the module docstring) and the operations applied."""
    paragraphs = annotated_paragraphs(gold)
    located = locate(page_html, paragraphs)
    hidden = hidden_spans(page_html)
    blocks = [p for p in located if p.block]
    edits: list[_Edit] = []
    if paragraphs and rng.random() < 0.6:
        headline = _ascii(new_headline(paragraphs, rng))
        for pattern in (_TITLE, _H1):
            match = _first_visible(pattern, page_html, hidden)
            if match:
                edits.append(_Edit(match.start(1), match.end(1), headline, "headline"))
    free = list(range(len(blocks)))
    rng.shuffle(free)
    if len(blocks) >= 4:
        for _ in range(min(rng.randint(0, 2), len(blocks) - 3)):
            start, end = blocks[free.pop()].block or (0, 0)
            edits.append(_Edit(start, end, b"", "drop"))
    kept = sorted(free)
    neighbours = [i for i in kept if i + 1 in kept]
    if neighbours and rng.random() < 0.5:
        first = rng.choice(neighbours)
        (a0, a1), (b0, b1) = blocks[first].block or (0, 0), blocks[first + 1].block or (0, 0)
        edits.append(_Edit(a0, a1, page_html[b0:b1], "reorder"))
        edits.append(_Edit(b0, b1, page_html[a0:a1], "reorder"))
        free = [i for i in free if i not in (first, first + 1)]
    for _ in range(min(rng.randint(1, 3), len(free))):
        chosen = blocks[free.pop()]
        start, end = chosen.block or (0, 0)
        edited = edit_paragraph(chosen.text, rng)
        if edited != chosen.text:
            edits.append(_Edit(start, end, b"<p>" + _ascii(edited) + b"</p>", "edit"))
    if kept:
        # after a body paragraph near the top (not a caption), which an extractor that stops
        # early (some do, on long pages) still keeps
        anchors = [i for i in kept if len(blocks[i].text) >= 80] or kept
        after = blocks[rng.choice(anchors[:2])].block or (0, 0)
        sentence = rng.choice(_ADDED).format(outlet=rng.choice(OUTLETS), update=number)
        edits.append(_Edit(after[1], after[1], b"\n<p>" + _ascii(sentence) + b"</p>", "add"))
    revised, applied = _apply(page_html, edits)
    if set(applied) - {"headline"}:
        return revised, applied
    # nothing in the article's text changed: mark every annotated paragraph found
    marker = _ascii(f"Edition {number}: ")
    marks = [_Edit(p.start, p.start, marker, "marker") for p in located]
    if not marks:
        at = page_html.find(b"</p>")
        at = at if at >= 0 else len(page_html)
        marks = [_Edit(at, at, b" " + marker, "marker")]
    return _apply(page_html, edits + marks)


def edition(page: GoldPage, number: int, seed: int = SEED) -> PublishedPage:
    """Edition ``number`` of ``page``: 0 is the page as saved; later ones are revised."""
    path = page_path(page.id, number)
    if number == 0:
        return PublishedPage(path, page.html)
    rng = random.Random(f"{seed}:{page.id}:{number}")
    revised, edits = revise(page.html, page.gold, rng, number)
    return PublishedPage(path, revised, edits)


def editions(corpus: Sequence[GoldPage], count: int, seed: int = SEED) -> list[PublishedPage]:
    """The first ``count`` pages of editions 0, 1, 2, ... of the corpus, edition by edition."""
    return [edition(page, number, seed) for page, number in plan(corpus, count)]


def plan(corpus: Sequence[GoldPage], count: int) -> list[tuple[GoldPage, int]]:
    """Which page and edition each of ``count`` published pages is."""
    return [(corpus[i % len(corpus)], i // len(corpus)) for i in range(count)]


def edit_counts(pages: Sequence[PublishedPage]) -> dict[str, int]:
    """How many pages got each operation (a page counted once per operation)."""
    counts: Counter[str] = Counter()
    for page in pages:
        counts.update(set(page.edits))
    return dict(sorted(counts.items()))


def _entries(base_url: str, paths: Sequence[str]) -> list[tuple[int, FeedEntry]]:
    from tests.support.sites import FeedEntry

    entries = []
    for index, path in enumerate(paths):
        match = _PAGE_PATH.match(path)
        entry = FeedEntry(
            url=base_url + path,
            title=f"bench page {index}",
            published=NEWEST - timedelta(minutes=index),
        )
        entries.append((int(match.group(1) or 0) if match else 0, entry))
    return entries


def feed_documents(base_url: str, paths: Sequence[str]) -> dict[str, bytes]:
    """One RSS feed per edition (``feed_path``), listing its pages newest first."""
    from tests.support.sites import rss_feed

    by_edition: dict[int, list[FeedEntry]] = {}
    for number, entry in _entries(base_url, paths):
        by_edition.setdefault(number, []).append(entry)
    return {
        feed_path(number): rss_feed(items, title=f"newsmon bench edition {number}")
        for number, items in sorted(by_edition.items())
    }


def feed_document(base_url: str, paths: Sequence[str]) -> bytes:
    """One RSS feed listing all of ``paths``, newest first."""
    from tests.support.sites import rss_feed

    return rss_feed([entry for _, entry in _entries(base_url, paths)], title="newsmon bench")


def publish(site: Site, pages: Sequence[PublishedPage]) -> list[str]:
    """Serve the pages and their editions' feeds; return the feeds' URLs."""
    for page in pages:
        # no charset: the saved pages declare their own encoding, as their servers did
        site.add(page.path, page.html, content_type="text/html")
    feeds = feed_documents(site.base_url, [p.path for p in pages])
    for path, document in feeds.items():
        site.add(path, document, content_type="application/rss+xml")
    return [site.url(path) for path in feeds]


def pass_config(feed_urls: Sequence[str]) -> dict[str, Any]:
    """The default config with the benchmark's feeds, fetching allowed from 127.0.0.1."""
    return {
        "feeds": [{"name": f"bench-{i}", "url": url} for i, url in enumerate(feed_urls)],
        "fetch": {"allow_private_networks": ["127.0.0.1/32"]},
    }


@dataclass(frozen=True)
class Stored:
    """What a pass over the editions left in its warehouse."""

    articles: int
    from_page: int  # extracted from the page itself, not the feed's summary
    distinct_texts: int


def stored(db_path: str | Path) -> Stored:
    """Count what the pass stored in ``db_path``: every page should be there, from the page."""
    from warehouse.connection import open_warehouse

    with open_warehouse(db_path, read_only=True) as con:
        row = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE text_source = 'page'),"
            " count(DISTINCT text_hash) FROM articles"
        ).fetchone()
    return Stored(*(int(v) for v in row)) if row else Stored(0, 0, 0)


def config_toml(feed_urls: Sequence[str]) -> str:
    """``pass_config`` as a newsmon.toml, for the flow (which reads its config from a file)."""
    feeds = "".join(
        f'[[feeds]]\nname = "bench-{i}"\nurl = "{url}"\n\n' for i, url in enumerate(feed_urls)
    )
    return feeds + '[fetch]\nallow_private_networks = ["127.0.0.1/32"]\n'


class EditionRoutes(dict[str, "Route"]):
    """A site's routes where page paths not added are made on request from the corpus."""

    def __init__(self, corpus: Sequence[GoldPage], seed: int) -> None:
        super().__init__()
        self._pages = {page.id: page for page in corpus}
        self._seed = seed
        self._lock = threading.Lock()
        self.made = 0

    def get(self, path: str, default: Any = None) -> Any:
        found = super().get(path)
        if found is not None:
            return found
        match = _PAGE_PATH.match(path)
        page = self._pages.get(match.group(2)) if match else None
        if match is None or page is None:
            return default
        from tests.support.sites import Route

        with self._lock:  # the site answers from several threads
            self.made += 1
        made = edition(page, int(match.group(1) or 0), self._seed)
        return Route(body=made.html, content_type="text/html")


def _serve(conn: Connection, corpus_pages: int | None, count: int, seed: int) -> None:
    """The other process: serve ``count`` pages made on request until told to stop."""
    from tests.support.corpus import load_aeb_dev
    from tests.support.sites import Route, serve_site

    corpus = load_aeb_dev(corpus_pages)
    routes = EditionRoutes(corpus, seed)
    with serve_site() as site:
        site.routes = routes
        paths = [page_path(page.id, number) for page, number in plan(corpus, count)]
        feeds = feed_documents(site.base_url, paths)
        for path, document in feeds.items():
            routes[path] = Route(body=document, content_type="application/rss+xml")
        conn.send(
            {
                "base_url": site.base_url,
                "feeds": [site.url(path) for path in feeds],
                "corpus_pages": len(corpus),
            }
        )
        conn.recv()  # the stop message
        served = {"pages_made": routes.made, "requests": len(site.requests)}
        # the site's CPU (making editions, serving) is taken from the cores the pass runs on
        conn.send(served | {"cpu_seconds": time.process_time()})


@contextmanager
def serve_editions_elsewhere(
    count: int, *, corpus_pages: int | None = None, seed: int = SEED
) -> Iterator[tuple[dict[str, Any], dict[str, Any], int]]:
    """Serve ``count`` pages (editions made on request) and their feeds from a spawned process.

    Yields ``(published, served, pid)``: ``published`` has ``base_url``, ``feeds`` and
    ``corpus_pages``; ``served`` is filled on exit with ``pages_made``, ``requests`` and the
    process's ``cpu_seconds``; ``pid``
    is the server's process, to leave out of the pass's memory.
    """
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(
        target=_serve, args=(theirs, corpus_pages, count, seed), name="bench-site", daemon=True
    )
    process.start()
    served: dict[str, Any] = {}
    try:
        if not ours.poll(120):
            raise RuntimeError("the loopback site process did not start in 120 s")
        published = ours.recv()
        yield published, served, process.pid or 0
        ours.send("stop")
        if ours.poll(30):
            served.update(ours.recv())
    finally:
        process.join(timeout=30)
        if process.is_alive():
            process.kill()
            process.join()
        ours.close()
