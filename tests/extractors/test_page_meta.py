"""Declared page metadata (``extractors.page_meta``), on crafted pages and on the aeb-dev pages."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import trafilatura
from lxml import etree
from trafilatura.utils import load_html

from extractors.articles import extract_page
from extractors.page_meta import PageMeta, page_metadata, parse_date
from tests.support.corpus import aeb_dev_missing, load_aeb_dev


def meta_of(head: str, body: str = "<p>Text.</p>", lang: str = "en") -> PageMeta:
    return page_metadata(load_html(f"<html lang='{lang}'><head>{head}</head><body>{body}</body>"))


def test_open_graph_and_article_tags() -> None:
    meta = meta_of(
        '<meta property="og:title" content="Putin and Trump speak">'
        '<meta property="og:site_name" content="Wire Daily">'
        '<meta name="author" content="A. Writer">'
        '<meta property="article:published_time" content="2017-01-28T18:30:00-05:00">'
        '<link rel="canonical" href="https://wire.example/a">'
        "<title>Something else | Wire Daily</title>"
    )
    assert meta == PageMeta(
        title="Putin and Trump speak",
        site_name="Wire Daily",
        author="A. Writer",
        published_at=datetime(2017, 1, 28, 23, 30, tzinfo=UTC),
        canonical_url="https://wire.example/a",
        language="en",
    )


def test_json_ld_graph_is_read_when_tags_are_missing() -> None:
    ld = (
        '{"@context": "https://schema.org", "@graph": [{"@type": "WebSite", "name": "x"},'
        ' {"@type": "NewsArticle", "headline": "Call at the Kremlin",'
        ' "datePublished": "2018-03-20T10:00:00Z",'
        ' "author": [{"@type": "Person", "name": "B. One"}, {"name": "C. Two"}],'
        ' "publisher": {"@type": "Organization", "name": "The Ledger"}}]}'
    )
    meta = meta_of(f'<script type="application/ld+json">{ld}</script>')
    assert meta.title == "Call at the Kremlin"
    assert meta.author == "B. One, C. Two"
    assert meta.site_name == "The Ledger"
    assert meta.published_at == datetime(2018, 3, 20, 10, 0, tzinfo=UTC)


def test_head_title_loses_the_site_suffix_and_time_element_gives_the_date() -> None:
    meta = meta_of(
        '<meta property="og:site_name" content="Wire Daily">'
        "<title>Talks resume | Wire Daily</title>",
        body='<time datetime="2019-11-19">Nov 19</time><p>Text.</p>',
        lang="en-GB",
    )
    assert meta.title == "Talks resume"
    assert meta.published_at == datetime(2019, 11, 19, tzinfo=UTC)
    assert meta.language == "en"


@pytest.mark.parametrize(
    "script",
    [
        "{not json",
        '"a string"',
        "[1, 2, 3]",
        '{"headline": {"nested": true}, "datePublished": 42, "author": 7}',
        '{"@graph": "nope"}',
    ],
)
def test_hostile_json_ld_is_ignored(script: str) -> None:
    meta = meta_of(f'<script type="application/ld+json">{script}</script><title>Kept</title>')
    assert meta.title == "Kept"
    assert meta.author is None


def test_placeholder_and_garbage_dates_are_not_dates() -> None:
    assert parse_date("0001-01-01T00:00:00Z") is None
    assert parse_date("yesterday") is None
    assert parse_date("2019-11-20T09:00:00Z") == datetime(2019, 11, 20, 9, tzinfo=UTC)
    meta = meta_of('<meta property="article:published_time" content="0001-01-01T00:00:00">')
    assert meta.published_at is None


@pytest.mark.parametrize(
    "declared",
    [
        "9999-12-31T23:00:00-05:00",  # a year 10000 in UTC
        "0001-01-01T00:00:00+01:00",  # a year 0
    ],
)
def test_a_date_utc_cannot_hold_is_no_date_and_costs_the_page_nothing(declared: str) -> None:
    assert parse_date(declared) is None
    # the page is extracted as if it declared no date (it used to end in an OverflowError,
    # which the worker reported as a crashed extraction: the feed's summary was kept instead)
    paragraphs = "".join(
        f"<p>Lavrov and Rubio met in Geneva on Thursday for round {n} of talks on arms control.</p>"
        for n in range(5)
    )
    html = (
        f'<html><head><meta property="article:published_time" content="{declared}">'
        f"<title>Talks</title></head><body><article>{paragraphs}</article></body></html>"
    )
    page = extract_page(html, "https://example.com/talks")
    assert page.published_at is None and page.text.startswith("Lavrov and Rubio met")


def test_lone_surrogates_in_json_ld_are_replacement_characters() -> None:
    meta = meta_of(
        '<script type="application/ld+json">{"@type": "NewsArticle", "headline": "Talks\\ud800",'
        ' "author": {"name": "A\\udfff"}, "publisher": {"name": "Wire\\ud800"}}</script>'
    )
    assert (meta.title, meta.author, meta.site_name) == ("Talks\ufffd", "A\ufffd", "Wire\ufffd")


@pytest.mark.parametrize(
    ("lang", "stored"),
    [("pt_BR", "pt"), ("EN", "en"), ("x" * 100_000, None), ("\u00e9n", None), ("12", None)],
)
def test_only_a_language_tag_is_a_language(lang: str, stored: str | None) -> None:
    # a page's <html lang> went to the warehouse whatever it held (100 kB of it, once)
    assert meta_of("", lang=lang).language == stored
    paragraphs = "".join(f"<p>Lavrov and Rubio met in Geneva for round {n}.</p>" for n in range(9))
    html = f"<html lang='{lang}'><head><title>T</title></head><body>{paragraphs}</body></html>"
    assert extract_page(html, "https://example.com/a").language == stored


def test_the_tree_is_left_unchanged() -> None:
    tree = load_html(
        "<html><head><title>T</title><script type='application/ld+json'>{}</script></head>"
        "<body><p>x</p></body></html>"
    )
    before = etree.tostring(tree)
    page_metadata(tree)
    assert etree.tostring(tree) == before


@pytest.mark.skipif(bool(aeb_dev_missing()), reason=str(aeb_dev_missing()))
def test_agrees_with_trafilaturas_metadata_on_real_pages() -> None:
    # the declared title and date agree with trafilatura's much more expensive search on most
    # real pages (dates compared by calendar day; ours are UTC, trafilatura's local)
    pages = load_aeb_dev()
    titles = dates = 0
    for page in pages:
        theirs = trafilatura.bare_extraction(page.html, url=page.url, with_metadata=True)
        ours = page_metadata(load_html(page.html))
        titles += theirs.title == ours.title
        if theirs.date and ours.published_at:
            day = datetime.fromisoformat(theirs.date[:10]).date()
            dates += abs((ours.published_at.date() - day).days) <= 1
    assert titles >= 0.9 * len(pages)
    assert dates >= 0.9 * len(pages)
