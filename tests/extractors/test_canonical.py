"""Which ``rel=canonical`` a page is stored under (``extract_page``): its own site's only.

A declared canonical decides the article's identity, so a page must not be able to claim
another site's article (a reprint declaring the wire original, a server on another port), nor
lose its text or its identity to a broken or template-made declaration.
"""

from __future__ import annotations

import pytest

from extractors.articles import extract_page

PAGE_URL = "http://127.0.0.1:8000/news/talks?utm_source=rss"
OWN = "http://127.0.0.1:8000/news/talks"


def page_declaring(canonical: str) -> str:
    paragraphs = "".join(
        f"<p>Lavrov and Rubio met in Geneva on Thursday for round {n} of talks on arms control.</p>"
        for n in range(5)
    )
    return (
        f'<html><head><title>Talks</title><link rel="canonical" href="{canonical}"></head>'
        f"<body><article>{paragraphs}</article></body></html>"
    )


@pytest.mark.parametrize(
    ("declared", "stored"),
    [
        ("/news/talks-in-geneva", "http://127.0.0.1:8000/news/talks-in-geneva"),
        ("talks-2", "http://127.0.0.1:8000/news/talks-2"),
        ("/world/", "http://127.0.0.1:8000/world/"),  # a section cannot be told from a story
        ("http://127.0.0.1/news/talks", OWN),  # another port, another server
        ("http://127.0.0.1:9000/news/talks", OWN),
        ("https://wire.example/original", OWN),  # a reprint keeps its own identity
        ("http://admin:secret@127.0.0.1:8000/news/b", OWN),  # no credentials stored
        ("/", OWN),  # the front page, from an article: a template error
        ("/index.html", OWN),
        ("/Default.aspx", OWN),
        ("/?lang=en", OWN),
        ("javascript:alert(1)", OWN),
        ("http://[::1/x", OWN),  # no URL at all: it used to cost the page its text
    ],
)
def test_only_a_canonical_of_the_pages_own_site_is_taken(declared: str, stored: str) -> None:
    page = extract_page(page_declaring(declared), PAGE_URL)
    assert page.canonical_url == stored
    assert page.text.startswith("Lavrov and Rubio met")


def test_the_front_page_may_declare_itself() -> None:
    page = extract_page(page_declaring("/index.html"), "http://127.0.0.1:8000/")
    assert page.canonical_url == "http://127.0.0.1:8000/index.html"


def test_www_or_not_is_one_site() -> None:
    page = extract_page(page_declaring("https://www.example.com/a/b"), "https://example.com/a/b")
    assert page.canonical_url == "https://www.example.com/a/b"
