"""Article extraction: a fetched HTML page to text and metadata, with trafilatura.

trafilatura reports failure as ``None`` plus a log line; here that becomes an explicit
``ExtractionError`` with a reason, so the pipeline can record why it kept the feed's summary.
The page is parsed once; its metadata is what it declares (``extractors.page_meta``), read
before trafilatura extracts the text from its own copy of the tree.
This module is what runs inside the extraction worker processes (``extractors.workers``).
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit

import trafilatura
from trafilatura.utils import load_html

from extractors.errors import ExtractionError
from extractors.page_meta import page_metadata
from extractors.text import clean_whitespace
from extractors.types import ExtractedPage
from extractors.urls import host_of, resolve_canonical

LOGGER = logging.getLogger(__name__)

_HTML_LANG = re.compile(rb"<html[^>]*\blang\s*=\s*[\"']?([a-zA-Z]{2,3})(?![a-zA-Z])", re.IGNORECASE)
MIN_TEXT_CHARS = 80


def extract_page(html: bytes | str, url: str, *, fallback: bool = False) -> ExtractedPage:
    """Extract the article in ``html`` (fetched from ``url``); raise ``ExtractionError`` if none.

    ``fallback``: also run trafilatura's fallback extractors (readability, jusText) and keep
    the better text, trafilatura's default. Off by default: on the 91 annotated aeb-dev pages
    it costs about 40% more time (16.7 vs 12.1 ms a page) for a lower mean token F1
    (0.9650 vs 0.9711; docs/benchmarks.md, issue 8)."""
    if not html or not (html.strip() if isinstance(html, str) else html.strip()):
        raise ExtractionError("empty page", url=url)
    tree = load_html(html)
    if tree is None:
        raise ExtractionError("the page is not readable HTML", url=url)
    try:
        meta = page_metadata(tree)
        # trafilatura works on its own copy of the tree; its metadata pass is left off
        doc = trafilatura.bare_extraction(
            tree,
            url=url,
            with_metadata=False,
            include_comments=False,
            include_tables=True,
            fast=not fallback,
        )
    except (ValueError, TypeError, AttributeError, RecursionError, LookupError) as exc:
        raise ExtractionError(f"extraction failed: {type(exc).__name__}: {exc}", url=url) from exc
    if doc is None or isinstance(doc, dict):
        raise ExtractionError("no article text found in the page", url=url)
    text = clean_whitespace(doc.text or "")
    if len(text) < MIN_TEXT_CHARS:
        raise ExtractionError(f"page yielded too little text ({len(text)} characters)", url=url)
    return ExtractedPage(
        text=text,
        title=meta.title,
        author=meta.author,
        published_at=meta.published_at,
        site_name=meta.site_name,
        language=meta.language or _html_lang(html),
        canonical_url=_same_site_canonical(url, meta.canonical_url),
    )


def _html_lang(html: bytes | str) -> str | None:
    head = html[:4096] if isinstance(html, bytes) else html[:4096].encode("utf-8", "replace")
    match = _HTML_LANG.search(head)
    return match.group(1).decode("ascii").lower() if match else None


def _same_site_canonical(url: str, declared: str | None) -> str:
    """Honour ``rel=canonical`` only within the page's own site.

    A syndicated reprint often declares the wire original as canonical; taking that would fold
    the reprinting outlet into the original and lose who reprinted it. Copy detection relates
    such pages instead. The site is the host (``www.`` or not) and the port: another port is
    another server, which could otherwise claim a page of this one. A canonical with
    credentials in it, or pointing at the site's front page (``/``, ``/index.html``,
    ``/?lang=en``) from an article, is a template error.
    """
    own = resolve_canonical(url, None)
    resolved = resolve_canonical(url, declared)
    theirs, ours = urlsplit(resolved), urlsplit(own)
    if (host_of(resolved), theirs.port) != (host_of(own), ours.port):
        return own
    if theirs.username is not None or (_front_page(theirs.path) and not _front_page(ours.path)):
        return own
    return resolved


_FRONT_PAGE = re.compile(r"/?((index|default|home)(\.[a-z0-9]+)?/?)?", re.IGNORECASE)


def _front_page(path: str) -> bool:
    return _FRONT_PAGE.fullmatch(path) is not None
