"""Safe HTTP fetching: one shared async client, an overall deadline, a size cap, an address guard.

Every connection, including each redirect hop, goes through ``GuardedBackend``: it resolves the
host itself, refuses addresses the ``AddressPolicy`` does not allow (loopback, private,
link-local, CGNAT, multicast, ... and their IPv4-mapped IPv6 forms) and connects to the very
address it checked, so a second DNS answer cannot slip past the check (DNS rebinding).

Redirects are followed here, not by httpx, which reads every redirect's body into memory
without a cap (issue 7): a hop's body is never read, the hop count is bounded and a loop is
named as one. The deadline covers the whole request (every hop, connect, every read), not
each read: a server that drips one byte at a time is cut off when the deadline passes. Bodies
are decompressed here in bounded steps and the size cap counts decompressed bytes, so a gzip
bomb stops at the cap with memory near it.

Manners: a User-Agent naming the project, per-host concurrency, a minimum delay between the
starts of two requests to one host, and a host that answers 429/503 with ``Retry-After`` is not
asked again before that time (within the pass; the pass stores it for feeds, see
``extractors.schedule``). No more requests are handed to httpx's pool than it has connections
(``max_connections``): the rest wait here, where waiting is cheap (issue 8).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import logging
import socket
import ssl
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpcore
import httpx

from extractors.dates import parse_http_date
from extractors.errors import (
    BlockedAddressError,
    FetchError,
    HTTPStatusError,
    ResponseTooLarge,
)

LOGGER = logging.getLogger(__name__)

PROJECT_URL = "https://github.com/newsmon/newsmon"
USER_AGENT = f"newsmon/0.1 (+{PROJECT_URL})"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]
HopCheck = Callable[[str], Awaitable[None]]
# httpcore's request extension "trace": called with each step of a request as it happens
Trace = Callable[[str, dict[str, Any]], Awaitable[None]]

# special-purpose ranges (iana registries), refused even where an older python calls them
# global (3.11 does so for 192.0.0.0/24, for instance)
_NOT_PUBLIC = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
        "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
        "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
        "::/127", "::ffff:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001::/23",
        "2001:db8::/32", "2002::/16", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
    )
)  # fmt: skip
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_RETRY_STATUSES = frozenset({429, 503})
# a decompression step yields at most this much, so a bomb never inflates past cap + one step
_STEP = 64 * 1024


@dataclass(frozen=True)
class AddressPolicy:
    """Which addresses may be fetched.

    Public (globally routable) unicast addresses always may. Anything else only when
    ``allow_private`` is true, or when it falls in one of ``allowed`` networks.
    """

    allow_private: bool = False
    allowed: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_setting(cls, setting: bool | Iterable[str]) -> AddressPolicy:
        """Build from the config's ``[fetch] allow_private_networks`` (bool or list of networks)."""
        if isinstance(setting, bool):
            return cls(allow_private=setting)
        return cls(allowed=tuple(ipaddress.ip_network(item, strict=False) for item in setting))

    def permits(self, address: str) -> bool:
        try:
            ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False  # a resolver that answers something other than an address
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            # ::ffff:127.0.0.2 is 127.0.0.2 as far as the kernel is concerned
            ip = ip.ipv4_mapped
        if any(ip in net for net in self.allowed if net.version == ip.version):
            return True
        if self.allow_private:
            return True
        return _is_public(ip)


def _is_public(ip: IPAddress) -> bool:
    if ip.is_multicast or ip.is_unspecified or ip.is_reserved or ip.is_link_local:
        return False
    if any(ip in net for net in _NOT_PUBLIC if net.version == ip.version):
        return False
    if isinstance(ip, ipaddress.IPv6Address) and (ip.sixtofour or ip.teredo):
        return False
    return ip.is_global


async def system_resolver(host: str, port: int) -> list[str]:
    """Resolve ``host`` with the system resolver; IP literals come back as they are."""
    with contextlib.suppress(ValueError):
        # no trip through the executor's getaddrinfo for an address (issue 8)
        return [str(ipaddress.ip_address(host))]
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: list[str] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        addr = str(sockaddr[0])
        if addr not in seen:
            seen.append(addr)
    return seen


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that checks and pins the address of every connection."""

    def __init__(self, policy: AddressPolicy, resolver: Resolver | None = None) -> None:
        self._policy = policy
        self._resolver = resolver or system_resolver
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        host = host.strip("[]")
        try:
            addresses = await self._resolver(host, port)
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        allowed = [a for a in addresses if self._policy.permits(a)]
        if not allowed:
            raise BlockedAddressError(
                f"refused to connect to {host} ({', '.join(addresses) or 'no address'}): "
                "not a public address and not allowed by [fetch] allow_private_networks",
                url=f"//{host}:{port}",
            )
        last_exc: Exception | None = None
        for address in allowed:
            try:
                # the checked address itself, never the name: no second lookup to rebind
                return await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError as exc:
                last_exc = exc
        assert last_exc is not None
        raise last_exc

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not fetched")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # loading the ca bundle takes ~60 ms; one context serves every pass of the process
    return httpx.create_ssl_context()


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with its connection pool rebuilt on a ``GuardedBackend``."""

    def __init__(self, backend: GuardedBackend, limits: httpx.Limits) -> None:
        ssl_context = _ssl_context()
        super().__init__(verify=ssl_context, limits=limits, trust_env=False)
        # httpx has no public hook for the network backend; the pool it builds is replaced by
        # the same pool on our backend (the attribute has been stable across httpx 0.2x).
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )


@dataclass(frozen=True)
class FetchSettings:
    """Bounds and manners of every request (``[fetch]`` in the config).

    Durations are seconds. ``max_host_wait``: a host that asked us (Retry-After) to wait at
    most this long is waited for; a longer wait fails the request at once. The poll interval
    bounds and ``max_retry_after`` drive ``extractors.schedule``.
    """

    timeout: float = 20.0
    connect_timeout: float = 10.0
    max_feed_bytes: int = 10 * 1024 * 1024
    max_page_bytes: int = 5 * 1024 * 1024
    max_redirects: int = 5
    max_connections: int = 100
    per_host_concurrency: int = 2
    per_host_delay: float = 0.0
    user_agent: str = USER_AGENT
    allow_private_networks: bool | tuple[str, ...] = False
    respect_robots_txt: bool = True
    # rfc 9309 2.5: a robots.txt is read up to at least 500 kib, the rest ignored
    max_robots_bytes: int = 500 * 1024
    max_retry_after: float = 3600.0
    max_host_wait: float = 5.0
    min_poll_interval: float = 0.0
    max_poll_interval: float = 24 * 3600.0


@dataclass(frozen=True)
class FetchedResponse:
    """A usable answer: 2xx with its body, or 304 with an empty one."""

    url: str
    status: int
    content: bytes
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def parse_retry_after(value: str | None, now: datetime, cap: float) -> datetime | None:
    """When a ``Retry-After`` value (seconds or an HTTP date, RFC 9110 10.2.3) ends.

    The wait is capped at ``cap`` seconds, so a typo or a hostile value cannot silence a feed
    for a year; a date in the past means now. ``None`` for a missing or unreadable value.
    """
    text = (value or "").strip()
    if not text:
        return None
    if text.isascii() and text.isdigit():  # "²" is a digit to isdigit(), not to int()
        return now + timedelta(seconds=cap if len(text) > 12 else min(int(text), cap))
    if (when := parse_http_date(text)) is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    # bounded before it is moved to UTC, which cannot hold every date a header can name
    # (23:00 on 9999-12-31 at -05:00 is a year 10000 there): such a date is past the cap
    return min(max(when, now), now + timedelta(seconds=cap)).astimezone(UTC)


class Fetcher:
    """One shared ``httpx.AsyncClient`` for a pass, with per-host manners.

    Use as ``async with Fetcher(settings) as fetcher: await fetcher.fetch(url)``.
    """

    def __init__(self, settings: FetchSettings, *, resolver: Resolver | None = None) -> None:
        self.settings = settings
        policy = AddressPolicy.from_setting(settings.allow_private_networks)
        limits = httpx.Limits(
            max_connections=settings.max_connections,
            max_keepalive_connections=min(settings.max_connections, 50),
        )
        self._client = httpx.AsyncClient(
            transport=GuardedTransport(GuardedBackend(policy, resolver), limits),
            timeout=httpx.Timeout(settings.timeout, connect=settings.connect_timeout),
            follow_redirects=False,
            headers={"User-Agent": settings.user_agent, "Accept-Encoding": "gzip, deflate"},
            trust_env=False,
        )
        self._host_slots: dict[str, asyncio.Semaphore] = {}
        self._host_last: dict[str, float] = {}
        self._host_locks: dict[str, asyncio.Lock] = {}
        # issue 8: no more requests in httpx's pool than it has connections. httpcore matches
        # every queued request against every connection each time one starts or ends, which
        # with 1,000 feeds costs more than the requests; waiting here costs nothing
        self._pool_slots = asyncio.Semaphore(settings.max_connections)
        # host:port -> (monotonic time it may be asked again, the status, that time as a date)
        self._held: dict[str, tuple[float, int, str]] = {}

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    @contextlib.asynccontextmanager
    async def _host_slot(self, host: str) -> AsyncIterator[Trace | None]:
        """Hold one of the host's slots and one of the pool's for a request.

        With a ``per_host_delay``, yields the ``trace`` callback to send the request with: the
        host's next request waits for this one's headers to be written, then for the delay.
        Measured from the decision to send instead, two requests could reach the host closer
        together than the delay, as writing one can be held up on a busy event loop or by its
        connection (issue 8).
        """
        slot = self._host_slots.setdefault(
            host, asyncio.Semaphore(self.settings.per_host_concurrency)
        )
        async with slot:
            if self.settings.per_host_delay <= 0:
                async with self._pool_slots:
                    yield None
                return
            turn = self._host_locks.setdefault(host, asyncio.Lock())
            await turn.acquire()
            sent = False

            def mark_sent() -> None:
                nonlocal sent
                if not sent:
                    sent = True
                    self._host_last[host] = time.monotonic()
                    turn.release()

            async def trace(event: str, info: dict[str, Any]) -> None:
                if event.endswith(".send_request_headers.complete"):
                    mark_sent()

            try:
                not_before = self._host_last.get(host, 0.0) + self.settings.per_host_delay
                if not_before > time.monotonic():
                    await asyncio.sleep(not_before - time.monotonic())
                async with self._pool_slots:
                    yield trace
            finally:
                # a request that failed before its headers went out counts from now
                mark_sent()

    async def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        max_bytes: int | None = None,
        accept: str | None = None,
        truncate: bool = False,
        check_hop: HopCheck | None = None,
    ) -> FetchedResponse:
        """GET ``url`` within the deadline; raise a ``FetchError`` for anything unusable.

        ``truncate``: a body past the cap is cut there instead of refused (robots.txt).
        ``check_hop`` is awaited with the URL of every hop, the first included, before it is
        requested; it refuses a hop by raising a ``FetchError`` (robots.txt, issue 7).
        """
        cap = max_bytes or self.settings.max_page_bytes
        headers: dict[str, str | bytes] = {}
        if etag and (echoed := _validator_bytes(etag)):
            headers["If-None-Match"] = echoed
        if last_modified and (echoed := _validator_bytes(last_modified)):
            headers["If-Modified-Since"] = echoed
        if accept:
            headers["Accept"] = accept
        try:
            request = self._client.build_request("GET", url, headers=headers)
        except (httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError) as exc:
            raise FetchError(f"invalid URL: {exc}", url=url) from exc
        if request.url.scheme not in ("http", "https") or not request.url.host:
            raise FetchError(f"invalid URL: not an http(s) URL with a host: {url}", url=url)
        try:
            return await self._follow(request, cap, truncate, check_hop)
        except TimeoutError as exc:
            raise FetchError(
                f"timed out: no complete answer within {self.settings.timeout:g} s", url=url
            ) from exc
        except httpx.TimeoutException as exc:
            raise FetchError(f"timed out: {type(exc).__name__}", url=url) from exc
        except httpx.HTTPError as exc:
            raise FetchError(f"{_describe(exc)}", url=url) from exc
        except BlockedAddressError as exc:
            raise BlockedAddressError(str(exc), url=url) from exc
        except zlib.error as exc:
            raise FetchError(f"cannot decode body: {exc}", url=url) from exc

    async def _follow(
        self, request: httpx.Request, cap: int, truncate: bool, check_hop: HopCheck | None
    ) -> FetchedResponse:
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        seen = [str(request.url)]
        while True:
            if check_hop is not None:
                await check_hop(str(request.url))
            host = request.url.host
            async with self._host_slot(host) as trace:
                if trace is not None:
                    request.extensions["trace"] = trace
                if deadline is None:  # from the first hop on; waiting for a slot is not counted
                    deadline = loop.time() + self.settings.timeout
                await self._honour_hold(request.url, deadline - loop.time())
                async with asyncio.timeout_at(deadline):
                    response = await self._client.send(request, stream=True)
                    try:
                        target = _redirect_target(response)
                        if target is None:
                            return await self._read(response, cap, truncate)
                    finally:
                        await response.aclose()  # a hop's body is never read
            if str(target) in seen:
                raise FetchError(f"redirect loop: {seen[-1]} leads back to {target}", url=seen[0])
            if len(seen) > self.settings.max_redirects:
                raise FetchError(
                    f"too many redirects (more than {self.settings.max_redirects})", url=seen[0]
                )
            seen.append(str(target))
            request = self._client.build_request("GET", target, headers=_hop_headers(request))

    async def _honour_hold(self, url: httpx.URL, budget: float) -> None:
        server = _authority(url)
        hold = self._held.get(server)
        if hold is None:
            return
        until, status, date = hold
        wait = until - time.monotonic()
        if wait <= 0:
            del self._held[server]
        elif wait <= min(self.settings.max_host_wait, budget):
            await asyncio.sleep(wait)
        else:
            raise HTTPStatusError(
                f"not requested: {server} answered HTTP {status} and asked to wait "
                f"(Retry-After) until {date}",
                url=str(url),
                status=status,
                retry_after=date,
            )

    async def _read(self, response: httpx.Response, cap: int, truncate: bool) -> FetchedResponse:
        final_url = str(response.url)
        status = response.status_code
        if status == 304:
            # a 304 has no body (h11 reads none, whatever the headers say): reading to its end
            # leaves the connection open for the host's next request (issue 8)
            async for _ in response.aiter_raw():
                break
            return _answer(response, final_url, b"")
        if status >= 400 or status < 200:
            retry_after = response.headers.get("retry-after")
            if status in _RETRY_STATUSES:
                self._hold(response.url, status, retry_after)
            raise HTTPStatusError(
                f"HTTP {status} {response.reason_phrase}".strip()
                + (f" (Retry-After: {retry_after})" if retry_after else ""),
                url=final_url,
                status=status,
                retry_after=retry_after,
            )
        encodings = _content_encodings(response.headers.get("content-encoding"), final_url)
        declared = response.headers.get("content-length", "").strip()
        if declared.isdigit() and not encodings and int(declared) > cap and not truncate:
            raise ResponseTooLarge(
                f"response too large: {int(declared)} bytes declared, cap {cap}", url=final_url
            )
        body = bytearray()
        decoders = [_Inflater(name) for name in reversed(encodings)]
        async for raw in response.aiter_raw():
            for piece in _inflate(decoders, raw):
                if len(body) + len(piece) > cap:
                    if truncate:
                        body += piece[: cap - len(body)]
                        return _answer(response, final_url, bytes(body))
                    raise ResponseTooLarge(
                        f"response too large: more than {cap} bytes"
                        + (" (decompressed)" if encodings else ""),
                        url=final_url,
                    )
                body += piece
        return _answer(response, final_url, bytes(body))

    def _hold(self, url: httpx.URL, status: int, retry_after: str | None) -> None:
        now = datetime.now(UTC)
        until = parse_retry_after(retry_after, now, self.settings.max_retry_after)
        if until is None or until <= now:
            return
        wait = (until - now).total_seconds()
        server = _authority(url)
        LOGGER.info("%s answered %d: not asking it again for %.0f s", server, status, wait)
        self._held[server] = (time.monotonic() + wait, status, format_datetime(until, True))


def _authority(url: httpx.URL) -> str:
    """host:port, the server a Retry-After speaks for."""
    port = url.port or (443 if url.scheme == "https" else 80)
    return f"{url.host}:{port}"


def _redirect_target(response: httpx.Response) -> httpx.URL | None:
    location = response.headers.get("location")
    if response.status_code not in _REDIRECTS or not location:
        return None
    try:
        target = response.url.join(location.strip())
    except (httpx.InvalidURL, ValueError) as exc:
        raise FetchError(f"bad redirect target {location!r}: {exc}", url=str(response.url)) from exc
    if target.scheme not in ("http", "https") or not target.host:
        raise FetchError(f"redirect to an unsupported URL: {location!r}", url=str(response.url))
    return target.copy_with(fragment=None)


def _hop_headers(request: httpx.Request) -> dict[str, bytes]:
    # as sent: a validator may hold bytes past ASCII (see _validator)
    keep = (b"accept", b"if-none-match", b"if-modified-since")
    return {k.decode("ascii"): v for k, v in request.headers.raw if k.lower() in keep}


def _content_encodings(header: str | None, url: str) -> list[str]:
    """The codings to undo, in the order they were applied (RFC 9110 8.4)."""
    codings: list[str] = []
    for token in (header or "").split(","):
        name = token.strip().lower()
        if name in ("gzip", "x-gzip", "deflate"):
            codings.append(name)
        elif name in ("br", "zstd", "compress", "x-compress"):
            # we only ever send Accept-Encoding: gzip, deflate
            raise FetchError(f"cannot decode body: unrequested content encoding {name}", url=url)
        # identity and nonsense values ("utf-8") are taken as no coding, as httpx does
    return codings


class _Inflater:
    """One gzip or deflate layer, inflated at most ``_STEP`` bytes at a time."""

    def __init__(self, coding: str) -> None:
        self._gzip = coding != "deflate"
        self._raw = False  # deflate as sent by some servers: raw, without the zlib wrapper
        self._started = False
        self._d = self._new()

    def _new(self) -> Any:
        if self._gzip:
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        return zlib.decompressobj(-zlib.MAX_WBITS if self._raw else zlib.MAX_WBITS)

    def feed(self, data: bytes) -> Iterator[bytes]:
        while True:
            try:
                out = self._d.decompress(data, _STEP)
            except zlib.error:
                if self._gzip or self._raw or self._started:
                    raise
                self._raw = True
                self._d = self._new()
                out = self._d.decompress(data, _STEP)
            self._started = True
            if out:
                yield out
            if self._d.eof:
                rest = self._d.unused_data
                if not (self._gzip and rest.strip(b"\0")):
                    return  # trailing bytes after the stream are ignored
                self._d = self._new()  # a gzip body may hold several members (rfc 1952)
                data = rest
                continue
            data = self._d.unconsumed_tail
            if not data and len(out) < _STEP:
                return


def _inflate(decoders: list[_Inflater], raw: bytes) -> Iterator[bytes]:
    pieces: Iterable[bytes] = (raw,)
    for decoder in decoders:
        pieces = _through(decoder, pieces)
    return iter(pieces)


def _through(decoder: _Inflater, pieces: Iterable[bytes]) -> Iterator[bytes]:
    for piece in pieces:
        yield from decoder.feed(piece)


def _answer(response: httpx.Response, final_url: str, content: bytes) -> FetchedResponse:
    h = response.headers
    keep = ("content-type", "etag", "last-modified", "cache-control", "expires", "date")
    return FetchedResponse(
        url=final_url,
        status=response.status_code,
        content=content,
        content_type=h.get("content-type"),
        etag=_validator(response, b"etag"),
        last_modified=_validator(response, b"last-modified"),
        headers={k: h[k] for k in keep if k in h},
    )


def _validator(response: httpx.Response, name: bytes) -> str | None:
    """A validator as the server sent it, each byte one character (Latin-1).

    A validator is echoed back byte for byte, and an entity-tag may hold any byte above 0x7F
    (RFC 9110 8.8.3, ``obs-text``): httpx's reading (UTF-8 when it decodes, else Latin-1) would
    not give the same bytes back, and a str header beyond ASCII cannot be sent at all.
    """
    for key, value in response.headers.raw:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _validator_bytes(value: str) -> bytes | None:
    """What to send for a stored validator (``_validator``'s bytes); ``None`` when no server
    could have sent it (a character past Latin-1, a control character): the GET goes
    unconditional rather than failing every poll of the feed."""
    try:
        raw = value.encode("latin-1")
    except UnicodeEncodeError:
        return None
    if any(byte < 0x20 and byte != 0x09 or byte == 0x7F for byte in raw):
        return None
    return raw


def _describe(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect: {exc or 'connection failed'}"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"broken HTTP answer: {exc}"
    if isinstance(exc, httpx.DecodingError):
        return f"cannot decode body: {exc}"
    return f"{type(exc).__name__}: {exc}"
