"""The benchmark's page editions (bench/editions.py): seeded, varied, and each a new text."""

from __future__ import annotations

import random
import re
import tomllib
from datetime import UTC, datetime

import httpx

from bench.editions import (
    SEED,
    EditionRoutes,
    config_toml,
    edit_counts,
    edition,
    editions,
    feed_documents,
    locate,
    page_path,
    plan,
    revise,
)
from flows.config import parse_config
from flows.variants import render_page
from tests.support.corpus import GoldPage
from tests.support.sites import serve_site

PARAGRAPHS = [
    f"Paragraph {n} says the talks in Geneva went on for hours, officials said on Tuesday, "
    f"and that another round, number {n}, is planned for next month in Vienna."
    for n in range(1, 9)
]
PUBLISHED = datetime(2019, 11, 20, 12, 0, tzinfo=UTC)


def _page(page_id: str = "p1", paragraphs: list[str] = PARAGRAPHS) -> GoldPage:
    html = render_page(
        outlet="Metro Herald",
        url=f"https://example.org/{page_id}",
        title="Talks in Geneva",
        paras=paragraphs,
        published=PUBLISHED,
        style=0,
    )
    return GoldPage(page_id, f"https://example.org/{page_id}", html.encode(), "\n".join(paragraphs))


def _texts(html: bytes) -> list[str]:
    """The paragraphs of the story (the page's footer has one too)."""
    body = re.search(rb'<div class="story-body">(.*?)</div></article>', html, re.S)
    assert body is not None
    return [m.decode() for m in re.findall(rb"<p>(.*?)</p>", body.group(1), re.S)]


def test_paragraphs_are_found_in_their_p_elements() -> None:
    page = _page()
    located = locate(page.html, PARAGRAPHS)
    assert [p.text for p in located] == PARAGRAPHS
    for paragraph in located:
        assert paragraph.block is not None
        start, end = paragraph.block
        assert page.html[start:end] == b"<p>" + paragraph.text.encode() + b"</p>"


def test_an_edition_is_the_same_bytes_for_the_same_seed_and_differs_by_number() -> None:
    page = _page()
    assert edition(page, 0).html == page.html and not edition(page, 0).edits
    assert edition(page, 3).html == edition(page, 3).html
    assert edition(page, 3, seed=SEED + 1).html != edition(page, 3).html
    texts = {tuple(_texts(edition(page, n).html)) for n in range(12)}
    assert len(texts) == 12  # every edition's article text differs from every other's


def test_each_recorded_operation_shows_in_the_page() -> None:
    page = _page()
    seen: set[str] = set()
    for number in range(1, 40):
        made = edition(page, number)
        texts = _texts(made.html)
        kept = [t for t in texts if t in PARAGRAPHS]
        assert made.edits and set(made.edits) - {"headline"}
        if "headline" in made.edits:
            assert b"<title>Talks in Geneva" not in made.html
        if "drop" in made.edits:
            assert len(texts) - ("add" in made.edits) < len(PARAGRAPHS)
        if "reorder" in made.edits:
            order = [PARAGRAPHS.index(t) for t in kept]
            assert order != sorted(order)
        if "edit" in made.edits:
            assert len(kept) < len(texts) - ("add" in made.edits)
        if "add" in made.edits:
            assert any(t not in PARAGRAPHS and "Paragraph" not in t for t in texts)
        seen.update(made.edits)
    assert seen == {"headline", "drop", "reorder", "edit", "add"}


def test_text_outside_p_elements_gets_a_marker_in_the_encoding_of_the_page() -> None:
    body = "".join(f"<div class='c'>{p}</div>" for p in PARAGRAPHS[:3])
    html = "<html><head><meta charset='iso-8859-1'><title>Caf\xe9</title></head>"
    html += f"<body><h1>Caf\xe9 talks</h1>{body}</body></html>"
    revised, edits = revise(html.encode("latin-1"), "\n".join(PARAGRAPHS[:3]), random.Random(1), 4)
    assert "marker" in edits
    assert revised.count(b"Edition 4: Paragraph") == 3
    # replaced text is ASCII with character references: the page's encoding still reads it
    revised.decode("latin-1")
    assert not re.search(rb"[\x80-\xff]", revised.replace("\xe9".encode("latin-1"), b""))


def test_plan_and_feeds_go_edition_by_edition() -> None:
    corpus = [_page("a"), _page("b"), _page("c")]
    assert [(p.id, n) for p, n in plan(corpus, 7)] == [
        ("a", 0),
        ("b", 0),
        ("c", 0),
        ("a", 1),
        ("b", 1),
        ("c", 1),
        ("a", 2),
    ]
    pages = editions(corpus, 7)
    assert [p.path for p in pages][-1] == page_path("a", 2) == "/bench/e2/a.html"
    assert sum(edit_counts(pages).values()) >= 4
    feeds = feed_documents("http://127.0.0.1:9", [p.path for p in pages])
    assert list(feeds) == ["/bench/feed-0.xml", "/bench/feed-1.xml", "/bench/feed-2.xml"]
    assert feeds["/bench/feed-1.xml"].count(b"<item>") == 3
    assert b"http://127.0.0.1:9/bench/e2/a.html" in feeds["/bench/feed-2.xml"]
    config = parse_config(tomllib.loads(config_toml(["http://127.0.0.1:9/f"])))
    assert [f.url for f in config.feeds] == ["http://127.0.0.1:9/f"]


def test_the_site_makes_editions_on_request() -> None:
    corpus = [_page("a"), _page("b")]
    routes = EditionRoutes(corpus, SEED)
    with serve_site() as site:
        site.routes = routes
        with httpx.Client() as client:
            got = client.get(site.url("/bench/e5/b.html"))
            missing = client.get(site.url("/bench/e5/zzz.html"))
    assert got.status_code == 200 and got.content == edition(corpus[1], 5).html
    assert missing.status_code == 404
    assert routes.made == 1
