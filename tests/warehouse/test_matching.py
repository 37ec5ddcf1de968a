"""Copy and story matching through ``load_articles`` into real DuckDB files (issue 3)."""

from __future__ import annotations

import random
import tomllib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from extractors.copies import CopyThresholds, compare, prepare
from extractors.features import match_features
from extractors.relevance import score_relevance
from extractors.text import text_hash
from extractors.types import Article
from flows import variants
from warehouse.connection import open_warehouse
from warehouse.loads import load_articles
from warehouse.match_index import lookup_rows, prune_postings
from warehouse.matching import MatchSettings

SEEDS = Path(__file__).resolve().parents[2] / "seeds"
META = {s["id"]: s for s in tomllib.loads((SEEDS / "seeds.toml").read_text("utf-8"))["seeds"]}


def seed_text(number: str) -> str:
    return (SEEDS / "articles" / META[number]["file"]).read_text(encoding="utf-8")


def published(number: str) -> datetime:
    return datetime.fromisoformat(META[number]["published"].replace("Z", "+00:00"))


def make(key: str, text: str, *, outlet: str, when: datetime, title: str = "A headline") -> Article:
    url = f"https://{variants.slug(outlet)}.example/{key}"
    return Article(
        article_id=key,
        url=url,
        canonical_url=url,
        feed_url="https://feeds.example/rss",
        source=outlet,
        title=title,
        text=text,
        text_hash=text_hash(text),
        fetched_at=when + timedelta(minutes=3),
        published_at=when,
        relevance=score_relevance(title, text),
    )


def seed_article(number: str) -> Article:
    meta = META[number]
    return make(
        number,
        seed_text(number),
        outlet=meta["outlet"],
        when=published(number),
        title=meta["title"],
    )


def in_published_order() -> list[Article]:
    return [seed_article(n) for n in sorted(META, key=published)]


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with open_warehouse(db, read_only=True) as con:
        return con.execute(sql).fetchall()


def matched(db: Path) -> dict[str, tuple[str | None, str]]:
    return {a: (c, s) for a, c, s in rows(db, "SELECT article_id, copy_of, story_id FROM articles")}


def snapshot(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    tables = ("articles", "stories", "copy_keys", "story_keys", "story_profiles", "term_counts")
    return {t: sorted(rows(db, f"SELECT * FROM {t}"), key=repr) for t in tables}


def test_seeds_give_one_copy_and_three_stories(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    with open_warehouse(db) as con:
        result = load_articles(con, in_published_order(), run_id="r1")
    assert (result.copies, result.stories_new) == (1, 3)
    found = matched(db)
    assert found["002"][0] == "000"
    assert found["000"][0] is None and found["001"][0] is None
    assert found["003"][0] is None and found["004"][0] is None
    assert found["000"][1] == found["001"][1] == found["002"][1]
    assert len({found[n][1] for n in ("000", "003", "004")}) == 3
    stories = rows(
        db,
        "SELECT story_id, headline, first_seen_at, last_seen_at, n_articles, n_sources,"
        " leader_call FROM stories ORDER BY first_seen_at",
    )
    assert [s[4:] for s in stories] == [(1, 1, False), (3, 3, False), (1, 1, False)]
    call = stories[1]
    assert call[1] == META["000"]["title"]
    assert (call[2], call[3]) == (published("000"), published("002"))


def test_carried_features_decide_as_computed_ones_and_stale_ones_are_redone(
    tmp_path: Path,
) -> None:
    plain = in_published_order()
    carried = [replace(a, features=match_features(a.title, a.text)) for a in plain]
    stale = []
    for article in plain:
        features = match_features(article.title, article.text)
        # as unpickled from a staged batch written before the field existed
        object.__delattr__(features, "copy_text")
        stale.append(replace(article, features=features))
    found = []
    for name, batch in (("plain", plain), ("carried", carried), ("stale", stale)):
        db = tmp_path / f"{name}.duckdb"
        with open_warehouse(db) as con:
            load_articles(con, batch, run_id="r")
        found.append(snapshot(db))
    assert found[0] == found[1] == found[2]
    assert sum(1 for c, _ in matched(tmp_path / "stale.duckdb").values() if c) == 1


def test_one_batch_or_one_at_a_time_decide_the_same(tmp_path: Path) -> None:
    with open_warehouse(tmp_path / "batch.duckdb") as con:
        load_articles(con, in_published_order(), run_id="r1")
    with open_warehouse(tmp_path / "single.duckdb") as con:
        for article in in_published_order():
            load_articles(con, [article], run_id="r1")
    assert matched(tmp_path / "batch.duckdb") == matched(tmp_path / "single.duckdb")
    assert (
        snapshot(tmp_path / "batch.duckdb")["stories"]
        == snapshot(tmp_path / "single.duckdb")["stories"]
    )


def test_variants_of_a_wire_text_point_at_its_root(tmp_path: Path) -> None:
    rng = random.Random(3)
    text = seed_text("000")
    paras = variants.paragraphs(text)
    when = published("000")
    made = {
        "reprint": "Nation | World\nShare this\n" + text + "\nReuters contributed to this report.",
        "trim": "\n".join(variants.trim(paras, rng)),
        "retitle": "\n".join([variants.edit_paragraph(paras[0], rng), *paras[1:]]),
        "update": "\n".join(variants.update(paras, rng)),
    }
    db = tmp_path / "w.duckdb"
    with open_warehouse(db) as con:
        load_articles(con, [seed_article("000")], run_id="r1")
        batch = [
            make(
                kind,
                body,
                outlet=f"Outlet {kind}",
                when=when + timedelta(hours=i + 1),
                title=f"Another headline {i}",
            )
            for i, (kind, body) in enumerate(made.items())
        ]
        result = load_articles(con, batch, run_id="r2")
    assert result.copies == 4 and result.stories_new == 0
    found = matched(db)
    assert {kind: found[kind] for kind in made} == {kind: ("000", "000") for kind in made}


def test_a_chain_points_at_the_root(tmp_path: Path) -> None:
    # C copies only the part of B that B wrote afresh, so C shares nothing with A
    a, b = seed_text("000"), seed_text("002")
    c = "\n".join(variants.paragraphs(b)[:6])
    rule = CopyThresholds()
    assert not compare(prepare(c), prepare(a), rule).is_copy
    assert compare(prepare(c), prepare(b), rule).is_copy
    db = tmp_path / "w.duckdb"
    with open_warehouse(db) as con:
        load_articles(con, [seed_article("000"), seed_article("002")], run_id="r1")
        later = published("002") + timedelta(hours=2)
        load_articles(con, [make("c", c, outlet="Outlet C", when=later)], run_id="r2")
    assert matched(db)["c"] == ("000", "000")


def test_loading_the_same_articles_again_changes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    with open_warehouse(db) as con:
        load_articles(con, in_published_order(), run_id="r1")
    before = snapshot(db)
    with open_warehouse(db) as con:
        again = load_articles(con, in_published_order(), run_id="r2")
    assert (again.new_ids, again.already_stored, again.copies, again.stories_new) == ((), 5, 0, 0)
    assert snapshot(db) == before


def test_a_reopened_warehouse_matches_against_the_persisted_index(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    with open_warehouse(db) as con:
        load_articles(con, in_published_order(), run_id="r1")
    reprint = make(
        "reprint",
        seed_text("002"),
        outlet="Evening Courier",
        when=published("002") + timedelta(days=2),
    )
    with open_warehouse(db) as con:
        result = load_articles(con, [reprint], run_id="r2")
    assert result.copies == 1
    assert matched(db)["reprint"] == ("000", "000")
    assert rows(db, "SELECT n_articles, n_sources FROM stories WHERE story_id = '000'") == [(4, 4)]


def test_the_window_excludes_old_articles(tmp_path: Path) -> None:
    old = seed_article("000")
    reprint = make(
        "reprint", old.text, outlet="Outlet B", when=published("000") + timedelta(days=40)
    )
    db = tmp_path / "w.duckdb"
    with open_warehouse(db) as con:
        load_articles(con, [old], run_id="r1")
        result = load_articles(con, [reprint], run_id="r2")
    assert result.copies == 0 and result.stories_new == 1
    assert matched(db)["reprint"] == (None, "reprint")
    wide = tmp_path / "wide.duckdb"
    with open_warehouse(wide) as con:
        load_articles(con, [old], run_id="r1")
        load_articles(con, [reprint], run_id="r2", matching=MatchSettings(window_days=60))
    assert matched(wide)["reprint"] == ("000", "000")


def test_leader_call_set_by_another_issue_survives(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    with open_warehouse(db) as con:
        load_articles(con, in_published_order(), run_id="r1")
        con.execute("UPDATE stories SET leader_call = TRUE WHERE story_id = '000'")
        reprint = make("again", seed_text("000"), outlet="Outlet Z", when=published("002"))
        load_articles(con, [reprint], run_id="r2")
    assert rows(db, "SELECT n_articles, leader_call FROM stories WHERE story_id = '000'") == [
        (4, True)
    ]


def test_a_key_stops_taking_postings_at_the_cap(tmp_path: Path) -> None:
    settings = MatchSettings(max_postings=3)
    base = seed_article("000")
    copies = [
        make(f"r{i}", base.text, outlet=f"Outlet {i}", when=published("000")) for i in range(5)
    ]
    db = tmp_path / "w.duckdb"
    with open_warehouse(db) as con:
        load_articles(con, [base, *copies], run_id="r1", matching=settings)
    assert all(found == ("000", "000") for key, found in matched(db).items() if key != "000")
    biggest = rows(db, "SELECT max(n) FROM (SELECT count(*) AS n FROM copy_keys GROUP BY key)")
    assert biggest == [(3,)]


def test_pruned_postings_no_longer_match(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    with open_warehouse(db) as con:
        load_articles(con, in_published_order(), run_id="r1")
        prune_postings(con, datetime(2017, 1, 1, tzinfo=UTC))
        late = published("003") + timedelta(days=1)
        load_articles(
            con,
            [
                make("old", seed_text("003"), outlet="Outlet O", when=late),
                make("kept", seed_text("000"), outlet="Outlet K", when=published("002")),
            ],
            run_id="r2",
        )
    found = matched(db)
    assert found["old"][0] is None  # 003's keys were pruned
    assert found["kept"] == ("000", "000")
    assert rows(db, "SELECT count(*) FROM copy_keys WHERE article_id = '003'") == [(0,)]


def test_an_old_article_stored_recently_keeps_its_postings_for_a_window(tmp_path: Path) -> None:
    # a feed's backlog: 000 was published in 2017 but stored today; a pruning today must keep
    # its postings, so a reprint of it arriving tomorrow still finds it
    now = datetime.now(UTC)
    backlog = replace(seed_article("000"), fetched_at=now)
    stale = make("003", seed_text("003"), outlet="Outlet S", when=published("003"))  # stored 2017
    db = tmp_path / "w.duckdb"
    with open_warehouse(db) as con:
        load_articles(con, [backlog, stale], run_id="r1")
        dropped = prune_postings(con, now - timedelta(days=30))
        reprints = [
            replace(make(k, seed_text(n), outlet=f"Outlet {k}", when=published(n)), fetched_at=now)
            for k, n in (("r000", "000"), ("r003", "003"))
        ]
        load_articles(con, reprints, run_id="r2")
    assert dropped[0] > 0
    kept = rows(db, "SELECT DISTINCT article_id FROM copy_keys WHERE article_id < 'r'")
    assert kept == [("000",)]
    found = matched(db)
    assert found["r000"][0] == "000"
    assert found["r003"][0] is None  # 003 was stored long ago and left the window


def test_within_a_batch_the_earliest_published_version_is_the_root(tmp_path: Path) -> None:
    # the demo's feed lists the newest first: 002 arrives before 000 in the same batch
    newest_first = sorted(in_published_order(), key=lambda a: published(a.article_id), reverse=True)
    db = tmp_path / "w.duckdb"
    with open_warehouse(db) as con:
        result = load_articles(con, newest_first, run_id="r1")
    assert result.copies == 1
    found = matched(db)
    assert found["002"][0] == "000" and found["000"][0] is None
    assert found["000"][1] == found["001"][1] == found["002"][1]


def test_a_lookup_finds_a_value_with_a_nul(tmp_path: Path) -> None:
    # the lookups write values into the SQL as literals; DuckDB's parser ends a statement at a
    # NUL, even inside a string
    with open_warehouse(tmp_path / "w.duckdb") as con:
        con.execute("CREATE TABLE t (v VARCHAR)")
        con.executemany("INSERT INTO t VALUES (?)", [["a\x00b"], ["it's"], ["\x00"], ["plain"]])
        found = lookup_rows(con, "SELECT v FROM t", "v", ["a\x00b", "it's", "\x00", "absent"])
    assert sorted(v for (v,) in found) == ["\x00", "a\x00b", "it's"]
