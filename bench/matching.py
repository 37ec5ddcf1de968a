"""Matching cost and memory against the size of the archive: 10,000 and 100,000 stored.

A monitor stores articles at a steady rate, so a bigger archive is a longer history, not a
busier window. Per size, a fresh warehouse is built fast: synthetic articles stored at
``--per-day`` articles a day up to a fixed ``NOW`` (default 10,000 in 29 days: the 10,000
archive is all inside the 30-day window, the 100,000 one spans 290 days), bulk-inserted (Arrow)
together with their index rows, as the matcher would have written them: 16 MinHash band keys
and 48 anchor keys each (3% of anchors from a pool of common shingles, capped at
``max_postings``), stories of about three articles with their profiles, entity-day keys and
sources, and document counts. Terms and entities come from the vocabulary of the real corpus,
Zipf-weighted, so the lookups of a real article hit populated rows. The real corpus articles
(aeb-dev and the seeds) are then loaded through ``load_articles``, dated in the last 20 days.

Each warehouse is measured twice, each time in a fresh subprocess (so its peak RSS is the
matcher's, not the builder's): as built, every posting indexed, and after
``prune_postings(NOW - 30 days)``, as every pass leaves the index (``flows.passes``). New
articles, one at a time, are matched against it: a reprint and a write-through
(``flows.variants.update``) of stored corpus articles (candidates found and verified) and a
fresh synthetic article (no copy candidate). ``match`` is ``Matcher.match`` plus ``flush`` in a
transaction rolled back afterwards (the matcher's own cost); ``load`` is ``load_articles`` end
to end (committed). Medians exclude the first, cold, match.

Prints a table and writes bench/results/matching.json. Usage:

    uv run python bench/matching.py [--sizes 10000 100000] [--repeat 15] [--per-day N]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from extractors.relevance import score_relevance  # noqa: E402
from extractors.stories import day_of, entity_day_key, story_features, term_key  # noqa: E402
from extractors.text import text_hash  # noqa: E402
from extractors.types import Article  # noqa: E402
from flows import variants  # noqa: E402
from flows.demo import load_seeds  # noqa: E402
from flows.evaluation import DEFAULT_CORPUS  # noqa: E402
from warehouse.connection import load_memory_limit, open_warehouse  # noqa: E402
from warehouse.loads import ARTICLE_SCHEMA, load_articles  # noqa: E402
from warehouse.match_index import prune_postings  # noqa: E402
from warehouse.matching import Matcher, MatchSettings  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "matching.json"
NOW = datetime(2019, 11, 20, 12, 0, tzinfo=UTC)
CAP = 64
_TS = pa.timestamp("us", tz="UTC")


def corpus_texts() -> list[tuple[str, str, str]]:
    """(id, title, text) of the real articles: the aeb-dev gold texts and the seeds."""
    found = []
    for line in (DEFAULT_CORPUS / "aeb-dev" / "gold.jsonl").read_text("utf-8").splitlines():
        record = json.loads(line)
        paras = variants.paragraphs(record["text"])
        if len(paras) >= 6:
            found.append((record["id"][:16], paras[0][:80], "\n".join(paras)))
    for seed in load_seeds():
        found.append((f"seed{seed.id}", seed.title, "\n".join(seed.paragraphs)))
    return found


def make_article(key: str, outlet: str, title: str, text: str, when: datetime) -> Article:
    url = f"https://{variants.slug(outlet)}.example/{key}"
    return Article(
        article_id=key,
        url=url,
        canonical_url=url,
        feed_url="https://bench.example/feed.xml",
        source=outlet,
        title=title,
        text=text,
        text_hash=text_hash(text),
        fetched_at=when + timedelta(minutes=5),
        published_at=when,
        relevance=score_relevance(title, text),
    )


class Vocabulary:
    """Words, entities and keyword terms of the corpus, with Zipf-like sampling weights."""

    def __init__(self, texts: list[tuple[str, str, str]]) -> None:
        words: Counter[str] = Counter()
        terms: Counter[str] = Counter()
        for _, title, text in texts:
            words.update(text.split())
            features = story_features(title, text)
            terms.update(features.terms().keys())
        self.words = np.array(sorted(words, key=lambda w: (-words[w], w)))
        self.terms = np.array(sorted(terms, key=lambda t: (-terms[t], t)))
        self.entities = np.array([t[2:] for t in self.terms if t.startswith("e:")])
        ranks = np.arange(1, len(self.terms) + 1)
        self.term_p = (1 / ranks) / (1 / ranks).sum()
        ranks = np.arange(1, len(self.entities) + 1)
        self.entity_p = (1 / ranks) / (1 / ranks).sum()


def _table(columns: dict[str, Any], schema: pa.Schema) -> pa.Table:
    return pa.table({f.name: pa.array(columns[f.name], f.type) for f in schema}, schema=schema)


def _insert(con: Any, table: str, data: pa.Table) -> None:
    con.execute("SELECT 1").fetchall()  # register refuses while a fetchone() result is open
    con.register("bulk", data)
    try:
        names = ", ".join(data.schema.names)
        con.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM bulk")
    finally:
        con.unregister("bulk")


def add_synthetic(
    con: Any, start: int, count: int, vocab: Vocabulary, counts: Counter[int], span_days: float
) -> None:
    """Bulk-insert ``count`` synthetic articles (ids from ``start``), stored over the
    ``span_days`` before ``NOW``, and their index rows."""
    rng = np.random.default_rng(start)
    ids = [f"syn{i:012d}" for i in range(start, start + count)]
    seconds = rng.uniform(0, span_days * 86400, count)
    when = [NOW - timedelta(seconds=float(s)) for s in seconds]
    story = [ids[i - i % 3] for i in range(count)]  # stories of three consecutive articles
    outlets = [f"Outlet {int(o)}" for o in rng.integers(0, 400, count)]
    texts = [" ".join(rng.choice(vocab.words[:5000], 120)) for _ in range(count)]
    columns: dict[str, Any] = {name: [None] * count for name in ARTICLE_SCHEMA.names}
    columns.update(
        article_id=ids,
        url=[f"https://syn.example/{i}" for i in ids],
        canonical_url=[f"https://syn.example/{i}" for i in ids],
        source=outlets,
        title=[t[:60] for t in texts],
        published_at=when,
        fetched_at=when,
        text=texts,
        text_hash=[f"h{i}" for i in ids],
        us_russia=[False] * count,
        relevance=[0.0] * count,
        relevance_terms=[[] for _ in ids],
        story_id=story,
        run_id=["bench"] * count,
    )
    _insert(con, "articles", _table(columns, ARTICLE_SCHEMA))
    keys = rng.integers(-(2**62), 2**62, (count, 64), dtype=np.int64)
    common = rng.random((count, 64)) < 0.03
    common[:, :16] = False  # band keys are never boilerplate
    keys[common] = rng.integers(0, 5000, int(common.sum())) + 1000
    rows: dict[str, list[Any]] = {"key": [], "article_id": [], "seen_at": [], "n_anchors": []}
    for i in range(count):
        for key in keys[i].tolist():
            if key < 10_000 and counts[key] >= CAP:
                continue
            counts[key] += key < 10_000
            rows["key"].append(key)
            rows["article_id"].append(ids[i])
            rows["seen_at"].append(when[i])
            rows["n_anchors"].append(48)
    copy_schema = pa.schema(
        [
            ("key", pa.int64()),
            ("article_id", pa.string()),
            ("seen_at", _TS),
            ("n_anchors", pa.int16()),
        ]
    )
    _insert(con, "copy_keys", _table(rows, copy_schema))
    add_stories(con, ids, when, outlets, vocab, rng, counts)


def add_stories(
    con: Any,
    ids: list[str],
    when: list[datetime],
    outlets: list[str],
    vocab: Vocabulary,
    rng: np.random.Generator,
    counts: Counter[int],
) -> None:
    heads = range(0, len(ids), 3)
    story_keys: dict[str, list[Any]] = {"key": [], "story_id": [], "day": []}
    profiles: dict[str, list[Any]] = {"story_id": [], "terms": [], "weights": []}
    stories: dict[str, list[Any]] = {
        c: []
        for c in (
            "story_id",
            "headline",
            "first_seen_at",
            "last_seen_at",
            "n_articles",
            "n_sources",
        )
    }
    sources: dict[str, list[Any]] = {"key": [], "story_id": [], "source": []}
    df: Counter[int] = Counter()
    for head in heads:
        sid, members = ids[head], range(head, min(head + 3, len(ids)))
        terms = list(dict.fromkeys(rng.choice(vocab.terms, 120, p=vocab.term_p).tolist()))
        for _ in members:
            df.update(term_key(t) for t in terms)
            df[0] += 1
        entities = list(dict.fromkeys(rng.choice(vocab.entities, 12, p=vocab.entity_p).tolist()))
        for member in members:
            for entity in entities:
                day = day_of(when[member])
                key = entity_day_key(entity, day)
                if counts[key] < CAP:
                    counts[key] += 1
                    story_keys["key"].append(key)
                    story_keys["story_id"].append(sid)
                    story_keys["day"].append(day)
        profiles["story_id"].append(sid)
        profiles["terms"].append(terms[:80] + [f"e:{e}" for e in entities])
        profiles["weights"].append(rng.uniform(0.1, 3.0, len(profiles["terms"][-1])).tolist())
        seen = [when[m] for m in members]
        n_sources = len({outlets[m] for m in members})
        for column, value in zip(
            stories,
            (sid, f"Story {sid}", min(seen), max(seen), len(members), n_sources),
            strict=True,
        ):
            stories[column].append(value)
        for outlet in dict.fromkeys(outlets[m] for m in members):
            sources["key"].append(term_key(f"{sid}\x00{outlet}"))
            sources["story_id"].append(sid)
            sources["source"].append(outlet)
    _insert(
        con,
        "story_keys",
        pa.table(story_keys).cast(
            pa.schema([("key", pa.int64()), ("story_id", pa.string()), ("day", pa.int32())])
        ),
    )
    _insert(con, "story_profiles", pa.table(profiles))
    _insert(con, "stories", pa.table(stories))
    _insert(con, "story_sources", pa.table(sources))
    delta = pa.table({"key": list(df), "df": list(df.values())})
    con.register("delta", delta)
    try:
        con.execute(
            "INSERT INTO term_counts AS t SELECT key, df FROM delta "
            "ON CONFLICT (key) DO UPDATE SET df = t.df + excluded.df"
        )
    finally:
        con.unregister("delta")


def new_articles(
    texts: list[tuple[str, str, str]], repeat: int, size: int
) -> list[tuple[str, Article]]:
    """What gets matched: reprints, write-throughs and fresh articles, dated now."""
    rng = random.Random(size)
    made = []
    for n in range(repeat):
        key, title, text = texts[(n * 7) % len(texts)]
        when = NOW + timedelta(minutes=n)
        update = "\n".join(variants.update(variants.paragraphs(text), rng))
        fresh = " ".join(rng.choice(text.split()) for _ in range(400))
        for kind, body in (("reprint", text), ("update", update), ("fresh", fresh)):
            made.append(
                (
                    kind,
                    make_article(
                        f"new-{size}-{kind}-{n}", f"Bench {kind} {size} {n}", title, body, when
                    ),
                )
            )
    return made


def peak_rss_mb() -> float:
    """This process's peak RSS. Not ``ru_maxrss``: across exec that keeps the peak of the
    forked parent, the builder, which holds the synthetic tables."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(db: str, repeat: int, size: int) -> dict[str, Any]:
    """Run in a subprocess: time matching and loading new articles one at a time."""
    texts = corpus_texts()
    timings: dict[str, list[float]] = {}
    # as a pass loads: under the load memory cap (warehouse.connection)
    with open_warehouse(db, memory_limit=load_memory_limit()) as con:
        for kind, article in new_articles(texts, repeat, size):
            con.execute("BEGIN TRANSACTION")
            started = time.perf_counter()
            matcher = Matcher(con)
            matcher.match(article)
            matcher.flush()
            timings.setdefault(f"match {kind}", []).append(time.perf_counter() - started)
            con.execute("ROLLBACK")
            started = time.perf_counter()
            load_articles(con, [article], run_id="bench")
            timings.setdefault(f"load {kind}", []).append(time.perf_counter() - started)
    result: dict[str, Any] = {"peak_rss_mb": peak_rss_mb()}
    for name, values in timings.items():
        result[name] = {
            "cold_ms": values[0] * 1000,
            "median_ms": statistics.median(values[1:]) * 1000,
            "p90_ms": sorted(values[1:])[int(0.9 * (len(values) - 2))] * 1000,
        }
    return result


def _measure_in_subprocess(db: str, repeat: int, size: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--measure", db, "--repeat", str(repeat), "--sizes", str(size)],
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(out.stdout))


def build_and_measure(sizes: list[int], repeat: int, per_day: float) -> dict[str, Any]:
    """Per size, a fresh warehouse stored at ``per_day`` articles a day up to ``NOW``; measured
    as built (every posting still indexed), then after the pruning a pass ends with."""
    texts = corpus_texts()
    vocab = Vocabulary(texts)
    results: dict[str, Any] = {}
    cutoff = NOW - timedelta(days=MatchSettings().window_days)
    for size in sizes:
        counts: Counter[int] = Counter()
        span = size / per_day
        with tempfile.TemporaryDirectory(prefix="newsmon-bench-") as folder:
            db = str(Path(folder) / "bench.duckdb")
            started = time.perf_counter()
            with open_warehouse(db) as con:
                real = [
                    make_article(k, f"Outlet {k[:4]}", t, x, NOW - timedelta(days=1 + i % 20))
                    for i, (k, t, x) in enumerate(texts)
                ]
                load_articles(con, real, run_id="bench")
                for start in range(0, size, 20_000):
                    add_synthetic(con, start, min(20_000, size - start), vocab, counts, span)
            build = time.perf_counter() - started
            unpruned = _measure_in_subprocess(db, repeat, size)
            started = time.perf_counter()
            with open_warehouse(db) as con:
                dropped = prune_postings(con, cutoff)
                con.execute("CHECKPOINT")
            prune_s = time.perf_counter() - started
            with open_warehouse(db, read_only=True) as con:
                postings = con.execute("SELECT count(*) FROM copy_keys").fetchall()[0][0]
            pruned = _measure_in_subprocess(db, repeat, size)
            results[str(size)] = {
                "history_days": span,
                "build_s": build,
                "db_mb": Path(db).stat().st_size / 2**20,
                "unpruned": unpruned,
                "pruned": pruned,
                "prune_s": prune_s,
                "postings_dropped": {"copy": dropped[0], "story": dropped[1]},
                "copy_postings_kept": int(postings),
            }
    return results


def report(results: dict[str, Any], sizes: list[int]) -> None:
    for state in ("pruned", "unpruned"):
        first = results[str(sizes[0])][state]
        names = [n for n in first if n.startswith(("match", "load"))]
        print(f"-- index {state} " + ("(as a pass leaves it)" if state == "pruned" else ""))
        header = f"{'measure':<18}" + "".join(f"{s:>14,}" for s in sizes) + f"{'ratio':>9}"
        print(header)
        for name in names:
            cells = [results[str(s)][state][name]["median_ms"] for s in sizes]
            line = f"{name:<18}" + "".join(f"{c:>12.1f}ms" for c in cells)
            print(line + f"{cells[-1] / cells[0]:>9.2f}")
        cells = [results[str(s)][state]["peak_rss_mb"] for s in sizes]
        print(
            f"{'peak RSS (MB)':<18}"
            + "".join(f"{c:>14.1f}" for c in cells)
            + f"{cells[-1] / cells[0]:>9.2f}"
        )
    for label, key in (
        ("history (days)", "history_days"),
        ("postings kept", "copy_postings_kept"),
        ("db size (MB)", "db_mb"),
        ("build (s)", "build_s"),
        ("prune (s)", "prune_s"),
    ):
        print(f"{label:<18}" + "".join(f"{results[str(s)][key]:>14,.1f}" for s in sizes))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument(
        "--per-day",
        type=float,
        default=10_000 / 29,
        help="articles stored a day (default: 10,000 fill 29 days, inside the 30-day window)",
    )
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.measure, args.repeat, args.sizes[0])))
        return 0
    results = build_and_measure(sorted(args.sizes), args.repeat, args.per_day)
    report(results, sorted(args.sizes))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "machine": platform.platform(),
                "python": platform.python_version(),
                "repeat": args.repeat,
                "per_day": args.per_day,
                "results": results,
            },
            indent=2,
        )
    )
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
