"""Feed documents to ``ParsedFeed`` records.

RSS 0.9x/1.0/2.0 and Atom are read by feedparser; JSON Feed (https://jsonfeed.org/version/1.1)
is read here, as feedparser 6.0 does not know it. Every entry with an http(s) link becomes a
``FeedItem`` with plain-text title and summary and an aware UTC ``published_at``.
"""

from __future__ import annotations

import calendar
import contextlib
import io
import logging
import pyexpat
import re
import time
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit
from xml.sax import SAXParseException

import feedparser  # type: ignore[import-untyped]

# the two steps feedparser.parse runs before its parsers (feedparser 6.0.x internals), reused
# to vet exactly what they will see; if an upgrade moves them this fails at import, not silently
from feedparser.encodings import convert_to_utf8  # type: ignore[import-untyped]
from feedparser.sanitizer import replace_doctype  # type: ignore[import-untyped]

from extractors.dates import as_utc, parse_http_date, parse_iso
from extractors.errors import FeedError
from extractors.text import loads_json
from extractors.types import FeedItem, ParsedFeed

LOGGER = logging.getLogger(__name__)

# internal entities feedparser keeps are literal text; real feeds use them for single
# characters (&nbsp;) or short strings, so a longer value can only serve to amplify
_MAX_ENTITY_CHARS = 32
_JSON_TYPES = ("application/feed+json", "application/json")
_JSONFEED_VERSION = re.compile(r"^https?://jsonfeed\.org/version/(\d+)(?:\.(\d+))?/?$")
# byte-order marks, nuls (utf-16/32) and whitespace, skipped when sniffing a document's start
_LEADING = b"\xef\xbb\xbf\xfe\xff\x00 \t\r\n"
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_SKIP_TAGS = frozenset({"script", "style", "template", "noscript"})
_BLOCK_TAGS = frozenset({"address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt",
    "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li",
    "main", "nav", "ol", "p", "pre", "section", "table", "td", "th", "tr", "ul"})  # fmt: skip


def parse_feed(content: bytes, *, url: str, content_type: str | None = None) -> ParsedFeed:
    """Parse a fetched feed document; ``url`` is where it came from (the base for relative links).

    Raises ``FeedError`` when the bytes are not a usable feed, never anything else.
    """
    try:
        if not content.lstrip(_LEADING).rstrip():
            raise FeedError("not a feed: empty response", url=url)
        if _looks_like_json(content, content_type):
            return _parse_json_feed(content, url)
        return _parse_xml_feed(content, url, content_type)
    except FeedError:
        raise
    except Exception as exc:  # a parser bug must become a recorded outcome, not a failed run
        LOGGER.warning("unexpected error parsing feed %s", url, exc_info=True)
        raise FeedError(f"could not parse feed: {type(exc).__name__}: {exc}", url=url) from exc


def _looks_like_json(content: bytes, content_type: str | None) -> bool:
    head = content[:64].lstrip(_LEADING)
    mime = (content_type or "").split(";")[0].strip().lower()
    # servers label xml feeds as json and the reverse, so the first byte has the last word
    return head.startswith(b"{") or (
        (mime in _JSON_TYPES or mime.endswith("+json")) and not head.startswith(b"<")
    )


def _parse_xml_feed(content: bytes, url: str, content_type: str | None) -> ParsedFeed:
    # without a content type feedparser falls back to iso-8859-1 and garbles undeclared
    # utf-8; application/xml makes it follow the xml declaration, then utf-8 (rfc 3023)
    headers = {"content-type": content_type or "application/xml", "content-location": url}
    _refuse_dangerous_entities(content, headers, url)
    content = _without_impossible_charrefs(content)
    # a BytesIO, never the bytes: feedparser treats bytes it can open() as a file path
    result = feedparser.parse(io.BytesIO(content), response_headers=headers)
    version: str = result.get("version") or ""
    exc = result.get("bozo_exception") if result.get("bozo") else None
    problem = _describe_problem(exc, content, content_type)
    entries = result.get("entries") or []
    if not entries:
        if not version:
            raise FeedError(_not_a_feed(content, content_type, problem), url=url)
        if isinstance(exc, SAXParseException):
            raise FeedError(f"no entries could be read: {problem}", url=url)
    feed = result.get("feed") or {}
    # dict.get, not FeedParserDict.get: its updated_parsed -> published_parsed fallback
    # emits a DeprecationWarning (feedparser issue 310); catch_warnings is process-global
    items = tuple(item for entry in entries if (item := _xml_item(entry, feed, url, version)))
    ttl = dict.get(feed, "ttl")
    parsed = ParsedFeed(
        url=url,
        version=version or "unknown",
        title=_detail_text(feed, "title"),
        link=_http_url(dict.get(feed, "link"), url),
        items=items,
        problem=problem,
        ttl_minutes=_ttl_minutes(ttl),
    )
    if problem:
        LOGGER.info("feed %s: %s (%d items kept)", url, problem, len(items))
    return parsed


# a numeric character reference, with or without its ";" (feedparser's loose parser takes both)
_CHARREF = re.compile(rb"&#(?:[xX]0*([0-9a-fA-F]+)|0*([0-9]+));?")


def _without_impossible_charrefs(content: bytes) -> bytes:
    """Each reference to no character (a surrogate, past U+10FFFF) as U+FFFD's.

    expat refuses such a reference, and feedparser's loose parser, which then takes the
    document, ends in an exception on it (``chr(0xD800).encode()``): one ``&#xD800;`` cost
    the whole feed. Documents in an encoding other than an ASCII superset (UTF-16) are left
    as they are.
    """
    if b"&#" not in content:
        return content

    def fixed(match: re.Match[bytes]) -> bytes:
        hexadecimal, decimal = match[1], match[2]
        digits = hexadecimal if hexadecimal is not None else decimal
        if len(digits) > 8:  # past U+10FFFF either way (and int() of 5,000 digits refuses)
            return b"&#xFFFD;"
        code = int(digits, 16 if hexadecimal is not None else 10)
        return b"&#xFFFD;" if 0xD800 <= code <= 0xDFFF or code > 0x10FFFF else match[0]

    return _CHARREF.sub(fixed, content)


MAX_TTL_MINUTES = 366 * 24 * 60  # a longer <ttl> is a year: the schedule caps it far lower


def _ttl_minutes(value: object) -> int | None:
    """An RSS ``<ttl>`` (minutes), at most a year: 400 nines overflowed the schedule's
    float, ending the pass before the feed was recorded, so every pass after it too."""
    if not isinstance(value, str):
        return None
    digits = value.strip()
    if not (digits.isascii() and digits.isdigit()):
        return None
    return MAX_TTL_MINUTES if len(digits) > 6 else min(int(digits), MAX_TTL_MINUTES)


def _refuse_dangerous_entities(content: bytes, headers: dict[str, str], url: str) -> None:
    """Refuse entity declarations that could expand or reach outside the document.

    feedparser strips ``<!ENTITY`` lines with regexes (its replace_doctype) and keeps the
    "safe" literal ones, but declarations on one line with the doctype pass straight to
    expat, whose own limit (expat >= 2.4) stops a billion-laughs document only after ~50 MB
    and 2 s; its loose parser expands a kept entity without limit (100 kB of xml -> 200 MB
    of summary); and its regexes even lift a declaration out of a comment. So we rebuild
    the exact bytes its parsers will see (same functions, same headers) and vet their
    prolog with expat: only short literal internal entities pass. defusedxml is not used
    because it forbids even ``<!ENTITY nbsp "&#160;">`` and parses the whole document;
    this stops at the root element. External entities are refused here, and no parser
    ever gets a handler that could fetch one or an external dtd.
    """
    data = convert_to_utf8(headers, content, {})
    _, data, loose_entities = replace_doctype(data)
    for name, value in loose_entities.items():
        if len(value) > _MAX_ENTITY_CHARS:
            raise FeedError(f"refused: entity {name!r} is {len(value)} characters long", url=url)

    def on_entity(name: str, is_parameter: bool, value: str | None, *_: object) -> None:
        if is_parameter or value is None:
            kind = "parameter" if is_parameter else "external"
            raise FeedError(f"refused: the DOCTYPE declares {kind} entity {name!r}", url=url)
        if "&" in value or len(value) > _MAX_ENTITY_CHARS:
            raise FeedError(f"refused: the DOCTYPE declares expanding entity {name!r}", url=url)

    def on_root(*_: object) -> None:
        raise _PrologEnd  # nothing after the root element can declare entities

    parser = pyexpat.ParserCreate()
    parser.EntityDeclHandler = on_entity
    parser.StartElementHandler = on_root
    # on an ExpatError feedparser's expat stops at the same place, before any content
    with contextlib.suppress(_PrologEnd, pyexpat.ExpatError):
        parser.Parse(data, True)


class _PrologEnd(Exception):
    """Raised by the vetting parser at the root element."""


def _xml_item(
    entry: dict[str, Any], feed: dict[str, Any], url: str, version: str
) -> FeedItem | None:
    guid = dict.get(entry, "id") or None
    link = _http_url(dict.get(entry, "link"), url)
    if link is None and dict.get(entry, "guidislink"):
        link = _http_url(guid, url)  # an rss guid with isPermaLink="true"
    if link is None:
        return None
    author = _author_name(entry)
    if author is None and version.startswith("atom"):
        author = _author_name(feed)  # atom entries inherit the feed's author (rfc 4287 4.2.1)
    # feedparser copies atom <content> into summary without a summary_detail
    summary = _detail_text(entry, "summary", default_type="text/html")
    if summary is None and (content := dict.get(entry, "content")):
        first = content[0]
        is_html = first.get("type") in _HTML_TYPES
        summary = (_html_text if is_html else _plain_text)(first.get("value"))
    parsed = dict.get(entry, "published_parsed") or dict.get(entry, "updated_parsed")
    return FeedItem(
        feed_url=url,
        url=link,
        guid=guid if isinstance(guid, str) else None,
        title=_detail_text(entry, "title"),
        summary=summary,
        author=author,
        published_at=_from_struct_time(parsed),
    )


def _parse_json_feed(content: bytes, url: str) -> ParsedFeed:
    try:
        doc = loads_json(content)
    except (ValueError, RecursionError) as exc:
        raise FeedError(f"not a feed: invalid JSON ({exc})", url=url) from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("items"), list):
        raise FeedError('not a feed: JSON without a JSON Feed "items" list', url=url)
    problem = None
    match = _JSONFEED_VERSION.match(str(doc.get("version", "")))
    if match is None:
        problem = f"JSON Feed version missing or unknown: {doc.get('version')!r}"
    version = f"json{match.group(1)}{match.group(2) or ''}" if match else "json1"
    feed_author = _json_authors(doc)
    items = []
    for item in doc["items"]:
        if not isinstance(item, dict):
            continue
        guid = item.get("id")
        link = _http_url(item.get("url"), url) or _http_url(item.get("external_url"), url)
        if link is None and isinstance(guid, str) and guid.startswith(("http://", "https://")):
            link = _http_url(guid, url)
        if link is None:
            continue
        summary = _plain_text(item.get("content_text")) or _plain_text(item.get("summary"))
        items.append(
            FeedItem(
                feed_url=url,
                url=link,
                guid=str(guid) if isinstance(guid, str | int) and str(guid) else None,
                title=_plain_text(item.get("title")),
                summary=summary or _html_text(item.get("content_html")),
                author=_json_authors(item) or feed_author,  # items inherit (json feed 1.1)
                published_at=_from_rfc3339(item.get("date_published") or item.get("date_modified")),
            )
        )
    return ParsedFeed(
        url=url,
        version=version,
        title=_plain_text(doc.get("title")),
        link=_http_url(doc.get("home_page_url"), url),
        items=tuple(items),
        problem=problem,
    )


def _json_authors(obj: dict[str, Any]) -> str | None:
    authors = obj.get("authors")  # 1.1; "author" is 1.0's single object
    people = authors if isinstance(authors, list) else [obj.get("author")]
    names = [_plain_text(p.get("name")) for p in people if isinstance(p, dict)]
    return ", ".join(n for n in names if n) or None


def _author_name(obj: dict[str, Any]) -> str | None:
    detail = dict.get(obj, "author_detail") or {}
    return _plain_text(detail.get("name")) or _plain_text(dict.get(obj, "author"))


def _detail_text(obj: dict[str, Any], key: str, default_type: str = "text/plain") -> str | None:
    detail = dict.get(obj, f"{key}_detail") or {}
    if detail.get("type", default_type) in _HTML_TYPES:
        return _html_text(dict.get(obj, key))
    return _plain_text(dict.get(obj, key))


def _describe_problem(exc: object, content: bytes, content_type: str | None) -> str | None:
    if exc is None or isinstance(exc, feedparser.NonXMLContentType):
        return None  # a mislabelled response, not a broken document
    if isinstance(exc, SAXParseException):
        # feedparser prepends a declaration line unless the text starts with one (after a bom)
        head = content[:32].replace(b"\x00", b"").lstrip(b"\xef\xbb\xbf\xfe\xff")
        shift = 0 if head.startswith(b"<?xml") else 1
        line = max((exc.getLineNumber() or 1) - shift, 1)
        return f"malformed XML: {exc.getMessage()} (line {line})"
    if isinstance(exc, feedparser.CharacterEncodingOverride):
        mime = (content_type or "").lower()
        if mime.startswith("text/") and "charset" not in mime:
            return None  # rfc 3023's us-ascii default for text/*, which nobody follows
        return f"wrong encoding: {exc}"
    return str(exc) or type(exc).__name__


def _not_a_feed(content: bytes, content_type: str | None, problem: str | None) -> str:
    head = content[:2048].lower()
    if b"<html" in head or b"<!doctype html" in head or "html" in (content_type or "").lower():
        return "not a feed: looks like an HTML page"
    if b"<opml" in head:
        return "not a feed: an OPML subscription list"
    return f"not a feed: {problem or 'no RSS, Atom or RDF root element'}"


_TAB_OR_NEWLINE = re.compile("[\t\n\r]")
_CONTROL = re.compile("[\x00-\x1f\x7f]")
_C0_OR_SPACE = "".join(map(chr, range(0x21)))


def _http_url(value: object, base: str) -> str | None:
    """An absolute http(s) URL from a feed's link, or ``None``.

    Control characters are treated as a browser's URL parser does (WHATWG): tab, CR and LF
    are dropped anywhere, any other one refuses the link in its host and is percent-encoded
    elsewhere. A raw NUL in a stored URL would end the warehouse's SQL at it.
    """
    if not isinstance(value, str):
        return None
    value = _TAB_OR_NEWLINE.sub("", value).strip(_C0_OR_SPACE).strip()
    if not value:
        return None
    try:
        absolute = urljoin(base, value)
        parts = urlsplit(absolute)
    except ValueError:  # e.g. a broken ipv6 literal
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    if _CONTROL.search(parts.netloc):
        return None
    absolute = _CONTROL.sub(lambda c: f"%{ord(c[0]):02X}", absolute)
    return parts.scheme + absolute[len(parts.scheme) :]  # "HTTP://" happens


def _from_struct_time(value: object) -> datetime | None:
    if not isinstance(value, time.struct_time):
        return None
    try:  # timegm, not datetime(*value[:6]): it absorbs leap seconds (tm_sec 60)
        return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    except (OverflowError, ValueError, OSError):
        return None


def _from_rfc3339(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    if (parsed := parse_iso(value)) is not None:
        return parsed
    # some json feeds carry rss-style dates
    return as_utc(written) if (written := parse_http_date(value)) is not None else None


def _plain_text(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    return " ".join(value.split()) or None


def _html_text(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    extractor = _TextExtractor()
    extractor.feed(value)
    extractor.close()
    return _plain_text("".join(extractor.parts))


class _TextExtractor(HTMLParser):
    """Text of an html fragment: entities decoded, scripts dropped, blocks kept apart."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skipping += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skipping = max(self._skipping - 1, 0)
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)
