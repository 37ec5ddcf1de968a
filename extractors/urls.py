"""URL canonicalisation: one article reached by two URLs must be stored once.

``canonicalize_url`` lower-cases scheme and host, drops default ports, fragments, tracking
parameters (utm_*, fbclid, gclid, ...) and empty queries, sorts the remaining query parameters
and normalises percent-encoding and dot segments. It never guesses beyond that (no ``www.``
folding, no trailing-slash games): two URLs that differ in such ways may be different pages.
The page's own ``<link rel=canonical>`` is applied later by ``resolve_canonical``.
"""

from __future__ import annotations

import posixpath
from urllib.parse import (
    parse_qsl,
    quote,
    unquote_to_bytes,
    urlencode,
    urljoin,
    urlsplit,
    urlunsplit,
)

TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "mc_cid",
        "mc_eid",
        "igshid",
        "yclid",
        "_ga",
        "_gl",
        "ocid",
        "cmpid",
        "ncid",
        "sr_share",
        "spm",
        "rss",
        "ref_src",
        "ref_url",
        "smid",
        "smtyp",
        "taid",
        "CMP",
        "ito",
        "__twitter_impression",
    }
)
TRACKING_PREFIXES = ("utm_", "mtm_", "pk_", "hsa_", "at_", "oly_", "vero_")
DEFAULT_PORTS = {"http": 80, "https": 443}

# characters left unescaped in paths and queries (RFC 3986 unreserved + sub-delims + ':' '@' '/')
_PATH_SAFE = "/:@!$&'()*+,;=-._~"
_QUERY_SAFE = ":@!$'()*+,;/?-._~"
_ASCII_PRINTABLE = "".join(map(chr, range(0x21, 0x7F)))


def is_tracking_param(name: str) -> bool:
    lowered = name.lower()
    return (
        name in TRACKING_PARAMS
        or lowered in TRACKING_PARAMS
        or lowered.startswith(TRACKING_PREFIXES)
    )


def _normalise_path(path: str) -> str:
    if not path:
        return "/"
    # re-quote with one canonical escaping: decode what is safe to decode, upper-case the rest.
    # As bytes: an escape that is no UTF-8 (%E9, Latin-1's é) stays itself; decoded as text
    # it became U+FFFD, and /caf%E9 and /caf%E8 one URL, one article
    path = quote(unquote_to_bytes(path), safe=_PATH_SAFE)
    trailing = path.endswith("/")
    normalised = posixpath.normpath(path)
    if normalised.startswith("//"):
        normalised = "/" + normalised.lstrip("/")
    if trailing and not normalised.endswith("/"):
        normalised += "/"
    return normalised


def canonicalize_url(url: str) -> str:
    """The canonical form of an http(s) URL; other strings come back stripped but unchanged."""
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        return url
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        return url
    try:
        port = parts.port
    except ValueError:
        port = None
    if ":" in host:  # ipv6 literal
        host = f"[{host}]"
    netloc = host if port in (None, DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    if parts.username:
        userinfo = parts.username + (f":{parts.password}" if parts.password else "")
        netloc = f"{userinfo}@{netloc}"
    # the query's bytes, each one character (Latin-1), for the same reason as the path's;
    # raw non-ASCII is escaped as UTF-8 first, as a browser sends it
    ascii_query = quote(parts.query, safe=_ASCII_PRINTABLE)
    query_pairs = [
        (k, v)
        for k, v in parse_qsl(ascii_query, keep_blank_values=True, encoding="latin-1")
        if not is_tracking_param(k)
    ]
    query_pairs.sort()
    query = urlencode(query_pairs, quote_via=quote, safe=_QUERY_SAFE, encoding="latin-1")
    return urlunsplit((scheme, netloc, _normalise_path(parts.path), query, ""))


def resolve_canonical(page_url: str, declared: str | None) -> str:
    """The page's declared ``rel=canonical`` when it is a usable http(s) URL, else ``page_url``.

    A relative declaration resolves against the page; one on another scheme is ignored.
    """
    base = canonicalize_url(page_url)
    if not declared:
        return base
    try:
        candidate = canonicalize_url(urljoin(page_url, declared.strip()))
        parts = urlsplit(candidate)
    except ValueError:  # "http://[::1/x", a broken ipv6 literal: no URL at all
        return base
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return base
    return candidate


def host_of(url: str) -> str:
    """The lower-cased host of a URL without a leading ``www.`` (used as a source fallback)."""
    host = (urlsplit(url).hostname or "").lower()
    return host[4:] if host.startswith("www.") else host
