"""``newsmon eval dedup``: a labelled set for copies and stories, run through the warehouse.

Issue 3; the method is in docs/dedup-eval.md. The set is built at run time from the shared
corpus (page text is the publishers', so none of it is committed): the five seeds as the demo
publishes them, every aeb-dev page as published, and wire-style variants of those pages
(``flows.variants``) drawn with a fixed seed. Every item goes through the real path: an HTML
page, ``extract_page``, ``build_article``, then ``load_articles`` into a temporary DuckDB file,
in publication order; ``copy_of`` and ``story_id`` are read back and scored
(``flows.scoring``).
"""

from __future__ import annotations

import gzip
import json
import random
import tempfile
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from extractors.articles import extract_page
from extractors.errors import ExtractionError, NewsmonError
from extractors.relevance import Lexicon
from extractors.types import Article, FeedItem
from flows import variants
from flows.demo import load_seeds
from flows.demo import render_page as render_seed_page
from flows.pipeline import build_article
from flows.scoring import DedupScores, score
from warehouse.connection import open_warehouse
from warehouse.loads import load_articles
from warehouse.matching import MatchSettings

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
DEFAULT_SEED = 20170128
MIN_WORDS = 120

# events reported independently by several outlets in aeb-dev, labelled by reading them
SAME_EVENT: dict[str, tuple[str, ...]] = {
    "doobie-brothers-tour": ("35b15891", "9cb8224b", "ac1bfdd4"),
    "south-dakota-meth-campaign": ("156770d6", "3f65af7b", "c13b9c0e"),
    "feather-duvet-lung": ("7bb1ca90", "9eef8162"),
    "esa-hibernation-study": ("b37be353", "e1c7023e"),
    "china-plague-cases": ("8b194530", "ea25dd7e"),
    "nasa-lunar-landers": ("42aad16b", "d1c57d78"),
    "prince-andrew-interview": ("1f765c48", "87bf6057"),
    "impeachment-hearings-nov-19": ("7a664e40", "c90731f0"),
}
# coverage whose event boundary is a matter of opinion (a roundup, a launch and its reviews,
# an editorial on an ongoing crisis): loaded, but left out of the story scores
UNSCORED_STORIES = frozenset(
    {"fde930b0", "8267acac", "aade2ec8", "042bb7b5", "5fa3154e", "624fcd90", "f5c90a6d"}
)


@dataclass(frozen=True)
class EvalItem:
    """One labelled article: its page, where and when it was published, and its labels.

    ``group`` names the wire text it is a version of; ``story`` the event (``None``: not
    scored for stories). ``kind`` says how the item was made.
    """

    item_id: str
    kind: str
    group: str
    story: str | None
    url: str
    title: str
    html: str
    published_at: datetime


@dataclass(frozen=True)
class _Original:
    key: str
    url: str
    title: str
    paras: list[str]
    published: datetime
    html: str


def corpus_missing(corpus: Path) -> str | None:
    """Why the corpus cannot be used, or ``None``."""
    if not (corpus / "aeb-dev" / "gold.jsonl").is_file():
        return f"the evaluation corpus is not at {corpus} (expected ../shared/corpus)"
    return None


def _originals(corpus: Path, limit: int | None) -> list[_Original]:
    gold = corpus / "aeb-dev" / "gold.jsonl"
    try:
        lines = gold.read_text(encoding="utf-8").splitlines()
        records = sorted((json.loads(line) for line in lines if line.strip()), key=_record_id)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise NewsmonError(f"the corpus's {gold} is not readable: {exc}") from exc
    found: list[_Original] = []
    for record in records:
        if limit is not None and len(found) >= limit:
            break
        page_file = corpus / "aeb-dev" / "html" / f"{record['id']}.html.gz"
        try:
            page = gzip.decompress(page_file.read_bytes())
        except (OSError, EOFError) as exc:  # missing, or not gzip (gzip.BadGzipFile: OSError)
            raise NewsmonError(f"the corpus's page {page_file} is not readable: {exc}") from exc
        html = page.decode("utf-8", errors="replace")
        # versions are made from the text as the pipeline reads the page (the annotated text
        # when extraction fails), so a version and its original differ only by what was done
        try:
            extracted = extract_page(html, record["url"])
            title, published = extracted.title, extracted.published_at
            paras = variants.paragraphs(extracted.text)
        except ExtractionError:
            title, published = None, None
            paras = variants.paragraphs(record["text"])
        if sum(len(p.split()) for p in paras) < MIN_WORDS or len(paras) < 3:
            continue
        published = published or datetime(2019, 11, 19, 12, tzinfo=UTC)
        title = title or variants.new_headline(paras, random.Random(record["id"]))
        found.append(_Original(record["id"][:8], record["url"], title, paras, published, html))
    return found


def _record_id(record: dict[str, Any]) -> str:
    return str(record["id"])


def _variant(
    original: _Original, kind: str, paras: list[str], title: str, delay_hours: float, n: int
) -> EvalItem:
    outlet = variants.OUTLETS[n % len(variants.OUTLETS)]
    published = original.published + timedelta(hours=delay_hours)
    url = f"https://{variants.slug(outlet)}.example/{original.key}/{kind}-{n}"
    credit = f"Distributed by the {variants.OUTLETS[-1 - n % 5]} wire." if n % 2 else None
    page = variants.render_page(
        outlet=outlet,
        url=url,
        title=title,
        paras=paras,
        published=published,
        style=n % 3,
        credit=credit,
    )
    return EvalItem(
        f"{original.key}/{kind}-{n}", kind, original.key, None, url, title, page, published
    )


def build_labelled_set(
    corpus: Path, *, limit: int | None = None, seed: int = DEFAULT_SEED
) -> list[EvalItem]:
    """The labelled items, in load order (publication time, then id)."""
    rng = random.Random(seed)
    originals = _originals(corpus, limit)
    story_of = {k: s for s, keys in SAME_EVENT.items() for k in keys}
    long = [o for o in originals if len(o.paras) >= 8]
    # hard negatives: articles of their own that borrow one background paragraph from another
    background = {o.key: long[(i + 1) % len(long)] for i, o in enumerate(long) if i % 9 == 4}
    items: list[EvalItem] = []
    for number, original in enumerate(originals):
        story = None if original.key in UNSCORED_STORIES else story_of.get(original.key)
        story = story or (None if original.key in UNSCORED_STORIES else original.key)
        if original.key in background:
            made = [_with_background(original, background[original.key], rng)]
        else:
            made = _versions(original, rng, 6 * number)
        items += [replace(i, story=story) for i in made]
    items += _borrowed([o for o in long if o.key not in background], rng, story_of)
    items += _seed_items()
    return sorted(items, key=lambda i: (i.published_at, i.item_id))


def _versions(original: _Original, rng: random.Random, n: int) -> list[EvalItem]:
    """The original as published, and the wire versions drawn for it."""
    made = [
        EvalItem(
            original.key,
            "original",
            original.key,
            None,
            original.url,
            original.title,
            original.html,
            original.published,
        )
    ]
    paras, title = original.paras, original.title
    if rng.random() < 0.5:
        made.append(_variant(original, "reprint", paras, title, rng.uniform(1, 8), n))
    if rng.random() < 0.35:
        trimmed = variants.trim(paras, rng)
        made.append(_variant(original, "trim", trimmed, title, rng.uniform(1, 12), n + 1))
    if rng.random() < 0.3:
        edited = [variants.edit_paragraph(paras[0], rng), *paras[1:]]
        headline = variants.new_headline(paras, rng)
        made.append(_variant(original, "retitle", edited, headline, rng.uniform(1, 10), n + 2))
    if len(paras) >= 6 and rng.random() < 0.35:
        body, headline = variants.update(paras, rng), variants.new_headline(paras, rng)
        update = _variant(original, "update", body, headline, rng.uniform(3, 24), n + 3)
        made.append(update)
        if rng.random() < 0.4:  # a reprint of the update: a chain A -> B -> C
            hours = (update.published_at - original.published).total_seconds() / 3600 + 2
            text = variants.paragraphs(_texts_of(update))
            made.append(_variant(original, "update-reprint", text, headline, hours, n + 4))
    if rng.random() < 0.15:  # an urgent short version first: the full text extends it
        urgent = variants.lead(paras)
        made.append(_variant(original, "urgent", urgent, title, -rng.uniform(0.5, 3), n + 5))
    return made


def _with_background(original: _Original, lender: _Original, rng: random.Random) -> EvalItem:
    """The original with one paragraph of ``lender`` (published before it) in its middle."""
    paras = list(original.paras)
    paras.insert(
        len(paras) // 2,
        rng.choice([p for p in lender.paras[2:] if len(p.split()) > 20] or lender.paras[2:]),
    )
    hours = max(0.0, (lender.published - original.published).total_seconds() / 3600) + 2
    item = _variant(original, "background", paras, original.title, hours, 0)
    return replace(item, item_id=original.key, url=original.url.replace("://", "://bg."))


def _texts_of(item: EvalItem) -> str:
    return extract_page(item.html, item.url).text


def _borrowed(
    long: list[_Original], rng: random.Random, story_of: dict[str, str]
) -> list[EvalItem]:
    """Reprints that borrow one background paragraph from another article (their root is the
    article they reprint, not the lender)."""
    made: list[EvalItem] = []
    for index in range(min(10, len(long) // 2)):
        host, lender = long[2 * index], long[2 * index + 1]
        paras = list(host.paras)
        paras.insert(len(paras) // 2, rng.choice(lender.paras[2:]))
        item = _variant(host, "borrowed", paras, host.title, rng.uniform(30, 60), 1000 + index)
        story = None if host.key in UNSCORED_STORIES else story_of.get(host.key, host.key)
        made.append(replace(item, story=story))
    return made


def _seed_items() -> list[EvalItem]:
    """The five seeds as ``newsmon demo`` publishes them; 002 is a version of 000's text."""
    groups = {"002": "seed-000"}
    stories = {
        "000": "seed-call-2017-01-28",
        "001": "seed-call-2017-01-28",
        "002": "seed-call-2017-01-28",
    }
    items = []
    for seed in load_seeds():
        base = f"https://{variants.slug(seed.outlet)}.example"
        items.append(
            EvalItem(
                f"seed-{seed.id}",
                "seed",
                groups.get(seed.id, f"seed-{seed.id}"),
                stories.get(seed.id, f"seed-{seed.id}"),
                base + seed.path,
                seed.title,
                render_seed_page(seed, base),
                seed.published,
            )
        )
    return items


def to_article(item: EvalItem, lexicon: Lexicon) -> Article:
    """The item as the pipeline would store it (extraction, then ``build_article``)."""
    page = extract_page(item.html, item.url)
    feed_item = FeedItem(
        feed_url="https://eval.example/feed.xml",
        url=item.url,
        title=item.title,
        published_at=item.published_at,
    )
    return build_article(
        feed_item, page, item.url, item.published_at + timedelta(minutes=10), lexicon
    )


@dataclass(frozen=True)
class EvalRun:
    """What a run measured, with the labelled items and the warehouse's answers."""

    scores: DedupScores
    items: list[EvalItem]
    predicted_copy: dict[str, str | None]
    predicted_story: dict[str, str]
    gold_copy: dict[str, str | None]


def run_dedup_eval(
    corpus: Path = DEFAULT_CORPUS,
    *,
    limit: int | None = None,
    seed: int = DEFAULT_SEED,
    settings: MatchSettings | None = None,
    batch_size: int = 50,
) -> EvalRun:
    """Build the set, load it in order into a temporary warehouse, score what comes back."""
    problem = corpus_missing(corpus)
    if problem:
        raise NewsmonError(problem)
    items = build_labelled_set(corpus, limit=limit, seed=seed)
    lexicon = Lexicon.default()
    articles = [to_article(item, lexicon) for item in items]
    id_of = {item.item_id: a.article_id for item, a in zip(items, articles, strict=True)}
    with tempfile.TemporaryDirectory(prefix="newsmon-eval-") as folder:
        with open_warehouse(Path(folder) / "eval.duckdb") as con:
            for start in range(0, len(articles), batch_size):
                load_articles(
                    con, articles[start : start + batch_size], run_id="eval", matching=settings
                )
            rows = con.execute("SELECT article_id, copy_of, story_id FROM articles").fetchall()
    stored = {str(a): (c, s) for a, c, s in rows}
    root: dict[str, str] = {}
    gold_copy: dict[str, str | None] = {}
    for item in items:
        first = root.setdefault(item.group, id_of[item.item_id])
        gold_copy[item.item_id] = None if first == id_of[item.item_id] else first
    predicted_copy = {i.item_id: stored[id_of[i.item_id]][0] for i in items}
    predicted_story = {i.item_id: str(stored[id_of[i.item_id]][1]) for i in items}
    gold_story = {i.item_id: i.story for i in items if i.story is not None}
    scores = score(gold_copy, predicted_copy, gold_story, predicted_story)
    return EvalRun(scores, items, predicted_copy, predicted_story, gold_copy)


def render_report(run: EvalRun, *, show_errors: bool = False) -> list[str]:
    """The run as lines of text: the set, copy scores by kind, story scores."""
    kinds = Counter(item.kind for item in run.items)
    copies = run.scores.copies
    stories = run.scores.stories
    found: Counter[str] = Counter()
    wanted: Counter[str] = Counter()
    for item in run.items:
        gold = run.gold_copy[item.item_id]
        if gold is not None:
            wanted[item.kind] += 1
            found[item.kind] += run.predicted_copy[item.item_id] == gold
    lines = [
        f"labelled set: {len(run.items)} articles ("
        + ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
        + f"), {sum(wanted.values())} copies",
        f"copies (article -> root): precision {copies.precision:.3f}  recall {copies.recall:.3f}"
        f"  F1 {copies.f1:.3f}  (tp {copies.true_positives}, fp {copies.false_positives},"
        f" fn {copies.false_negatives})",
        "  found by kind: " + ", ".join(f"{k} {found[k]}/{wanted[k]}" for k in sorted(wanted)),
        f"stories ({stories.articles} articles, {stories.gold_stories} gold,"
        f" {stories.predicted_stories} predicted): B-cubed precision"
        f" {stories.bcubed_precision:.3f}  recall {stories.bcubed_recall:.3f}"
        f"  F1 {stories.bcubed_f1:.3f}  adjusted Rand {stories.adjusted_rand:.3f}",
    ]
    if show_errors:
        for item in run.items:
            gold, got = run.gold_copy[item.item_id], run.predicted_copy[item.item_id]
            if gold != got:
                lines.append(f"  {item.item_id} ({item.kind}): copy_of {got}, expected {gold}")
    return lines
