"""Tests for ``extractors.robots``: RFC 9309 parsing and matching, and the per-pass cache
against loopback sites (issue 7)."""

from __future__ import annotations

import asyncio
import pickle
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from extractors.errors import BlockedAddressError
from extractors.fetching import Fetcher, FetchSettings
from extractors.robots import RobotsCache, RobotsDenied, parse_robots
from tests.support.network import loopback_only  # noqa: F401 - the autouse guard
from tests.support.sites import Site, serve_site


def allowed(robots: str, *paths: str, product: str = "newsmon") -> list[bool]:
    rules = parse_robots(robots, product)
    return [rules.allows(p) for p in paths]


def test_no_rules_allow_everything() -> None:
    assert allowed("", "/", "/a?b") == [True, True]
    assert allowed("User-agent: *\nDisallow:\n", "/x") == [True]  # empty disallow: no rule


def test_disallow_all_but_robots_txt() -> None:
    assert allowed("User-agent: *\nDisallow: /\n", "/", "/news/a", "/robots.txt") == [
        False,
        False,
        True,
    ]


def test_longest_match_wins_and_allow_wins_a_tie() -> None:
    robots = (
        "User-agent: *\nDisallow: /\nAllow: /news\nDisallow: /news/private\n"
        "Allow: /same\nDisallow: /same\n"
    )
    assert allowed(robots, "/about", "/news/1", "/news/private/2", "/same") == [
        False,
        True,
        False,
        True,
    ]


def test_our_group_beats_the_default_and_groups_merge() -> None:
    robots = """
    User-agent: *
    Disallow: /

    User-agent: NewsMon/2.0
    Disallow: /a

    User-agent: otherbot
    Disallow: /b

    user-agent: newsmon
    disallow: /c
    """
    assert allowed(robots, "/a", "/b", "/c", "/d") == [False, True, False, True]
    assert allowed(robots, "/d", product="otherbot") == [True]
    assert allowed(robots, "/d", product="somebot") == [False]


def test_consecutive_user_agents_share_a_group() -> None:
    robots = "User-agent: a\nUser-agent: newsmon\nDisallow: /x\nUser-agent: b\nDisallow: /y\n"
    assert allowed(robots, "/x", "/y") == [False, True]


def test_rules_before_any_user_agent_are_ignored() -> None:
    assert allowed("Disallow: /\nUser-agent: *\nDisallow: /x\n", "/", "/x") == [True, False]


def test_wildcards() -> None:
    robots = (
        "User-agent: *\nDisallow: /*.gif$\nDisallow: /private*/\nDisallow: /*?session=\n"
        "Allow: /private-ok/$\n"
    )
    assert allowed(
        robots,
        "/img/a.gif",
        "/img/a.gif?x=1",
        "/private-stuff/a",
        "/private-ok/",
        "/private",
        "/a?session=1",
        "/a?x=1&session=2",
    ) == [False, True, False, True, True, False, True]


def test_percent_encoding_is_compared_as_rfc_9309_says() -> None:
    robots = "User-agent: *\nDisallow: /%7Ejoe/\nDisallow: /föö\nDisallow: /a%2fb\n"
    assert allowed(robots, "/~joe/x", "/f%C3%B6%C3%B6/1", "/f%c3%b6%c3%b6", "/a/b", "/a%2Fb") == [
        False,
        False,
        False,
        True,
        False,
    ]


def test_comments_bom_crlf_and_junk_lines() -> None:
    robots = (
        "\ufeffUser-agent: * # everyone\r\nno colon here\r\n"
        "Disallow: /x # not /y\r\nSitemap: /s.xml\r\n"
    )
    assert allowed(robots, "/x", "/y") == [False, True]


def test_a_pattern_of_many_wildcards_matches_in_linear_time() -> None:
    robots = "User-agent: *\nDisallow: /" + "*a" * 5000 + "b\n"
    started = time.monotonic()
    assert allowed(robots, "/" + "a" * 100_000) == [True]
    assert time.monotonic() - started < 2


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=400), st.text(max_size=60))
def test_any_text_parses_and_any_path_is_judged(robots: str, path: str) -> None:
    assert isinstance(parse_robots(robots).allows("/" + path), bool)


# the cache, against loopback sites


def robots_settings(**overrides: Any) -> FetchSettings:
    values: dict[str, Any] = {"allow_private_networks": ("127.0.0.1/32",), "timeout": 2.0}
    values.update(overrides)
    return FetchSettings(**values)


def check_all(urls: list[str], fetch_settings: FetchSettings | None = None) -> list[str]:
    """Check each URL in turn with one cache; 'ok', 'denied' or 'later' (temporary)."""

    async def go() -> list[str]:
        async with Fetcher(fetch_settings or robots_settings()) as fetcher:
            cache = RobotsCache(fetcher)
            outcomes = []
            for url in urls:
                try:
                    await cache.check(url)
                    outcomes.append("ok")
                except RobotsDenied as exc:
                    outcomes.append("later" if exc.temporary else "denied")
            return outcomes

    return asyncio.run(go())


def test_rules_are_fetched_once_per_origin_and_obeyed() -> None:
    with serve_site() as site:
        site.add("/robots.txt", "User-agent: *\nDisallow: /private\n", content_type="text/plain")
        urls = [site.url("/a"), site.url("/private/b"), site.url("/c?x=1")]
        assert check_all(urls) == ["ok", "denied", "ok"]
        assert len(site.requests_for("/robots.txt")) == 1
        agent = site.requests_for("/robots.txt")[0].header("user-agent") or ""
        assert agent.startswith("newsmon/")


def test_concurrent_checks_share_one_fetch() -> None:
    async def go(site: Site) -> None:
        async with Fetcher(robots_settings()) as fetcher:
            cache = RobotsCache(fetcher)
            await asyncio.gather(*(cache.check(site.url(f"/p{i}")) for i in range(20)))

    with serve_site() as site:
        site.add("/robots.txt", "User-agent: *\nAllow: /\n", delay=0.2)
        asyncio.run(go(site))
        assert len(site.requests_for("/robots.txt")) == 1


@pytest.mark.parametrize(("status", "outcome"), [(404, "ok"), (403, "ok"), (410, "ok")])
def test_a_4xx_robots_txt_allows_everything(status: int, outcome: str) -> None:
    with serve_site() as site:
        site.add("/robots.txt", "nope", status=status)
        assert check_all([site.url("/a"), site.url("/b")]) == [outcome, outcome]
        assert len(site.requests_for("/robots.txt")) == 1


@pytest.mark.parametrize("status", [500, 503, 429])
def test_a_5xx_or_429_robots_txt_disallows_for_a_while(status: int) -> None:
    with serve_site() as site:
        site.add("/robots.txt", "down", status=status)
        assert check_all([site.url("/a"), site.url("/b")]) == ["later", "later"]
        assert len(site.requests_for("/robots.txt")) == 1


def test_an_unreachable_robots_txt_disallows() -> None:
    # no answer at all: disallowed, not "later" (the page could not be had either)
    async def go(url: str) -> RobotsDenied:
        async with Fetcher(robots_settings(timeout=0.5)) as fetcher:
            with pytest.raises(RobotsDenied) as caught:
                await RobotsCache(fetcher).check(url)
            return caught.value

    with serve_site() as site:
        site.add("/robots.txt", "User-agent: *\nAllow: /\n", delay=3)  # past the deadline
        error = asyncio.run(go(site.url("/a")))
    assert not error.temporary
    assert str(error) == (
        "robots.txt unreachable (timed out: no complete answer within 0.5 s): "
        f"{site.base_url} not fetched for now"
    )


def test_denials_pickle() -> None:
    error = RobotsDenied("robots.txt unreachable", url="http://e.com/a", temporary=True)
    copy = pickle.loads(pickle.dumps(error))
    assert (str(copy), copy.url, copy.temporary) == (str(error), error.url, True)


def test_the_reason_is_readable() -> None:
    async def go(site: Site) -> RobotsDenied:
        async with Fetcher(robots_settings()) as fetcher:
            with pytest.raises(RobotsDenied) as caught:
                await RobotsCache(fetcher).check(site.url("/a"))
            return caught.value

    with serve_site() as site:
        site.add("/robots.txt", "down", status=503)
        error = asyncio.run(go(site))
    assert "robots.txt unreachable (HTTP 503 Service Unavailable)" in str(error)
    assert error.url == site.url("/a") and error.temporary


def test_a_huge_robots_txt_is_read_up_to_the_cap() -> None:
    with serve_site() as site:
        body = "User-agent: *\nDisallow: /early\n" + "# padding\n" * 3_000_000 + "Disallow: /late\n"
        site.add("/robots.txt", body, gzip=True)
        assert check_all([site.url("/early"), site.url("/late")]) == ["denied", "ok"]


def test_robots_txt_redirects_are_followed() -> None:
    with serve_site() as site:
        site.add("/robots.txt", status=301, headers={"Location": "/real-robots.txt"})
        site.add("/real-robots.txt", "User-agent: *\nDisallow: /x\n")
        assert check_all([site.url("/x"), site.url("/y")]) == ["denied", "ok"]


def test_answers_expire() -> None:
    now = [0.0]

    async def go(site: Site) -> None:
        async with Fetcher(robots_settings()) as fetcher:
            cache = RobotsCache(fetcher, clock=lambda: now[0])
            await cache.check(site.url("/a"))
            now[0] += 3600
            await cache.check(site.url("/a"))
            now[0] += 24 * 3600
            await cache.check(site.url("/a"))

    with serve_site() as site:
        site.add("/robots.txt", "User-agent: *\nAllow: /\n")
        asyncio.run(go(site))
        assert len(site.requests_for("/robots.txt")) == 2


def test_a_refused_address_is_reported_as_such() -> None:
    async def go(url: str) -> None:
        async with Fetcher(robots_settings(allow_private_networks=False)) as fetcher:
            await RobotsCache(fetcher).check(url)

    with serve_site() as site, pytest.raises(BlockedAddressError):
        asyncio.run(go(site.url("/a")))
