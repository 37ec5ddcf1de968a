"""Hostile response headers, through whole passes: whatever status and headers a feed's server
answers with, a pass completes, records every feed in ``feeds`` (a poll or an error) with a
planned next poll, and a second pass sends back the validators the first stored.

Hypothesis draws a list of answers, one feed each, all on one loopback site; each example is
two ``run_pass`` calls into one warehouse. The values are those that broke or could break a
reader of headers: dates no ``datetime`` holds (which once ended a pass: a ``Retry-After`` of
23:00 on 9999-12-31 at -05:00), numbers past any range, encodings that lie, redirects to
where a fetch may not go (refused by the fetcher's policy, and by the ``loopback_only`` guard
should the policy fail), and free Latin-1 text. Feeds list no items: pages and their
extraction are tests/flows/test_hostile.py's business.
"""

from __future__ import annotations

import asyncio
import itertools
import tempfile
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flows.config import parse_config
from flows.passes import run_pass
from tests.support.network import loopback_only  # noqa: F401 - the autouse guard
from tests.support.sites import Route, rss_feed, serve_site
from tests.support.warehouse import rows

CAP_MINUTES = 30

STATUSES = [200, 200, 200, 203, 204, 301, 302, 304, 307, 308, 400, 404, 410, 429, 500, 503]
NAMES = [
    "ETag",
    "Last-Modified",
    "Retry-After",
    "Cache-Control",
    "Expires",
    "Date",
    "Content-Type",
    "Content-Encoding",
    "Location",
    "Content-Length",
    "Transfer-Encoding",
    "Vary",
]
VALUES = [
    "",
    " ",
    "0",
    "-1",
    "120",
    "99999999999999999999",
    "1e309",
    "NaN",
    # dates: fine, impossible, out of range as written or once in UTC
    "Thu, 19 Nov 2026 10:00:00 GMT",
    "Thu, 31 Feb 2026 25:61:00 +9999",
    "Fri, 31 Dec 9999 23:00:00 -0500",
    "Mon, 01 Jan 0001 00:00:00 +0500",
    "Fri, 01 Jan 99999999999 00:00:00 GMT",
    "2026-11-19T10:00:00Z",
    # caching
    "max-age=600",
    "max-age=99999999999999999999",
    "max-age=-5, no-store",
    'max-age="',
    # validators
    '"v1"',
    'W/"v1"',
    '"a", W/"b"',
    "*",
    '"\xe9t\xe9"',
    # encodings and types
    "gzip",
    "br",
    "deflate, gzip",
    "x-unknown",
    "chunked",
    "text/html; charset=bogus",
    "application/rss+xml; charset=utf-16",
    'text/xml; charset="',
    # redirects: on the site, to nowhere, to where no fetch may go
    "/elsewhere.xml",
    "//127.0.0.2/x",
    "http://10.0.0.1/feed.xml",
    "http://[::1]:1/",
    "http://127.0.0.1:1/",
    "http://%zz/",
    "javascript:alert(1)",
    "ftp://127.0.0.1/",
    "\xe9\xff",
]
LATIN_1 = st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f")
header_value = st.one_of(st.sampled_from(VALUES), st.text(LATIN_1, max_size=30))


@st.composite
def answer(draw: st.DrawFn) -> Route:
    headers = {
        name: draw(header_value)
        for name in draw(st.lists(st.sampled_from(NAMES), unique=True, max_size=5))
    }
    body = draw(st.sampled_from([rss_feed([]), b"", b"not a feed", b"\x1f\x8b\x08\x00junk"]))
    return Route(
        body=body,
        status=draw(st.sampled_from(STATUSES)),
        content_type=draw(st.sampled_from(["application/rss+xml", None, "text/html"])),
        headers=headers,
        # the site's own validators: honoured with a 304 when the client sends them back
        etag=draw(st.sampled_from([None, '"v1"', 'W/"v1"', '"\xe9t\xe9"', '""'])),
        last_modified=draw(st.sampled_from([None, "Thu, 19 Nov 2026 10:00:00 GMT", "soon"])),
    )


EXAMPLES = itertools.count()


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(answer(), min_size=1, max_size=8))
def test_hostile_headers_leave_every_feed_polled_recorded_and_planned(answers: list[Route]) -> None:
    with tempfile.TemporaryDirectory() as folder, serve_site() as site:
        db = Path(folder) / "w.duckdb"
        urls = []
        for i, route in enumerate(answers):
            path = f"/feed{i}.xml"
            site.routes[path] = route
            urls.append(site.url(path))
        site.add("/elsewhere.xml", rss_feed([]), content_type="application/rss+xml")
        config = parse_config(
            {
                "feeds": [{"name": f"feed {i}", "url": url} for i, url in enumerate(urls)],
                "fetch": {
                    "allow_private_networks": ["127.0.0.1/32"],
                    "timeout_seconds": 5,
                    "max_retry_after_minutes": CAP_MINUTES,
                },
            }
        )
        run = next(EXAMPLES)
        first = asyncio.run(run_pass(config, db, run_id=f"{run}-first"))
        second = asyncio.run(run_pass(config, db, run_id=f"{run}-second", poll_all=True))

        assert (first.status, second.status) == ("completed", "completed"), (first, second)
        stored = rows(
            db,
            "SELECT feed_url, last_polled_at, next_poll_at, retry_after_until, last_http_status,"
            " last_error FROM feeds",
        )
        assert sorted(r[0] for r in stored) == sorted(urls)
        for url, polled, next_poll, held_until, status, error in stored:
            # every feed has a next poll, not before its last (at it: due at the next pass), and
            # a hold no longer than the cap
            assert next_poll is not None and next_poll >= polled, url
            assert held_until is None or held_until - polled <= timedelta(minutes=CAP_MINUTES)
            assert error is None or error.strip(), url
            assert status is not None or error is not None, url
