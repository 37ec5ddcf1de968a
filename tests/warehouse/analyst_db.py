"""Warehouses filled by real passes for the analyst-side tests (issue 6).

``fill_demo`` is what ``newsmon demo`` stores: the five seeds served by ``serve_seeds(port=0)``
and one ``run_pass``. ``fill_mixed`` adds, in the same pass, a second loopback site with three
articles that are not about a leaders' call (one of them names the Kremlin in passing, as
real news does) and a feed that answers 500, so every example query of
docs/warehouse.md has rows to find.
"""

from __future__ import annotations

import asyncio
import html
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from extractors.types import RunStats
from flows.config import parse_config
from flows.demo import serve_seeds
from flows.passes import run_pass
from tests.support.sites import FeedEntry, rss_feed, serve_site


@dataclass(frozen=True)
class Extra:
    path: str
    outlet: str
    title: str
    published: datetime
    paragraphs: tuple[str, ...]


EXTRAS = (
    Extra(
        "/markets/oil-prices-slip.html",
        "Gulf Business Daily",
        "Oil prices slip as traders weigh an OPEC output deal",
        datetime(2017, 3, 9, 8, 0, tzinfo=UTC),
        (
            "Oil prices slipped on Thursday as traders weighed whether producers would extend "
            "their agreement to cut output beyond the middle of the year.",
            "Brent crude futures fell 64 cents to settle at 52.19 dollars a barrel, while "
            "refiners in Asia reported weaker margins for diesel and gasoline.",
            "Analysts said inventories remained stubbornly high despite months of lower "
            "production, and that shale drillers were adding rigs at a steady pace.",
            "Saudi Arabia's energy minister said the kingdom was committed to balancing the "
            "market, but gave no details on the size or length of any extension.",
            "Shipping data showed tanker exports from the Gulf rising for a third week, a sign "
            "that some producers were not keeping to their quotas.",
        ),
    ),
    Extra(
        "/weather/winter-storm-travel.html",
        "Northeast Courier",
        "Winter storm snarls travel across the Northeast",
        datetime(2017, 3, 14, 12, 30, tzinfo=UTC),
        (
            "A late winter storm dumped more than a foot of snow across parts of the Northeast "
            "on Tuesday, grounding thousands of flights and closing schools and offices.",
            "Highway crews worked through the night to clear major roads, and transit agencies "
            "cut back bus and rail service as drifts piled up along the tracks.",
            "Officials urged residents to stay home and to contact emergency services only "
            "for real emergencies, as crews struggled to reach stranded drivers.",
            "Forecasters said the snow would taper off by evening, but strong winds and falling "
            "temperatures would make the morning commute treacherous again.",
            "Utilities reported scattered power outages and said repair crews had been brought "
            "in from neighbouring states to restore service as quickly as possible.",
        ),
    ),
    Extra(
        "/city/moscow-metro-line.html",
        "Eastern Europe Wire",
        "Moscow city council approves a new metro line",
        datetime(2017, 3, 20, 9, 15, tzinfo=UTC),
        (
            "Moscow's city council on Monday approved the construction of a new metro line that "
            "will link the northern districts with the centre of the capital.",
            "The line, with twelve stations, is due to open in stages over the next six years "
            "and is expected to carry several hundred thousand passengers a day.",
            "City officials said the project had the backing of the Kremlin, which has made "
            "public transport in the capital a priority ahead of regional elections.",
            "Residents of the districts along the route have complained for years about "
            "crowded buses and long commutes into the city centre.",
            "Construction companies will be invited to bid for the first section of the "
            "tunnel later this year, the council said in a statement.",
        ),
    ),
)


def extra_page(extra: Extra) -> str:
    e = html.escape
    body = "".join(f"<p>{e(p)}</p>" for p in extra.paragraphs)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{e(extra.title)}</title>
<meta property="og:site_name" content="{e(extra.outlet)}">
<meta property="article:published_time" content="{extra.published.isoformat()}">
</head><body><nav><a href="/">Home</a> <a href="/news">News</a></nav>
<article><h1>{e(extra.title)}</h1>{body}</article>
<footer>All rights reserved.</footer></body></html>"""


def fill_demo(db: Path) -> RunStats:
    """One pass over the demo site (the five seeds) into ``db``."""
    return _fill(db, extras=False)


def fill_mixed(db: Path) -> RunStats:
    """One pass over the demo site plus the extra articles and a failing feed into ``db``."""
    return _fill(db, extras=True)


def _fill(db: Path, *, extras: bool) -> RunStats:
    with serve_seeds(port=0) as seeds_feed, serve_site() as site:
        feeds = [{"name": "newsmon demo wire", "url": seeds_feed}]
        if extras:
            for extra in EXTRAS:
                site.add(extra.path, extra_page(extra))
            entries = [FeedEntry(site.url(x.path), x.title, x.published) for x in EXTRAS]
            site.add("/feed.xml", rss_feed(entries), content_type="application/rss+xml")
            site.add("/broken.xml", "upstream failure", status=500)
            feeds += [
                {"name": "Mixed news", "url": site.url("/feed.xml")},
                {"name": "Broken feed", "url": site.url("/broken.xml")},
            ]
        config = parse_config(
            {
                "feeds": feeds,
                "fetch": {"allow_private_networks": ["127.0.0.1/32"], "timeout_seconds": 10},
                "extraction": {"workers": 2},
            },
            source="the analyst tests",
        )
        return asyncio.run(run_pass(config, db, run_id=str(uuid.uuid4())))
