"""``newsmon demo``: the seed articles published by a loopback news site, monitored once.

The site serves an RSS feed (``/feed.xml``, with publication dates and an ETag) and one HTML
page per seed with the furniture real pages carry (navigation, breadcrumbs, related links,
ADVERTISEMENT blocks, a footer), so the demo exercises the real fetcher and extractor. The
server binds 127.0.0.1 only and stops with the command.
"""

from __future__ import annotations

import hashlib
import html
import threading
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SEEDS_DIR = Path(__file__).resolve().parent.parent / "seeds"
DEFAULT_PORT = 8765

NAV = ["Home", "World", "Politics", "Business", "Markets", "Technology", "Opinion", "Video"]
RELATED = [
    "Oil prices slip as traders weigh OPEC output deal",
    "Five things to watch in markets this week",
    "Opinion: the case for a new arms-control framework",
    "Winter storm snarls travel across the Northeast",
]


@dataclass(frozen=True)
class Seed:
    """One seed article as the demo site publishes it."""

    id: str
    outlet: str
    slug: str
    title: str
    author: str
    published: datetime
    breadcrumbs: tuple[str, ...]
    paragraphs: tuple[str, ...]
    text: str

    @property
    def path(self) -> str:
        return f"/{self.slug}.html"


def load_seeds(seeds_dir: Path = SEEDS_DIR) -> list[Seed]:
    """Read ``seeds.toml`` and the article files it names."""
    meta = tomllib.loads((seeds_dir / "seeds.toml").read_text(encoding="utf-8"))
    seeds = []
    for entry in meta["seeds"]:
        text = (seeds_dir / "articles" / entry["file"]).read_text(encoding="utf-8")
        lines = [line.strip() for line in text.splitlines()]
        if entry["title"] not in lines:
            raise ValueError(f"seed {entry['id']}: title line not found in {entry['file']}")
        title_at = lines.index(entry["title"])
        crumbs = tuple(line for line in lines[:title_at] if line)
        body = tuple(line for line in lines[title_at + 1 :] if line and line != "ADVERTISEMENT")
        seeds.append(
            Seed(
                id=entry["id"],
                outlet=entry["outlet"],
                slug=entry["slug"],
                title=entry["title"],
                author=entry["author"],
                published=datetime.fromisoformat(entry["published"].replace("Z", "+00:00")),
                breadcrumbs=crumbs,
                paragraphs=body,
                text=text,
            )
        )
    return seeds


def render_page(seed: Seed, base_url: str) -> str:
    """The seed as a news page with its furniture."""
    e = html.escape
    paragraphs: list[str] = []
    for index, paragraph in enumerate(seed.paragraphs, start=1):
        paragraphs.append(f"<p>{e(paragraph)}</p>")
        if index % 4 == 0 and index < len(seed.paragraphs):
            paragraphs.append('<div class="ad-slot"><span>ADVERTISEMENT</span></div>')
    nav = "".join(f'<li><a href="/section/{n.lower()}">{n}</a></li>' for n in NAV)
    crumbs = " &rsaquo; ".join(e(c) for c in seed.breadcrumbs) or "World"
    related = "".join(
        f'<li><a href="/related/{i}.html">{e(title)}</a></li>' for i, title in enumerate(RELATED)
    )
    published = seed.published.isoformat()
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{e(seed.title)} | {e(seed.outlet)}</title>
<meta property="og:site_name" content="{e(seed.outlet)}">
<meta property="og:title" content="{e(seed.title)}">
<meta property="og:type" content="article">
<meta name="author" content="{e(seed.author)}">
<meta property="article:published_time" content="{published}">
<link rel="canonical" href="{base_url}{seed.path}">
</head>
<body>
<header class="site-header">
  <a class="logo" href="/">{e(seed.outlet)}</a>
  <nav><ul>{nav}</ul></nav>
  <form class="search"><input name="q" placeholder="Search"></form>
  <a class="subscribe" href="/subscribe">Subscribe for $1 a week</a>
</header>
<div class="ad-slot leaderboard"><span>ADVERTISEMENT</span></div>
<main>
<article>
  <div class="breadcrumbs">{crumbs}</div>
  <h1>{e(seed.title)}</h1>
  <div class="byline">By <span class="author">{e(seed.author)}</span>
    <time datetime="{published}">{seed.published.strftime("%B %d, %Y %H:%M UTC")}</time></div>
  <div class="share"><a href="#">Share on Facebook</a> <a href="#">Share on Twitter</a></div>
  <div class="article-body">
  {"".join(paragraphs)}
  </div>
</article>
<aside class="related">
  <h2>Related coverage</h2>
  <ul>{related}</ul>
</aside>
<div class="newsletter">Sign up for our morning briefing: the day's top stories in your inbox.</div>
</main>
<footer>
  <p>&copy; 2017 {e(seed.outlet)}. All rights reserved.</p>
  <ul><li><a href="/terms">Terms of Use</a></li><li><a href="/privacy">Privacy Policy</a></li>
  <li><a href="/contact">Contact us</a></li><li><a href="/careers">Careers</a></li></ul>
</footer>
</body>
</html>
"""


def render_feed(seeds: list[Seed], base_url: str) -> str:
    """An RSS 2.0 feed of the seeds, newest first, as news sites publish them."""
    e = html.escape
    items = []
    for seed in sorted(seeds, key=lambda s: s.published, reverse=True):
        items.append(
            f"""  <item>
    <title>{e(seed.title)}</title>
    <link>{base_url}{seed.path}</link>
    <guid isPermaLink="false">newsmon-seed-{seed.id}</guid>
    <pubDate>{format_datetime(seed.published, usegmt=True)}</pubDate>
    <dc:creator>{e(seed.author)}</dc:creator>
    <description>{e(seed.paragraphs[0] if seed.paragraphs else seed.title)}</description>
  </item>"""
        )
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel>
  <title>newsmon demo wire</title>
  <link>{base_url}/</link>
  <description>The seed articles newsmon was started from</description>
  <ttl>15</ttl>
{chr(10).join(items)}
</channel>
</rss>
"""


class _Site(ThreadingHTTPServer):
    daemon_threads = True
    routes: dict[str, tuple[str, bytes]]


class _Handler(BaseHTTPRequestHandler):
    server: _Site

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        route = self.server.routes.get(self.path.split("?", 1)[0])
        if route is None:
            self.send_error(404)
            return
        content_type, body = route
        etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
        if self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", etag)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # the demo's terminal shows the pass, not the access log


@contextmanager
def serve_seeds(port: int = DEFAULT_PORT, seeds_dir: Path = SEEDS_DIR) -> Iterator[str]:
    """Serve the demo site on 127.0.0.1:``port`` (0 picks a free port); yield the feed URL."""
    server = _Site(("127.0.0.1", port), _Handler)
    base_url = f"http://127.0.0.1:{server.server_address[1]}"
    seeds = load_seeds(seeds_dir)
    server.routes = {
        "/feed.xml": ("application/rss+xml; charset=utf-8", render_feed(seeds, base_url).encode()),
    }
    for seed in seeds:
        server.routes[seed.path] = (
            "text/html; charset=utf-8",
            render_page(seed, base_url).encode(),
        )
    thread = threading.Thread(target=server.serve_forever, name="newsmon-demo-site", daemon=True)
    thread.start()
    try:
        yield f"{base_url}/feed.xml"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
