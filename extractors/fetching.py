"""Safe HTTP fetching: one shared async client, an overall deadline, a size cap, an address guard.

Every connection, including each redirect hop, goes through ``GuardedBackend``: it resolves the
host itself, refuses addresses the ``AddressPolicy`` does not allow (loopback, private,
link-local, CGNAT, multicast, ... and their IPv4-mapped IPv6 forms) and connects to the very
address it checked, so a second DNS answer cannot slip past the check (DNS rebinding).

The deadline covers the whole request (connect, redirects, every read), not each read: a server
that drips one byte at a time is cut off when the deadline passes. The size cap counts the body
after decompression, so a gzip bomb stops at the cap.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpcore
import httpx

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
        ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])
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
    if isinstance(ip, ipaddress.IPv6Address) and (ip.sixtofour or ip.teredo):
        return False
    return ip.is_global


async def system_resolver(host: str, port: int) -> list[str]:
    """Resolve ``host`` with the system resolver; IP literals come back as they are."""
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


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with its connection pool rebuilt on a ``GuardedBackend``."""

    def __init__(self, backend: GuardedBackend, limits: httpx.Limits) -> None:
        super().__init__(limits=limits, trust_env=False)
        # httpx has no public hook for the network backend; the pool it builds is replaced by
        # the same pool on our backend (the attribute has been stable across httpx 0.2x).
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )


@dataclass(frozen=True)
class FetchSettings:
    """Bounds and manners of every request (``[fetch]`` in the config)."""

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
            follow_redirects=True,
            max_redirects=settings.max_redirects,
            headers={"User-Agent": settings.user_agent, "Accept-Encoding": "gzip, deflate"},
            trust_env=False,
        )
        self._host_slots: dict[str, asyncio.Semaphore] = {}
        self._host_last: dict[str, float] = {}
        self._host_locks: dict[str, asyncio.Lock] = {}

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    @contextlib.asynccontextmanager
    async def _host_slot(self, host: str) -> AsyncIterator[None]:
        slot = self._host_slots.setdefault(
            host, asyncio.Semaphore(self.settings.per_host_concurrency)
        )
        async with slot:
            if self.settings.per_host_delay > 0:
                async with self._host_locks.setdefault(host, asyncio.Lock()):
                    wait = self._host_last.get(host, 0.0) + self.settings.per_host_delay
                    delay = wait - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    self._host_last[host] = time.monotonic()
            yield

    async def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        max_bytes: int | None = None,
        accept: str | None = None,
    ) -> FetchedResponse:
        """GET ``url`` within the deadline; raise a ``FetchError`` for anything unusable."""
        cap = max_bytes or self.settings.max_page_bytes
        headers: dict[str, str] = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        if accept:
            headers["Accept"] = accept
        try:
            request = self._client.build_request("GET", url, headers=headers)
        except (httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError) as exc:
            raise FetchError(f"invalid URL: {exc}", url=url) from exc
        host = request.url.host
        try:
            async with self._host_slot(host), asyncio.timeout(self.settings.timeout):
                return await self._send(request, cap)
        except TimeoutError as exc:
            raise FetchError(
                f"timed out: no complete answer within {self.settings.timeout:g} s", url=url
            ) from exc
        except httpx.TooManyRedirects as exc:
            raise FetchError(
                f"too many redirects (more than {self.settings.max_redirects})", url=url
            ) from exc
        except httpx.UnsupportedProtocol as exc:
            raise FetchError(f"unsupported redirect target: {exc}", url=url) from exc
        except httpx.TimeoutException as exc:
            raise FetchError(f"timed out: {type(exc).__name__}", url=url) from exc
        except httpx.HTTPError as exc:
            raise FetchError(f"{_describe(exc)}", url=url) from exc
        except BlockedAddressError as exc:
            raise BlockedAddressError(str(exc), url=url) from exc

    async def _send(self, request: httpx.Request, cap: int) -> FetchedResponse:
        response = await self._client.send(request, stream=True)
        try:
            final_url = str(response.url)
            if response.status_code == 304:
                return _answer(response, final_url, b"")
            if response.status_code >= 400 or response.status_code < 200:
                raise HTTPStatusError(
                    f"HTTP {response.status_code} {response.reason_phrase}".strip(),
                    url=final_url,
                    status=response.status_code,
                    retry_after=response.headers.get("retry-after"),
                )
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and "content-encoding" not in response.headers:
                if int(declared) > cap:
                    raise ResponseTooLarge(
                        f"response too large: {int(declared)} bytes declared, cap {cap}",
                        url=final_url,
                    )
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > cap:
                    raise ResponseTooLarge(
                        f"response too large: more than {cap} bytes (decompressed)", url=final_url
                    )
                chunks.append(chunk)
            return _answer(response, final_url, b"".join(chunks))
        finally:
            await response.aclose()


def _answer(response: httpx.Response, final_url: str, content: bytes) -> FetchedResponse:
    h = response.headers
    keep = ("content-type", "etag", "last-modified", "cache-control", "expires", "retry-after")
    return FetchedResponse(
        url=final_url,
        status=response.status_code,
        content=content,
        content_type=h.get("content-type"),
        etag=h.get("etag"),
        last_modified=h.get("last-modified"),
        headers={k: h[k] for k in keep if k in h},
    )


def _describe(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect: {exc or 'connection failed'}"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"broken HTTP answer: {exc}"
    if isinstance(exc, httpx.DecodingError):
        return f"cannot decode body: {exc}"
    return f"{type(exc).__name__}: {exc}"
