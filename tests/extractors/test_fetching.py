"""Tests for ``extractors.fetching``: the address guard, the bounds and the manners (issue 7).

No test sends a packet beyond loopback, even with the code under test broken: see
``tests.support.network`` for the guard every test here runs under.
"""

from __future__ import annotations

import asyncio
import gzip
import time
import tracemalloc
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from extractors.errors import BlockedAddressError, FetchError, HTTPStatusError, ResponseTooLarge
from extractors.fetching import (
    PROJECT_URL,
    AddressPolicy,
    FetchedResponse,
    Fetcher,
    FetchSettings,
    parse_retry_after,
)
from tests.support.network import (  # noqa: F401 - loopback_only: the autouse guard
    LOOPBACK_ONLY,
    MB,
    NetworkGuard,
    answer,
    canary,
    drip_server,
    gzip_bomb,
    loopback_only,
    scripted_server,
    stub_resolver,
)
from tests.support.sites import Site, serve_site


def settings(**overrides: Any) -> FetchSettings:
    values: dict[str, Any] = {"allow_private_networks": LOOPBACK_ONLY, "timeout": 5.0}
    values.update(overrides)
    return FetchSettings(**values)


def fetch(url: str, fetch_settings: FetchSettings | None = None, **kwargs: Any) -> Any:
    async def go() -> Any:
        async with Fetcher(
            fetch_settings or settings(), resolver=kwargs.pop("resolver", None)
        ) as f:
            return await f.fetch(url, **kwargs)

    return asyncio.run(go())


# the address policy


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1", "127.0.0.2", "::1", "10.0.0.5", "172.16.3.4", "192.168.1.1",
        "169.254.169.254", "fe80::1", "fe80::1%2", "100.64.0.1", "100.127.255.254", "0.0.0.0",
        "::", "224.0.0.1", "ff02::1", "255.255.255.255", "240.0.0.1", "192.0.0.8", "192.0.2.1",
        "198.18.0.1", "fc00::1", "fd12:3456::1", "::ffff:127.0.0.2", "::ffff:169.254.169.254",
        "::ffff:10.0.0.1", "::127.0.0.2", "64:ff9b::a9fe:a9fe", "2002:a9fe:a9fe::1",
        "2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001:db8::1", "fec0::1", "not-an-address",
    ],
)  # fmt: skip
def test_non_public_addresses_are_refused(address: str) -> None:
    assert not AddressPolicy().permits(address)
    assert not AddressPolicy.from_setting(False).permits(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "1.1.1.1", "2606:4700::1111"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert AddressPolicy().permits(address)


def test_allow_list_allows_just_those_networks() -> None:
    policy = AddressPolicy.from_setting(["127.0.0.1/32", "10.1.0.0/16"])
    assert policy.permits("127.0.0.1") and policy.permits("::ffff:127.0.0.1")
    assert policy.permits("10.1.2.3") and policy.permits("93.184.216.34")
    for refused in ("127.0.0.2", "::ffff:127.0.0.2", "::1", "10.2.0.1", "169.254.169.254"):
        assert not policy.permits(refused), refused
    assert AddressPolicy.from_setting(True).permits("169.254.169.254")


# the guard, with stub resolvers for anything beyond loopback


@pytest.mark.parametrize(
    ("host", "addresses"),
    [
        ("metadata.test", ["169.254.169.254"]),
        ("intranet.test", ["10.0.0.5"]),
        ("router.test", ["192.168.1.1"]),
        ("cgnat.test", ["100.64.0.1"]),
        ("mapped.test", ["::ffff:169.254.169.254"]),
        ("v6.test", ["fe80::1", "fc00::1"]),
        ("nothing.test", []),
    ],
)
def test_private_targets_are_refused_before_any_connection(
    host: str,
    addresses: list[str],
    loopback_only: NetworkGuard,  # noqa: F811 - the guard, asked for by name
) -> None:
    resolver = stub_resolver({host: addresses})
    with pytest.raises(BlockedAddressError, match="refused to connect") as caught:
        fetch(f"http://{host}/latest/meta-data/", settings(), resolver=resolver)
    assert caught.value.url == f"http://{host}/latest/meta-data/"
    assert loopback_only.refused == []
    assert host not in loopback_only.names  # the stub answered, not the system


def test_the_checked_address_is_the_one_connected_no_second_lookup(
    loopback_only: NetworkGuard,  # noqa: F811 - the guard, asked for by name
) -> None:
    # a rebinding name: public for the check, loopback ever after
    calls: list[str] = []
    answers = iter([["93.184.216.34"]] + [["127.0.0.1"]] * 10)

    async def rebinding(host: str, port: int) -> list[str]:
        calls.append(host)
        return next(answers)

    with pytest.raises(FetchError, match="cannot connect"):
        fetch("http://rebind.test:8080/", settings(), resolver=rebinding)
    assert calls == ["rebind.test"]
    assert loopback_only.refused == [("93.184.216.34", 8080)]
    assert "rebind.test" not in loopback_only.names
    loopback_only.refused.clear()


def test_a_name_with_public_and_private_answers_connects_only_to_the_public_one(
    loopback_only: NetworkGuard,  # noqa: F811 - the guard, asked for by name
) -> None:
    resolver = stub_resolver({"mixed.test": ["10.0.0.1", "169.254.169.254", "93.184.216.34"]})
    with pytest.raises(FetchError, match="cannot connect"):
        fetch("http://mixed.test/", settings(), resolver=resolver)
    assert loopback_only.refused == [("93.184.216.34", 80)]
    loopback_only.refused.clear()


def test_redirects_to_private_targets_are_refused(
    loopback_only: NetworkGuard,  # noqa: F811 - the guard, asked for by name
) -> None:
    resolver = stub_resolver({"metadata.test": ["169.254.169.254"]})
    with serve_site() as site:
        site.add("/go", status=302, headers={"Location": "http://metadata.test/latest/"})
        site.add("/ip", status=301, headers={"Location": "http://169.254.169.254/latest/"})
        site.add("/v6", status=307, headers={"Location": "http://[::ffff:10.0.0.1]/"})
        for path in ("/go", "/ip", "/v6"):
            with pytest.raises(BlockedAddressError, match="refused to connect"):
                fetch(site.url(path), settings(), resolver=resolver)
    assert loopback_only.refused == []


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.2",
        "[::ffff:127.0.0.2]",
        "[::ffff:7f00:2]",
        "127.2",
        "2130706434",
        "0x7f000002",
        "canary.localhost",
    ],
)
def test_loopback_canary_is_never_reached(host: str) -> None:
    with canary() as bird, serve_site() as site:
        site.add("/hop", status=302, headers={"Location": bird.url("/from-redirect", host)})
        with pytest.raises(BlockedAddressError):
            fetch(bird.url("/direct", host))
        with pytest.raises(BlockedAddressError):
            fetch(site.url("/hop"))
        assert bird.requests == []


def test_localhost_is_judged_by_its_address() -> None:
    # localhost is 127.0.0.1 here (the guard answers as /etc/hosts does): allowed by the
    # list, and still nowhere near the canary on 127.0.0.2
    with canary() as bird, serve_site() as site:
        site.add("/feed", "ok")
        assert fetch(site.url("/feed").replace("127.0.0.1", "localhost")).content == b"ok"
        with pytest.raises(FetchError, match="cannot connect"):
            fetch(bird.url("/", "localhost"))
        with pytest.raises(BlockedAddressError):
            fetch(
                site.url("/feed").replace("127.0.0.1", "localhost"),
                settings(allow_private_networks=False),
            )
        assert bird.requests == []


def test_nothing_private_is_allowed_by_default() -> None:
    with serve_site() as site:
        site.add("/", "ok")
        with pytest.raises(BlockedAddressError, match="allow_private_networks"):
            fetch(site.url("/"), settings(allow_private_networks=False))
        assert site.requests == []
        assert fetch(site.url("/"), settings(allow_private_networks=True)).content == b"ok"


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://127.0.0.1/x", "http://", "gopher://x"]
)
def test_non_http_urls_are_refused(url: str) -> None:
    with pytest.raises(FetchError, match="invalid URL"):
        fetch(url)


# bounds


def test_slow_drip_is_cut_at_the_overall_deadline() -> None:
    with drip_server() as server:
        started = time.monotonic()
        with pytest.raises(FetchError, match=r"timed out: no complete answer within 1 s"):
            fetch(server.url("/feed.xml"), settings(timeout=1.0))
        assert time.monotonic() - started < 3


def test_gzip_bomb_stops_at_the_cap_with_memory_near_it() -> None:
    bomb = gzip_bomb()
    cap = 2 * MB
    with serve_site() as site:
        site.add("/bomb", bomb, headers={"Content-Encoding": "gzip"})
        site.add("/double", gzip.compress(bomb), headers={"Content-Encoding": "gzip, gzip"})
        for path in ("/bomb", "/double"):
            tracemalloc.start()
            try:
                with pytest.raises(ResponseTooLarge, match="decompressed"):
                    fetch(site.url(path), max_bytes=cap)
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            # the body up to the cap, its copy, a decompression step and the client's buffers
            assert peak < 3 * cap + 4 * MB, (path, peak)


def test_large_page_is_refused_by_its_declared_length_without_reading_it() -> None:
    with serve_site() as site:
        site.add("/big", b"x" * (30 * MB))
        site.add("/big-gzip", b"<p>x</p>" * (4 * MB), gzip=True)  # no usable length: counted
        with pytest.raises(ResponseTooLarge, match="declared"):
            fetch(site.url("/big"), max_bytes=5 * MB)
        with pytest.raises(ResponseTooLarge, match="decompressed"):
            fetch(site.url("/big-gzip"), max_bytes=5 * MB)


def test_truncate_keeps_the_first_bytes() -> None:
    with serve_site() as site:
        site.add("/robots.txt", b"a" * 1000 + b"b" * 1000)
        site.add("/robots-gz", b"a" * 1000 + b"b" * 1000, gzip=True)
        for path in ("/robots.txt", "/robots-gz"):
            assert fetch(site.url(path), max_bytes=1000, truncate=True).content == b"a" * 1000


@pytest.mark.parametrize(
    ("coding", "encode"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda b: zlib.compress(b)[2:-4]),  # raw deflate, as some servers send
        ("gzip", lambda b: gzip.compress(b[:5000]) + gzip.compress(b[5000:])),  # two members
        ("identity", lambda b: b),
        ("utf-8", lambda b: b),  # a misconfigured server: taken as no coding
    ],
)
def test_content_codings_are_decoded(coding: str, encode: Callable[[bytes], bytes]) -> None:
    body = bytes(range(256)) * 100
    with serve_site() as site:
        site.add("/x", encode(body), headers={"Content-Encoding": coding})
        assert fetch(site.url("/x")).content == body


def test_broken_and_unrequested_codings_are_fetch_errors() -> None:
    with serve_site() as site:
        site.add("/broken", b"not gzip at all", headers={"Content-Encoding": "gzip"})
        site.add("/br", b"\x1b\x00", headers={"Content-Encoding": "br"})
        with pytest.raises(FetchError, match="cannot decode body"):
            fetch(site.url("/broken"))
        with pytest.raises(FetchError, match="unrequested content encoding br"):
            fetch(site.url("/br"))


def test_redirect_loop_is_named() -> None:
    with serve_site() as site:
        site.add("/a", status=302, headers={"Location": "/b"})
        site.add("/b", status=301, headers={"Location": site.url("/a")})
        with pytest.raises(FetchError, match="redirect loop"):
            fetch(site.url("/a"))
        assert len(site.requests) == 2


def test_redirects_are_bounded() -> None:
    with serve_site() as site:
        for i in range(10):
            site.add(f"/r{i}", status=307, headers={"Location": f"/r{i + 1}"})
        site.add("/r10", "end")
        site.add("/r3-end", status=308, headers={"Location": "/r10"})
        with pytest.raises(FetchError, match=r"too many redirects \(more than 5\)"):
            fetch(site.url("/r0"))
        assert len(site.requests) == 6
        assert fetch(site.url("/r5")).content == b"end"  # exactly five hops
        with pytest.raises(FetchError, match="too many redirects"):
            fetch(site.url("/r0"), settings(max_redirects=0))


def test_redirect_bodies_are_never_read() -> None:
    # httpx reads a redirect's whole body (decompressed, uncapped) before following it
    with serve_site() as site:
        site.add(
            "/hop",
            gzip_bomb(256 * MB),
            status=302,
            headers={"Location": "/end", "Content-Encoding": "gzip"},
        )
        site.add("/end", "arrived")
        tracemalloc.start()
        try:
            response = fetch(site.url("/hop"))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert response.content == b"arrived" and response.url == site.url("/end")
        assert peak < 8 * MB


def test_redirect_to_another_scheme_is_refused() -> None:
    with serve_site() as site:
        site.add("/x", status=302, headers={"Location": "file:///etc/passwd"})
        with pytest.raises(FetchError, match="redirect to an unsupported URL"):
            fetch(site.url("/x"))


def test_every_hop_is_checked() -> None:
    seen: list[str] = []

    async def check(url: str) -> None:
        seen.append(url)
        if url.endswith("/forbidden"):
            raise FetchError("not this one", url=url)

    with serve_site() as site:
        site.add("/a", status=302, headers={"Location": "/b"})
        site.add("/b", status=302, headers={"Location": "/forbidden"})
        with pytest.raises(FetchError, match="not this one"):
            fetch(site.url("/a"), check_hop=check)
        assert seen == [site.url(p) for p in ("/a", "/b", "/forbidden")]
        assert [r.path for r in site.requests] == ["/a", "/b"]


# manners


def test_user_agent_names_the_project() -> None:
    with serve_site() as site:
        site.add("/", "ok")
        fetch(site.url("/"))
        agent = site.requests[0].header("user-agent") or ""
    assert agent.startswith("newsmon/") and PROJECT_URL in agent


def test_per_host_concurrency_and_delay() -> None:
    async def burst(site: Site, fetch_settings: FetchSettings, n: int) -> None:
        async with Fetcher(fetch_settings) as fetcher:
            await asyncio.gather(*(fetcher.fetch(site.url(f"/p{i}")) for i in range(n)))

    with serve_site() as site:
        for i in range(6):
            site.add(f"/p{i}", "ok", delay=0.3)
        started = time.monotonic()
        asyncio.run(burst(site, settings(per_host_concurrency=2), 6))
        elapsed = time.monotonic() - started
        arrivals = sorted(r.at for r in site.requests)
        # two at a time: the third request arrives only when one of the first two is done
        assert arrivals[2] - arrivals[0] >= 0.25 and elapsed >= 0.85

        site.clear_log()
        for i in range(4):
            site.add(f"/p{i}", "ok")
        asyncio.run(burst(site, settings(per_host_concurrency=4, per_host_delay=0.2), 4))
        arrivals = sorted(r.at for r in site.requests)
        gaps = [b - a for a, b in zip(arrivals, arrivals[1:], strict=False)]
        assert min(gaps) >= 0.15, gaps


def test_per_host_delay_runs_from_when_a_request_goes_out() -> None:
    # issue 8: past max_connections, requests wait for a connection; two requests to one host
    # that waited together must still go out per_host_delay apart
    async def scenario(site: Site) -> None:
        port = site.base_url.rsplit(":", 1)[1]
        resolver = stub_resolver({"busy.test": ["127.0.0.1"], "polite.test": ["127.0.0.1"]})
        fetch_settings = settings(max_connections=2, per_host_delay=0.4)
        async with Fetcher(fetch_settings, resolver=resolver) as fetcher:

            def get(host: str, path: str) -> Any:
                return asyncio.ensure_future(fetcher.fetch(f"http://{host}:{port}{path}"))

            # both connections busy until about the same moment (1 s from now)
            busy = [get("busy.test", "/long"), get("busy.test", "/short")]
            await asyncio.sleep(0.5)
            await asyncio.gather(*busy, get("polite.test", "/p1"), get("polite.test", "/p2"))

    with serve_site() as site:
        site.add("/long", "ok", delay=1.0)
        site.add("/short", "ok", delay=0.6)
        site.add("/p1", "ok")
        site.add("/p2", "ok")
        asyncio.run(scenario(site))
        at = {r.path: r.at for r in site.requests}
    # the polite requests did wait for a connection, and went out apart all the same
    assert at["/p1"] - at["/long"] >= 0.8
    assert at["/p2"] - at["/p1"] >= 0.25, at


def test_per_host_delay_runs_from_when_a_request_is_written() -> None:
    # issue 8: the first request's connection is slow to open (its name takes 0.5 s to
    # resolve); the second, on a connection of its own, still goes out the delay after it
    resolved: list[str] = []

    async def slow_first(host: str, port: int) -> list[str]:
        resolved.append(host)
        if len(resolved) == 1:
            await asyncio.sleep(0.5)
        return ["127.0.0.1"]

    async def scenario(site: Site) -> None:
        port = site.base_url.rsplit(":", 1)[1]
        async with Fetcher(settings(per_host_delay=0.4), resolver=slow_first) as fetcher:
            await asyncio.gather(*(fetcher.fetch(f"http://slow.test:{port}/p{i}") for i in (1, 2)))

    with serve_site() as site:
        site.add("/p1", "ok", delay=1.0)  # its connection stays busy: /p2 opens another
        site.add("/p2", "ok")
        asyncio.run(scenario(site))
        at = {r.path: r.at for r in site.requests}
    assert len(resolved) == 2
    assert at["/p2"] - at["/p1"] >= 0.25, at


def test_a_304_leaves_its_connection_open_for_the_next_request() -> None:
    # issue 8: a pass of 304s over many feeds of one site needs no new connection per feed
    resolved: list[str] = []

    async def scenario(site: Site) -> list[int]:
        port = site.base_url.rsplit(":", 1)[1]
        resolver = stub_resolver({"feeds.test": ["127.0.0.1"]}, resolved)
        async with Fetcher(settings(), resolver=resolver) as fetcher:
            return [
                (await fetcher.fetch(f"http://feeds.test:{port}/f{i}.xml", etag='"v1"')).status
                for i in range(3)
            ]

    with serve_site() as site:
        for i in range(3):
            site.add(f"/f{i}.xml", "<rss/>", content_type="application/rss+xml", etag='"v1"')
        statuses = asyncio.run(scenario(site))
        asked = [r.header("if-none-match") for r in site.requests]
    assert statuses == [304, 304, 304] and asked == ['"v1"'] * 3
    assert resolved == ["feeds.test"]  # one connection (a name is resolved per connection)


@pytest.mark.parametrize("etag", ['"\xe9t\xe9"', 'W/"caf\xe9"', '"plain"'])
def test_a_validator_goes_back_as_the_server_sent_it_through_a_redirect_too(etag: str) -> None:
    # an entity-tag may hold bytes past ASCII (obs-text); one such ETag used to fail every
    # later poll of its feed ("'ascii' codec can't encode"), as httpx sends str headers as ASCII
    async def scenario(site: Site) -> tuple[FetchedResponse, FetchedResponse]:
        async with Fetcher(settings()) as fetcher:
            first = await fetcher.fetch(site.url("/old.xml"))
            again = await fetcher.fetch(
                site.url("/old.xml"), etag=first.etag, last_modified=first.last_modified
            )
        return first, again

    with serve_site() as site:
        site.add("/old.xml", "", status=301, headers={"Location": "/feed.xml"})
        site.add("/feed.xml", "<rss/>", etag=etag, last_modified="Thu, 19 Nov 2026 10:00:00 GMT")
        first, again = asyncio.run(scenario(site))
        asked = [r.header("if-none-match") for r in site.requests if r.path == "/feed.xml"]
    assert (first.status, first.etag, again.status) == (200, etag, 304)
    assert asked == [None, etag]


@pytest.mark.parametrize("stored", ['"\u0100"', '"a\r\nX-Injected: 1"', '"\x00"'])
def test_a_validator_no_server_could_send_makes_the_get_unconditional(stored: str) -> None:
    with serve_site() as site:
        site.add("/feed.xml", "<rss/>", etag='"v1"')
        response = fetch(site.url("/feed.xml"), etag=stored, last_modified=stored)
        request = site.requests[0]
    assert response.status == 200
    assert (request.header("if-none-match"), request.header("if-modified-since")) == (None, None)
    assert request.header("x-injected") is None


def test_retry_after_holds_the_host_for_the_pass() -> None:
    async def scenario(site: Site) -> tuple[HTTPStatusError, HTTPStatusError]:
        async with Fetcher(settings(max_host_wait=1.0)) as fetcher:
            with pytest.raises(HTTPStatusError) as first:
                await fetcher.fetch(site.url("/busy"))
            with pytest.raises(HTTPStatusError) as second:
                await fetcher.fetch(site.url("/other"))
            return first.value, second.value

    with serve_site() as site:
        site.add("/busy", "slow down", status=429, headers={"Retry-After": "120"})
        site.add("/other", "ok")
        first, second = asyncio.run(scenario(site))
        assert [r.path for r in site.requests] == ["/busy"]  # /other was never asked
    assert first.status == 429 and first.retry_after == "120"
    assert "Retry-After: 120" in str(first)
    assert second.status == 429 and "not requested" in str(second)
    assert second.retry_after is not None and second.retry_after.endswith("GMT")


def test_a_short_retry_after_is_waited_for() -> None:
    async def scenario(site: Site) -> bytes:
        async with Fetcher(settings(max_host_wait=5.0)) as fetcher:
            with pytest.raises(HTTPStatusError):
                await fetcher.fetch(site.url("/busy"))
            return (await fetcher.fetch(site.url("/other"))).content

    with serve_site() as site:
        site.add("/busy", status=503, headers={"Retry-After": "1"})
        site.add("/other", "ok")
        assert asyncio.run(scenario(site)) == b"ok"
        first, second = site.requests
        assert second.at - first.at >= 0.9


NOW = datetime(2026, 11, 19, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", NOW + timedelta(seconds=120)),
        (" 0 ", NOW),
        ("99999999999999999999999", NOW + timedelta(hours=1)),
        (format_datetime(NOW + timedelta(minutes=30), usegmt=True), NOW + timedelta(minutes=30)),
        ("Thu, 19 Nov 2026 09:00:00 GMT", NOW),  # already past
        ("Fri, 20 Nov 2026 10:00:00 GMT", NOW + timedelta(hours=1)),  # capped
        ("Thu, 19 Nov 2026 11:10:00 +0100", NOW + timedelta(minutes=10)),
        ("Fri, 31 Dec 9999 23:00:00 -0500", NOW + timedelta(hours=1)),  # year 10000 in UTC
        ("Mon, 01 Jan 0001 00:00:00 +0500", NOW),  # year 0 in UTC
        ("Fri, 01 Jan 99999999999 00:00:00 GMT", None),  # no datetime holds it
        ("\u00b2", None),  # a digit to str.isdigit(), not to int()
        ("9" * 5000, NOW + timedelta(hours=1)),  # past int()'s 4,300 digits: the cap
        ("-5", None),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, expected: datetime | None) -> None:
    until = parse_retry_after(value, NOW, cap=3600)
    assert until == expected
    assert until is None or until.tzinfo is UTC
