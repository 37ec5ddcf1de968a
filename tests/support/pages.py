"""Pages and feeds for tests: an article page about US-Russia talks, and an RSS document."""

from __future__ import annotations

from tests.support.sites import Site

BODY = (
    "WASHINGTON - U.S. Secretary of State and Russian Foreign Minister Sergei Lavrov met in "
    "Geneva on Thursday for talks on arms control, the State Department said. "
) * 4


def page(title: str, body: str = BODY, canonical: str | None = None) -> str:
    link = f'<link rel="canonical" href="{canonical}">' if canonical else ""
    paragraphs = "".join(f"<p>{s.strip()}.</p>" for s in body.split(".") if s.strip())
    return (
        f"<html lang='en'><head><title>{title}</title>{link}</head><body>"
        f"<nav><a href='/'>Home</a> <a href='/world'>World</a></nav>"
        f"<article><h1>{title}</h1>{paragraphs}</article>"
        f"<footer>Copyright Example News</footer></body></html>"
    )


def rss(site: Site, items: list[tuple[str, str]], summary: str = "A summary from the feed.") -> str:
    """An RSS document of ``items`` (path on ``site`` or absolute URL, title); each item's
    description is ``summary`` followed by its title in brackets."""
    entries = "".join(
        f"<item><title>{title}</title><link>{_absolute(site, path)}</link><guid>{path}</guid>"
        f"<pubDate>Thu, 19 Nov 2026 10:0{i}:00 GMT</pubDate>"
        f"<description>{summary} ({title})</description></item>"
        for i, (path, title) in enumerate(items)
    )
    return (
        "<?xml version='1.0'?><rss version='2.0'><channel><title>Example</title>"
        f"<link>{site.url('/')}</link>{entries}</channel></rss>"
    )


def _absolute(site: Site, link: str) -> str:
    return link if "://" in link else site.url(link)
