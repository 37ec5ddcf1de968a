"""URL canonicalisation: one article reached by two URLs is stored once."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from extractors.urls import canonicalize_url, host_of, resolve_canonical


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTPS://Example.COM/a", "https://example.com/a"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("http://example.com:8080/a", "http://example.com:8080/a"),
        ("https://example.com/a#section-2", "https://example.com/a"),
        ("https://example.com/a?utm_source=rss&utm_medium=feed", "https://example.com/a"),
        ("https://example.com/a?b=2&fbclid=x&a=1", "https://example.com/a?a=1&b=2"),
        ("https://example.com/a/./b/../c", "https://example.com/a/c"),
        ("https://example.com", "https://example.com/"),
        ("https://example.com/caf%c3%a9", "https://example.com/caf%C3%A9"),
        ("https://example.com/a%2Db", "https://example.com/a-b"),
        ("https://example.com./a", "https://example.com/a"),
        ("https://example.com/story/?id=7", "https://example.com/story/?id=7"),
        # an escape that is no UTF-8 (Latin-1 é, è) stays itself: it once became U+FFFD, and
        # two articles one URL
        ("https://example.com/caf%e9", "https://example.com/caf%E9"),
        ("https://example.com/?id=%e8&a=%C3%A9", "https://example.com/?a=%C3%A9&id=%E8"),
        ("https://example.com/caf\u00e9?q=\u00e9", "https://example.com/caf%C3%A9?q=%C3%A9"),
    ],
)
def test_canonical_forms(url: str, expected: str) -> None:
    assert canonicalize_url(url) == expected


def test_non_http_strings_are_left_alone() -> None:
    assert canonicalize_url("  mailto:a@example.com ") == "mailto:a@example.com"
    assert canonicalize_url("not a url") == "not a url"


def test_rel_canonical() -> None:
    page = "https://example.com/news/1?utm_source=x"
    assert resolve_canonical(page, "/news/one") == "https://example.com/news/one"
    assert resolve_canonical(page, None) == "https://example.com/news/1"
    assert resolve_canonical(page, "javascript:alert(1)") == "https://example.com/news/1"


def test_host_of_drops_www() -> None:
    assert host_of("https://WWW.Example.com/a") == "example.com"


segment = st.text(
    alphabet=st.characters(
        codec="utf-8", exclude_characters="/?#", exclude_categories=("Cc", "Cs", "Zs", "Zl", "Zp")
    ),
    max_size=8,
)
urls = st.builds(
    lambda scheme, host, port, parts, query, frag: (
        f"{scheme}://{host}{port}/{'/'.join(parts)}{query}{frag}"
    ),
    st.sampled_from(["http", "https", "HTTP", "Https"]),
    st.sampled_from(["example.com", "EXAMPLE.org", "news.example.co.uk", "127.0.0.1", "[::1]"]),
    st.sampled_from(["", ":80", ":443", ":8080"]),
    st.lists(segment, max_size=4),
    st.sampled_from(["", "?a=1", "?utm_source=x&b=2", "?b=2&a=1", "?gclid=1"]),
    st.sampled_from(["", "#top", "#"]),
)


@given(urls)
def test_canonicalisation_is_idempotent(url: str) -> None:
    once = canonicalize_url(url)
    assert canonicalize_url(once) == once


@given(urls)
def test_canonical_form_has_no_fragment_tracking_or_default_port(url: str) -> None:
    parts = urlsplit(canonicalize_url(url))
    assert parts.fragment == ""
    assert "utm_" not in parts.query and "gclid" not in parts.query
    assert parts.scheme in ("http", "https")
    assert parts.netloc == parts.netloc.lower()
    default_port = {"http": ":80", "https": ":443"}[parts.scheme]
    assert not parts.netloc.endswith(default_port)


@given(urls, st.sampled_from(["#frag", "?utm_campaign=z", "&utm_term=q"]))
def test_decorations_do_not_change_identity(url: str, decoration: str) -> None:
    base = url.split("#", 1)[0]
    if decoration.startswith("&"):
        decorated = base + ("&" if "?" in base else "?") + decoration[1:]
    else:
        decorated = base + decoration if decoration.startswith("#") or "?" not in base else base
    assert canonicalize_url(decorated) == canonicalize_url(base)


# bytes of a path segment or a query value; "/" and "." are left out: "a/./b" is "a/b"
raw = st.binary(min_size=1, max_size=6).filter(lambda b: not set(b) & set(b"/."))


@given(raw, raw, st.sampled_from(["https://example.com/news/{}", "https://example.com/?id={}"]))
def test_different_bytes_are_different_urls(a: bytes, b: bytes, template: str) -> None:
    first = canonicalize_url(template.format(quote(a, safe="")))
    second = canonicalize_url(template.format(quote(b, safe="")))
    assert (first == second) == (a == b), (first, second)
