"""Tests for ``extractors.feeds``: golden feeds, the shared corpus, malformed and hostile input."""

from __future__ import annotations

import json
import re
import threading
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from extractors.errors import FeedError
from extractors.feeds import parse_feed
from extractors.types import FeedItem, ParsedFeed

DATA = Path(__file__).resolve().parents[1] / "data" / "feeds"
CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "feeds"
FEED_URL = "https://example.com/news/feed.xml"


def rss(items: str, channel: str = "", prolog: str = '<?xml version="1.0"?>') -> bytes:
    return (
        f'{prolog}<rss version="2.0"><channel><title>T</title><link>https://example.com/</link>'
        f"{channel}{items}</channel></rss>"
    ).encode()


def fields(feed: ParsedFeed) -> str:
    return " ".join(str(v) for item in feed.items for v in vars(item).values()) + str(feed.title)


# golden files: saved real feeds and the records they must produce (tests/data/feeds/README.md)
GOLDEN = [
    (
        "rubenerd.rss",
        "application/rss+xml; charset=UTF-8",
        ParsedFeed(FEED_URL, "rss20", "Rubenerd", "https://rubenerd.com/", (), None, 30),
        10,
        FeedItem(
            feed_url=FEED_URL,
            url="https://rubenerd.com/the-commodore-atari-engineer-swap/",
            guid="https://rubenerd.com/the-commodore-atari-engineer-swap/",
            title="The great Commodore/Atari engineer swap",
            author="Ruben Schade",
            published_at=datetime(2023, 1, 10, 21, 53, 1, tzinfo=UTC),  # 08:53:01+11:00
        ),
        "Spend any time reading about the history of 1980s home computers, and you’ll learn",
    ),
    (
        "OneFootTsunami.atom",
        "application/atom+xml",
        ParsedFeed(FEED_URL, "atom10", "One Foot Tsunami", "http://onefoottsunami.com", ()),
        25,
        FeedItem(
            feed_url=FEED_URL,
            url="http://www.nytimes.com/2015/09/05/us/at-west-point-annual-pillow-fight-becomes"
            "-weaponized.html?mwrsm=Email&_r=1&pagewanted=all",
            guid="http://onefoottsunami.com/?p=14863",
            title="Link: Pillow Fight Leaves 24 Concussed",
            author="Paul Kafasis",
            published_at=datetime(2015, 9, 8, 14, 21, 41, tzinfo=UTC),
        ),
        "At West Point, freshman cadets have long had an annual massive nighttime pillow fight",
    ),
    (
        "bio.rdf",
        "application/rdf+xml",
        ParsedFeed(
            FEED_URL, "rss10", "bioRxiv Subject Collection: Plant Biology", "http://biorxiv.org", ()
        ),
        30,
        FeedItem(
            feed_url=FEED_URL,
            url="http://biorxiv.org/cgi/content/short/743294v1?rss=1",
            guid="http://biorxiv.org/cgi/content/short/743294v1?rss=1",
            title="Wheat inositol pyrophosphate kinase (TaVIH2-3B) interacts with Fasciclin-like "
            "arabinogalactan (FLA6) protein and alters the plant cell-wall composition",
            author="Kaur, M., Shukla, A., Kanwar, S., Shukla, V., Kaur, G., Sharma, S., Kumar, A., "
            "Aggarwal, S., Bhati, K. K., Pandey, P., Mazumder, K., Rishi, V., Pandey, A. K.",
            published_at=datetime(2019, 8, 27, tzinfo=UTC),  # dc:date 2019-08-27
        ),
        "Inositol pyrophosphates (PPx-InsPs) are of key interest",
    ),
    (
        "inessential.json",
        "application/feed+json",
        ParsedFeed(FEED_URL, "json1", "inessential.com", "http://inessential.com/", ()),
        20,
        FeedItem(
            feed_url=FEED_URL,
            url="http://inessential.com/2017/06/02/james_dempsey_and_the_breakpoints_benefi",
            guid="http://inessential.com/2017/06/02/james_dempsey_and_the_breakpoints_benefi",
            title="James Dempsey and the Breakpoints Benefit App Camp for Girls",
            author="Brent Simmons",  # the feed's author, inherited
            published_at=datetime(2017, 6, 3, 5, 5, 47, tzinfo=UTC),  # 22:05:47-07:00
        ),
        "On Wednesday night I know where I’ll be — playing keyboard",
    ),
]


@pytest.mark.parametrize(
    ("name", "content_type", "expected", "count", "first", "summary_start"),
    GOLDEN,
    ids=[g[0] for g in GOLDEN],
)
def test_golden_feed(
    name: str,
    content_type: str,
    expected: ParsedFeed,
    count: int,
    first: FeedItem,
    summary_start: str,
) -> None:
    feed = parse_feed((DATA / name).read_bytes(), url=FEED_URL, content_type=content_type)

    assert (feed.url, feed.version, feed.title, feed.link) == (
        expected.url,
        expected.version,
        expected.title,
        expected.link,
    )
    assert (feed.problem, feed.ttl_minutes) == (expected.problem, expected.ttl_minutes)
    assert len(feed.items) == count
    item = feed.items[0]
    assert item.summary is not None and item.summary.startswith(summary_start)
    assert FeedItem(**{**vars(item), "summary": None}) == first
    for item in feed.items:
        assert item.url.startswith(("http://", "https://"))
        assert item.published_at is not None and item.published_at.utcoffset() is not None
        assert item.summary is None or "  " not in item.summary
        assert not re.search(r"</?(p|a|div|br|img|em)\b", item.summary or "")


def test_golden_feed_without_content_type_is_read_the_same() -> None:
    content = (DATA / "rubenerd.rss").read_bytes()
    with_type = parse_feed(content, url=FEED_URL, content_type="application/rss+xml")
    assert parse_feed(content, url=FEED_URL) == with_type


def corpus_files() -> list[Path]:
    if not CORPUS.is_dir():
        pytest.skip(f"shared corpus not found at {CORPUS} (it lives beside the checkout)")
    return [p for p in sorted(CORPUS.rglob("*")) if p.is_file() and p.name != "LICENSE"]


def test_every_corpus_file_gives_a_feed_or_a_feed_error() -> None:
    files = corpus_files()
    assert len(files) > 2000
    outcomes: dict[Path, ParsedFeed | FeedError] = {}
    for path in files:
        try:
            outcomes[path] = parse_feed(path.read_bytes(), url=FEED_URL)
        except FeedError as exc:  # anything else fails the test
            assert str(exc) and exc.url == FEED_URL
            outcomes[path] = exc

    for path, outcome in outcomes.items():
        if path.parent.name == "rsparser" and path.suffix in (".rss", ".atom", ".rdf", ".xml"):
            assert isinstance(outcome, ParsedFeed) and outcome.items, path
            assert outcome.problem is None, (path, outcome.problem)
        if path.suffix in (".html", ".opml"):
            assert isinstance(outcome, FeedError), path
        if isinstance(outcome, ParsedFeed):
            for item in outcome.items:
                assert item.url.startswith(("http://", "https://")), (path, item.url)
                assert item.published_at is None or item.published_at.tzinfo is UTC


def test_feedparser_wellformed_rss_atom_and_rdf_parse_cleanly() -> None:
    # feedparser's own well-formed tests: none may be refused or reported as malformed
    files = [p for p in corpus_files() if p.parent.name in ("rss", "atom", "atom10", "rdf")]
    files = [p for p in files if p.parent.parent.name == "wellformed"]
    assert len(files) > 500
    for path in files:
        feed = parse_feed(path.read_bytes(), url=FEED_URL)
        assert feed.problem is None, (path, feed.problem)
        assert feed.version != "unknown", path


def test_miniflux_declared_encodings_are_honoured() -> None:
    folder = CORPUS / "miniflux" / "internal" / "reader" / "parser" / "testdata"
    if not folder.is_dir():
        pytest.skip(f"shared corpus not found at {folder}")
    feed = parse_feed((folder / "encoding_WINDOWS-1251.xml").read_bytes(), url=FEED_URL)
    assert feed.items[0].title == "Цитата #17703"


def test_http_charset_is_honoured() -> None:
    content = rss("<item><title>Caf\xe9</title><link>https://e.com/a</link></item>").decode()
    latin1 = content.encode("iso-8859-1")
    feed = parse_feed(latin1, url=FEED_URL, content_type="application/rss+xml; charset=iso-8859-1")
    assert feed.items[0].title == "Café" and feed.problem is None


def test_text_xml_without_charset_is_not_reported() -> None:
    # rfc 3023 says us-ascii for text/xml without charset; servers mean utf-8
    content = rss("<item><title>Café</title><link>https://e.com/a</link></item>")
    feed = parse_feed(content, url=FEED_URL, content_type="text/xml")
    assert feed.items[0].title == "Café" and feed.problem is None


def test_undeclared_wrong_encoding_is_reported_but_kept() -> None:
    content = rss("<item><title>Caf\xe9</title><link>https://e.com/a</link></item>").decode()
    feed = parse_feed(content.encode("iso-8859-1"), url=FEED_URL)
    assert feed.items[0].title == "Café"
    assert feed.problem == "wrong encoding: document declared as utf-8, but parsed as windows-1252"


JSON_FEED_11 = {
    "version": "https://jsonfeed.org/version/1.1",
    "title": "Wire",
    "home_page_url": "/",
    "authors": [{"name": "Desk"}],
    "items": [
        {
            "id": "1",
            "url": "/2024/story-one",
            "title": "  Story\n one ",
            "content_html": "<p>Putin &amp; Trump</p><p>spoke.</p><script>alert(1)</script>",
            "date_published": "2024-05-01T12:00:00+03:00",
            "authors": [{"name": "A. Writer"}, {"name": "B. Writer"}],
        },
        {"id": "https://example.org/two", "summary": "Two.", "date_modified": "2024-05-02T08:00Z"},
        {"id": "3", "external_url": "https://elsewhere.example/3", "content_text": "Three"},
        {"id": "4", "content_text": "no link anywhere"},
        {"id": "5", "url": "javascript:alert(1)"},
        {"id": "6", "url": "https://e.com/6", "date_published": "0001-01-01T00:00:00+01:00"},
        # no datetime holds a year 99999999999: no date, and the rest of the feed is kept
        {"id": "7", "url": "https://e.com/7", "date_published": "Fri, 01 Jan 99999999999 00:00:00"},
        "not an object",
    ],
}


def test_json_feed_1_1() -> None:
    content = json.dumps(JSON_FEED_11).encode()
    feed = parse_feed(content, url=FEED_URL, content_type="application/feed+json")

    assert (feed.version, feed.title, feed.link, feed.problem) == (
        "json11",
        "Wire",
        "https://example.com/",
        None,
    )
    assert feed.items == (
        FeedItem(
            feed_url=FEED_URL,
            url="https://example.com/2024/story-one",
            guid="1",
            title="Story one",
            summary="Putin & Trump spoke.",
            author="A. Writer, B. Writer",
            published_at=datetime(2024, 5, 1, 9, 0, tzinfo=UTC),
        ),
        FeedItem(
            feed_url=FEED_URL,
            url="https://example.org/two",
            guid="https://example.org/two",
            summary="Two.",
            author="Desk",
            published_at=datetime(2024, 5, 2, 8, 0, tzinfo=UTC),
        ),
        FeedItem(
            feed_url=FEED_URL,
            url="https://elsewhere.example/3",
            guid="3",
            summary="Three",
            author="Desk",
        ),
        FeedItem(feed_url=FEED_URL, url="https://e.com/6", guid="6", author="Desk"),
        FeedItem(feed_url=FEED_URL, url="https://e.com/7", guid="7", author="Desk"),
    )


@pytest.mark.parametrize("ref", ["&#xD800;", "&#55296;", "&#x110000;", "&#" + "9" * 5000 + ";"])
def test_a_reference_to_no_character_is_a_replacement_character(ref: str) -> None:
    # expat refuses these, and feedparser's loose parser then raised on them: the whole feed
    # was lost to one character
    content = rss(f"<item><title>Talks{ref} today</title><link>https://e.com/a</link></item>")
    feed = parse_feed(content, url=FEED_URL)
    assert [item.title for item in feed.items] == ["Talks\ufffd today"]


def test_lone_surrogates_in_a_json_feed_are_replacement_characters() -> None:
    # json escapes UTF-16: "\\ud800" decodes to a string UTF-8 cannot encode, which used to
    # end the pass at the warehouse's write
    content = (
        b'{"version": "https://jsonfeed.org/version/1.1", "title": "Wire\\ud800",'
        b' "items": [{"id": "1", "url": "https://e.com/a", "title": "Talks\\udfff today",'
        b' "authors": [{"name": "\\ud800A. Writer"}], "content_text": "ok \\ud83d\\ude00"}]}'
    )
    feed = parse_feed(content, url=FEED_URL, content_type="application/feed+json")
    (item,) = feed.items
    assert (feed.title, item.title) == ("Wire\ufffd", "Talks\ufffd today")
    assert item.author == "\ufffdA. Writer"
    assert item.summary == "ok \U0001f600"  # a pair is one character, and kept


def test_json_feed_1_legacy_author_and_sniffing() -> None:
    doc = {
        "version": "https://jsonfeed.org/version/1",
        "title": "Old",
        "author": {"name": "Solo"},
        "items": [{"id": 7, "url": "https://e.com/7", "date_published": "2017-06-02T22:05:47"}],
    }
    content = b"\xef\xbb\xbf\n  " + json.dumps(doc).encode()  # bom, whitespace, no content type
    feed = parse_feed(content, url=FEED_URL)
    assert feed.version == "json1"
    assert feed.items[0] == FeedItem(
        feed_url=FEED_URL,
        url="https://e.com/7",
        guid="7",
        author="Solo",
        published_at=datetime(2017, 6, 2, 22, 5, 47, tzinfo=UTC),  # no offset: read as utc
    )


def test_json_feed_without_version_is_kept_with_a_problem() -> None:
    content = json.dumps({"items": [{"url": "https://e.com/1"}]}).encode()
    feed = parse_feed(content, url=FEED_URL, content_type="application/json")
    assert feed.version == "json1" and len(feed.items) == 1
    assert feed.problem == "JSON Feed version missing or unknown: None"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"version": "https://jsonfeed.org/version/1", "items": [', "not a feed: invalid JSON"),
        (b'{"rss": {"channel": {}}}', 'not a feed: JSON without a JSON Feed "items" list'),
        (b"[" * 100_000 + b"]" * 100_000, "not a feed: invalid JSON"),
    ],
    ids=["truncated", "not-json-feed", "deeply-nested"],
)
def test_bad_json_is_a_feed_error(content: bytes, message: str) -> None:
    with pytest.raises(FeedError, match=re.escape(message)) as info:
        parse_feed(content, url=FEED_URL, content_type="application/json")
    assert info.value.url == FEED_URL


HTML_PAGE = b"""<!DOCTYPE html>
<html lang="en"><head><title>News</title>
<link rel="alternate" type="application/rss+xml" href="/feed.xml"></head>
<body><p>Welcome<br><img src=x></p></body></html>"""


@pytest.mark.parametrize("content_type", [None, "text/html; charset=utf-8", "application/rss+xml"])
def test_html_page_is_a_feed_error(content_type: str | None) -> None:
    with pytest.raises(FeedError, match="^not a feed: looks like an HTML page$"):
        parse_feed(HTML_PAGE, url=FEED_URL, content_type=content_type)


@pytest.mark.parametrize("content", [b"", b"   \n\t ", b"\xef\xbb\xbf\n"])
def test_empty_body_is_a_feed_error(content: bytes) -> None:
    with pytest.raises(FeedError, match="^not a feed: empty response$"):
        parse_feed(content, url=FEED_URL, content_type="application/rss+xml")


def test_xml_that_is_not_a_feed_is_a_feed_error() -> None:
    with pytest.raises(FeedError, match="^not a feed: no RSS, Atom or RDF root element$"):
        parse_feed(b'<?xml version="1.0"?><config><a>1</a></config>', url=FEED_URL)


def test_feed_cut_in_half_keeps_the_entries_it_could_read() -> None:
    content = (DATA / "rubenerd.rss").read_bytes()
    feed = parse_feed(content[: len(content) // 2], url=FEED_URL)
    assert 1 <= len(feed.items) < 10
    assert feed.items[0].url == "https://rubenerd.com/the-commodore-atari-engineer-swap/"
    assert feed.problem is not None and feed.problem.startswith("malformed XML: ")
    assert re.search(r"\(line \d+\)$", feed.problem)


def test_feed_cut_before_its_first_entry_is_a_feed_error() -> None:
    content = (DATA / "rubenerd.rss").read_bytes()
    with pytest.raises(
        FeedError, match=r"^no entries could be read: malformed XML: .*\(line \d+\)$"
    ):
        parse_feed(content[: content.index(b"<item>")], url=FEED_URL)


def test_malformed_feed_problem_names_the_error_and_its_line() -> None:
    content = b"""<?xml version="1.0"?>
<rss version="2.0"><channel><title>T</title>
<item><title>One</title><link>https://e.com/1</link></item>
<item><title>Two</titel><link>https://e.com/2</link></item>
</channel></rss>"""
    feed = parse_feed(content, url=FEED_URL)
    assert feed.problem == "malformed XML: mismatched tag (line 4)"
    assert [item.title for item in feed.items][:1] == ["One"]


def test_well_formed_feed_without_entries_is_empty() -> None:
    feed = parse_feed(rss(""), url=FEED_URL)
    assert (feed.version, feed.title, feed.items, feed.problem) == ("rss20", "T", (), None)


def test_relative_links_resolve_against_the_feed_url() -> None:
    content = b"""<?xml version="1.0"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>A</title><link href="/"/>
<entry><title>rel</title><link href="2024/one.html"/><id>urn:1</id>
  <updated>2024-01-01T00:00:00Z</updated></entry>
<entry xml:base="https://cdn.example.net/x/"><title>base</title><link href="two"/><id>urn:2</id>
  <updated>2024-01-01T00:00:00Z</updated></entry>
</feed>"""
    feed = parse_feed(content, url=FEED_URL, content_type="application/atom+xml")
    assert feed.link == "https://example.com/"
    assert [i.url for i in feed.items] == [
        "https://example.com/news/2024/one.html",
        "https://cdn.example.net/x/two",
    ]
    rss_feed = parse_feed(rss("<item><link>/a/b?c=1</link></item>"), url=FEED_URL)
    assert rss_feed.items[0].url == "https://example.com/a/b?c=1"


def test_control_characters_in_links_are_read_as_a_browser_reads_them() -> None:
    # a raw NUL in a stored URL ended the warehouse's SQL at it, and every pass with it
    links = {
        "http://a&#0;b.example/x": None,  # in the host: no link
        "http://us&#0;er@e.com/ok": None,  # in the userinfo too
        "https://e.com/a&#0;b?q=&#127;": "https://e.com/a%00b?q=%7F",  # elsewhere: encoded
        "https://e.com/a&#9;b&#10;c ": "https://e.com/abc",  # tab, LF: dropped
    }
    items = "".join(f"<item><title>t</title><link>{link}</link></item>" for link in links)
    feed = parse_feed(rss(items), url=FEED_URL)
    assert [item.url for item in feed.items] == [url for url in links.values() if url]
    as_json = json.dumps({"version": "1", "items": [{"id": "1", "url": "http://e\x00.com/"}]})
    assert parse_feed(as_json.encode(), url=FEED_URL).items == ()


def test_links_guids_and_skipped_entries() -> None:
    content = rss(
        "<item><title>permalink guid</title><guid>https://e.com/p/1</guid></item>"
        '<item><title>opaque guid</title><guid isPermaLink="false">https://e.com/p/2</guid></item>'
        "<item><title>no link</title></item>"
        "<item><title>js</title><link>javascript:alert(1)</link></item>"
        '<item><title>both</title><link>https://e.com/3</link><guid isPermaLink="false">g3</guid>'
        "</item>"
    )
    feed = parse_feed(content, url=FEED_URL)
    assert [(i.title, i.url, i.guid) for i in feed.items] == [
        ("permalink guid", "https://e.com/p/1", "https://e.com/p/1"),
        ("both", "https://e.com/3", "g3"),
    ]


def test_dates_are_aware_utc() -> None:
    content = rss(
        "<item><link>https://e.com/1</link><pubDate>Sat, 28 Jan 2017 19:30:00 +0300</pubDate>"
        "</item><item><link>https://e.com/2</link></item>"
        "<item><link>https://e.com/3</link><pubDate>not a date</pubDate></item>"
    )
    dates = [item.published_at for item in parse_feed(content, url=FEED_URL).items]
    assert dates == [datetime(2017, 1, 28, 16, 30, tzinfo=UTC), None, None]
    assert dates[0] is not None and dates[0].tzinfo is UTC


def test_atom_updated_stands_in_for_published_without_warnings() -> None:
    # feedparser warns (DeprecationWarning) when updated_parsed is read through its fallback;
    # pytest turns warnings into errors here, so this also checks none fire
    content = b"""<feed xmlns="http://www.w3.org/2005/Atom"><title>A</title>
<author><name>Feed Author</name></author>
<entry><title type="html">&lt;b&gt;Bold&lt;/b&gt; &amp;amp; more</title>
<link href="https://e.com/1"/>
<id>urn:1</id><updated>2024-02-29T23:59:60+01:00</updated>
<summary type="html">&lt;p&gt;First&lt;/p&gt;&lt;p&gt;second&amp;nbsp;para&lt;/p&gt;</summary>
</entry>
<entry><link href="https://e.com/2"/><id>urn:2</id><published>2024-03-01T10:00:00Z</published>
<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>Full</p><p>text</p></div></content>
</entry></feed>"""
    first, second = parse_feed(content, url=FEED_URL).items
    assert first.title == "Bold & more"
    assert first.summary == "First second para"  # nbsp is whitespace, collapsed
    assert first.author == "Feed Author"  # inherited from the feed (rfc 4287)
    assert first.published_at == datetime(2024, 2, 29, 23, 0, tzinfo=UTC)  # leap second absorbed
    assert second.published_at == datetime(2024, 3, 1, 10, 0, tzinfo=UTC)
    assert second.summary == "Full text"


def test_summary_is_plain_text() -> None:
    content = rss(
        "<item><link>https://e.com/1</link><author>ed@e.com (Ed Itor)</author>"
        "<description><![CDATA[<p>Moscow &amp; Washington</p>\n\n<ul><li>one</li><li>two</li>"
        "</ul><script>var x = 1;</script><style>p{}</style>&quot;quoted&quot;&#8212;end]]>"
        "</description></item>",
        channel="<ttl>soon</ttl>",
    )
    feed = parse_feed(content, url=FEED_URL)
    assert feed.items[0].summary == 'Moscow & Washington one two "quoted"—end'
    assert feed.items[0].author == "Ed Itor"
    assert feed.ttl_minutes is None


@pytest.mark.parametrize(
    ("ttl", "minutes"),
    [("60", 60), (" 15 ", 15), ("9" * 400, 366 * 24 * 60), ("\u00b2", None), ("-5", None)],
)
def test_a_ttl_is_minutes_up_to_a_year(ttl: str, minutes: int | None) -> None:
    # 400 nines overflowed the schedule, and the pass died before recording the feed
    feed = parse_feed(
        rss("<item><link>https://e.com/1</link></item>", channel=f"<ttl>{ttl}</ttl>"), url=FEED_URL
    )
    assert feed.ttl_minutes == minutes


def test_unexpected_errors_become_feed_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("feedparser.parse", explode)
    with pytest.raises(FeedError, match="could not parse feed: RuntimeError: boom") as info:
        parse_feed(rss(""), url=FEED_URL)
    assert isinstance(info.value.__cause__, RuntimeError)


@settings(max_examples=200, deadline=None)
@given(
    prefix=st.sampled_from([b"", b"<?xml version='1.0'?>", b"<rss version='2.0'><channel>", b"{"]),
    body=st.binary(max_size=300),
)
def test_arbitrary_bytes_give_a_feed_or_a_feed_error(prefix: bytes, body: bytes) -> None:
    try:
        feed = parse_feed(prefix + body, url=FEED_URL)
    except FeedError:
        return
    assert all(item.url.startswith(("http://", "https://")) for item in feed.items)


# hostile documents: entity expansion, external entities, dtd fetching, local files


def billion_laughs(levels: int = 10, *, one_line: bool) -> bytes:
    decls = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, levels)
    ]
    sep = "" if one_line else "\n"
    ref = f"&lol{levels - 1};"
    prolog = f'<?xml version="1.0"?>{sep}<!DOCTYPE rss [{sep}{sep.join(decls)}{sep}]>\n'
    return rss(
        f"<item><title>{ref}</title><link>https://e.com/1</link><description>{ref}</description>"
        "</item>",
        channel=f"<description>{ref}</description>",
        prolog=prolog,
    )


def parse_bounded(content: bytes) -> ParsedFeed | FeedError:
    """Parse, failing if more than 20 MB were allocated on the way."""
    tracemalloc.start()
    try:
        return parse_feed(content, url=FEED_URL)
    except FeedError as exc:
        return exc
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert peak < 20_000_000, f"parsing allocated {peak:,} bytes"


@pytest.mark.parametrize("one_line", [True, False], ids=["one-line-dtd", "dtd-on-lines"])
def test_billion_laughs_is_never_expanded(one_line: bool) -> None:
    outcome = parse_bounded(billion_laughs(one_line=one_line))
    if one_line:
        # feedparser's regexes miss this layout and expat would expand it (to its limit)
        assert isinstance(outcome, FeedError)
        assert str(outcome) == "refused: the DOCTYPE declares expanding entity 'lol1'"
    else:
        # feedparser strips line-start declarations itself: the references stay unexpanded
        assert isinstance(outcome, ParsedFeed)
        assert "lollol" not in fields(outcome)
        assert outcome.items[0].title == "&lol9;"


def test_quadratic_blowup_is_refused() -> None:
    # one long "safe" entity referenced often: feedparser's loose parser expands it freely
    prolog = f'<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY a "{"x" * 50_000}">\n]>\n'
    content = rss(
        f"<item><link>https://e.com/1</link><title>{'&a;' * 5_000}</title></item>", "", prolog
    )
    outcome = parse_bounded(content)
    assert isinstance(outcome, FeedError)
    assert str(outcome) == "refused: entity 'a' is 50000 characters long"


def test_entity_hidden_from_expat_in_a_comment_is_refused() -> None:
    # feedparser's regex lifts a declaration out of a comment into a fresh doctype
    prolog = f'<?xml version="1.0"?>\n<!DOCTYPE rss [\n]>\n<!--\n<!ENTITY a "{"x" * 5_000}">\n-->\n'
    outcome = parse_bounded(
        rss("<item><link>https://e.com/1</link><title>&a;</title></item>", "", prolog)
    )
    assert isinstance(outcome, FeedError) and str(outcome).startswith("refused: entity 'a'")


def test_short_literal_entities_still_work() -> None:
    prolog = '<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY nbsp "&#160;"><!ENTITY co "ACME">]>'
    content = rss(
        "<item><title>a&nbsp;b &co;</title><link>https://e.com/1</link></item>", "", prolog
    )
    feed = parse_feed(content, url=FEED_URL)
    assert feed.items[0].title == "a b ACME" and feed.problem is None


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text("TOP-SECRET-MARKER")
    return path


def test_external_entity_is_refused(secret_file: Path) -> None:
    prolog = f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x SYSTEM "{secret_file.as_uri()}">]>'
    outcome = parse_bounded(
        rss("<item><title>&x;</title><link>https://e.com/1</link></item>", "", prolog)
    )
    assert isinstance(outcome, FeedError)
    assert str(outcome) == "refused: the DOCTYPE declares external entity 'x'"


def test_external_entity_on_its_own_line_is_never_read(secret_file: Path) -> None:
    prolog = (
        f'<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY x SYSTEM "{secret_file.as_uri()}">\n]>\n'
    )
    outcome = parse_bounded(
        rss("<item><title>&x;</title><link>https://e.com/1</link></item>", "", prolog)
    )
    assert isinstance(outcome, ParsedFeed)
    assert "TOP-SECRET-MARKER" not in fields(outcome)


def test_bytes_that_name_a_local_file_are_not_opened(secret_file: Path) -> None:
    # feedparser.parse(bytes) opens the bytes as a path when it can
    secret_file.write_bytes(
        rss("<item><title>TOP-SECRET-MARKER</title><link>https://e.com/1</link></item>")
    )
    with pytest.raises(FeedError, match="^not a feed: "):
        parse_feed(str(secret_file).encode(), url=FEED_URL)


@pytest.fixture
def dtd_server() -> Iterator[tuple[str, list[str]]]:
    """A loopback server that serves a dtd and records every request made to it."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            body = b'<!ENTITY remote "FETCHED-FROM-NETWORK">'
            self.send_response(200)
            self.send_header("Content-Type", "application/xml-dtd")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_external_dtds_are_never_fetched(dtd_server: tuple[str, list[str]]) -> None:
    base, hits = dtd_server
    item = "<item><title>&remote;</title><link>https://e.com/1</link></item>"
    documents = [
        rss(item, "", f'<?xml version="1.0"?>\n<!DOCTYPE rss SYSTEM "{base}/rss.dtd">\n'),
        rss(item, "", f'<!DOCTYPE rss PUBLIC "-//Netscape//DTD RSS 0.91//EN" "{base}/091.dtd">'),
        rss(item, "", f'<!DOCTYPE rss [<!ENTITY % ext SYSTEM "{base}/pe.dtd"> %ext;]>'),
        rss(item, "", f'<!DOCTYPE rss [\n<!ENTITY % ext SYSTEM "{base}/pe2.dtd">\n%ext;\n]>'),
        rss(item, "", f'<!DOCTYPE rss [<!ENTITY remote SYSTEM "{base}/ge.xml">]>'),
    ]
    for content in documents:
        outcome = parse_bounded(content)
        if isinstance(outcome, ParsedFeed):
            assert "FETCHED-FROM-NETWORK" not in fields(outcome)
    assert hits == []
