"""A page's metadata from its declared tags: title, site, author, date, canonical link, language.

trafilatura's own metadata pass (``with_metadata=True``) reads the same tags and then searches
the page much harder (htmldate's extensive search, author heuristics, categories and tags); on
the aeb-dev pages it costs about a quarter of the extraction time. newsmon needs the page's
metadata only where the feed item lacks it (the feed's title, date and author come first), so
the pipeline reads what the page declares, in the order publishers declare it: Open Graph and
article tags, ``<meta name=...>``, JSON-LD (schema.org ``NewsArticle``), then ``<title>``,
``<time datetime>`` and ``<html lang>``. Only a page that declares no date at all gets
htmldate's quick (not extensive) search. ``bench/extraction.py`` shows the gain and
``tests/extractors/test_page_meta.py`` the agreement with trafilatura's metadata.

Pure code on an lxml tree; it never changes the tree.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lxml.html import HtmlElement

from extractors.dates import parse_iso
from extractors.text import clean_whitespace, loads_json

EARLIEST_YEAR = 1990
MAX_JSON_LD = 64 * 1024  # a JSON-LD block bigger than this is not article metadata

_TITLE = (
    "og:title",
    "twitter:title",
    "dc.title",
    "headline",
    "title",
)
_SITE = ("og:site_name", "application-name", "twitter:site", "dc.publisher", "publisher")
_AUTHOR = (
    "author",
    "article:author",
    "dc.creator",
    "byl",
    "sailthru.author",
    "parsely-author",
)
_DATE = (
    "article:published_time",
    "datepublished",
    "og:published_time",
    "pubdate",
    "publishdate",
    "date",
    "dc.date",
    "dc.date.issued",
    "sailthru.date",
    "parsely-pub-date",
    "article.published",
    "published_time",
    "timestamp",
)


@dataclass(frozen=True)
class PageMeta:
    title: str | None = None
    site_name: str | None = None
    author: str | None = None
    published_at: datetime | None = None
    canonical_url: str | None = None
    language: str | None = None


def _meta_tags(tree: HtmlElement) -> dict[str, str]:
    """``<meta>`` contents by lower-cased ``property``, ``name`` or ``itemprop``; first wins."""
    found: dict[str, str] = {}
    for meta in tree.iter("meta"):
        content = meta.get("content")
        if not content or not content.strip():
            continue
        for attribute in ("property", "name", "itemprop"):
            key = (meta.get(attribute) or "").strip().lower()
            if key and key not in found:
                found[key] = content.strip()
    return found


def _json_ld(tree: HtmlElement) -> Iterator[dict[str, Any]]:
    """The JSON-LD objects of the page, ``@graph`` members included; unreadable blocks skipped."""
    for script in tree.iter("script"):
        if (script.get("type") or "").strip().lower() != "application/ld+json":
            continue
        raw = script.text or ""
        if len(raw) > MAX_JSON_LD:
            continue
        try:
            data = loads_json(raw)
        except ValueError:
            continue
        stack = data if isinstance(data, list) else [data]
        while stack:
            item = stack.pop(0)
            if isinstance(item, dict):
                yield item
                graph = item.get("@graph")
                if isinstance(graph, list):
                    stack.extend(graph)


def _ld_name(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        name = value.get("name")
        return name if isinstance(name, str) else None
    if isinstance(value, list):
        names = [n for n in (_ld_name(v) for v in value) if n]
        return ", ".join(names) if names else None
    return None


def _first(*values: str | None) -> str | None:
    for value in values:
        if value:
            cleaned = clean_whitespace(value)
            if cleaned:
                return cleaned
    return None


def parse_date(value: str | None) -> datetime | None:
    """An ISO 8601 date or timestamp as UTC (a bare date is UTC midnight); ``None`` for one
    before ``EARLIEST_YEAR``, a template's placeholder (0001-01-01) rather than a date."""
    parsed = parse_iso(value)
    return parsed if parsed is not None and parsed.year >= EARLIEST_YEAR else None


def _head_title(tree: HtmlElement) -> str | None:
    title = tree.find(".//title")
    return title.text_content() if title is not None else None


def _h1(tree: HtmlElement) -> str | None:
    heading = tree.find(".//h1")
    return heading.text_content() if heading is not None else None


def _canonical(tree: HtmlElement) -> str | None:
    for link in tree.iter("link"):
        if "canonical" in (link.get("rel") or "").lower().split() and link.get("href"):
            return str(link.get("href")).strip()
    return None


def _time_element(tree: HtmlElement) -> str | None:
    for element in tree.iter("time"):
        stamp = element.get("datetime")
        if stamp and parse_date(stamp):
            return stamp
    return None


def _quick_date(tree: HtmlElement) -> datetime | None:
    """htmldate's quick search (URL, headers, visible dates); ``None`` when it finds nothing."""
    from htmldate import find_date

    try:
        found = find_date(tree, extensive_search=False, original_date=True, outputformat="%Y-%m-%d")
    except (ValueError, TypeError, AttributeError, RecursionError):
        return None
    return parse_date(found)


def _without_site(title: str | None, site: str | None) -> str | None:
    """ "Headline | Outlet" -> "Headline", when the site is known."""
    if title and site:
        for separator in (" | ", " - ", " – ", " — ", " :: "):
            if title.endswith(separator + site):
                return title[: -len(separator + site)].strip() or title
    return title


def page_metadata(tree: HtmlElement) -> PageMeta:
    """What the page declares about itself, read from ``tree`` (which is left unchanged)."""
    tags = _meta_tags(tree)
    articles = [d for d in _json_ld(tree) if "headline" in d or "datePublished" in d]
    ld = articles[0] if articles else {}
    published = next(
        (d for d in (parse_date(tags.get(k)) for k in _DATE) if d is not None), None
    ) or parse_date(ld.get("datePublished") if isinstance(ld.get("datePublished"), str) else None)
    if published is None:
        published = parse_date(_time_element(tree))
    if published is None:
        published = _quick_date(tree)
    site = _first(*(tags.get(k) for k in _SITE), _ld_name(ld.get("publisher")))
    if site and site.startswith("@"):
        site = site[1:] or None
    html_lang = tree.getroottree().getroot().get("lang") or tags.get("og:locale") or ""
    return PageMeta(
        title=_first(*(tags.get(k) for k in _TITLE), _ld_name(ld.get("headline")))
        or _without_site(_first(_head_title(tree), _h1(tree)), site),
        site_name=site,
        author=_first(*(tags.get(k) for k in _AUTHOR), _ld_name(ld.get("author"))),
        published_at=published,
        canonical_url=_canonical(tree) or tags.get("og:url"),
        language=_language(html_lang),
    )


_LANGUAGE = re.compile("[a-z]{2,3}")


def _language(declared: str) -> str | None:
    """The primary subtag of a declared language ("en-GB", "pt_BR"), when it is one (two or
    three letters): whatever else a page writes there is not stored as its language."""
    primary = declared.replace("_", "-").split("-")[0].strip().lower()
    return primary if _LANGUAGE.fullmatch(primary) else None
