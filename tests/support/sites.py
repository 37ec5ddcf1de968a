"""A loopback HTTP site for tests and benchmarks: real sockets, nothing beyond loopback.

``serve_site()`` starts a ``ThreadingHTTPServer`` on 127.0.0.1 (a free port; ``host`` picks
another loopback address, as Linux answers on all of 127/8) in a background thread and yields
a ``Site``: mutable ``routes`` (path -> ``Route``), ``url(path)``, and a log of every request
with its headers, so a test can assert what the client sent (conditional GET validators,
Accept, User-Agent). A route with an ``etag`` (or ``last_modified``) answers a
matching conditional GET with 304; a route with ``gzip=True`` is sent gzip-encoded when the
client accepts it; a route with a ``delay`` waits before answering.

On exit the server stops accepting, open keep-alive connections are shut, pending delays are
cut short and every handler thread is joined, so nothing outlives the ``with`` block.
"""

from __future__ import annotations

import gzip
import html
import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

LOGGER = logging.getLogger(__name__)


@dataclass
class Route:
    """How the site answers GET ``path``; mutable, so a test can change it between requests.

    ``headers`` are sent as given (after Content-Type); ``etag`` is sent as the ``ETag`` header
    and honoured in ``If-None-Match``; ``last_modified`` likewise with ``If-Modified-Since``
    (compared as strings, as a client echoes them). ``delay`` seconds pass before the status
    line is written.
    """

    body: bytes = b""
    status: int = 200
    content_type: str | None = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    gzip: bool = False
    delay: float = 0.0


@dataclass(frozen=True)
class LoggedRequest:
    """One request as the site received it; ``headers`` has lower-cased names."""

    method: str
    path: str
    headers: Mapping[str, str]
    at: float

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class Site:
    """The running site: its routes, its request log and its base URL."""

    def __init__(self, base_url: str, closing: threading.Event) -> None:
        self.base_url = base_url
        self.routes: dict[str, Route] = {}
        self._log: list[LoggedRequest] = []
        self._lock = threading.Lock()
        self._closing = closing

    def url(self, path: str) -> str:
        """The absolute URL of ``path`` on this site."""
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def add(
        self,
        path: str,
        body: bytes | str = b"",
        *,
        status: int = 200,
        content_type: str | None = "text/html; charset=utf-8",
        headers: Mapping[str, str] | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
        gzip: bool = False,
        delay: float = 0.0,
    ) -> Route:
        """Add (or replace) the route for ``path`` and return it; ``str`` bodies go as UTF-8."""
        route = Route(
            body=body.encode("utf-8") if isinstance(body, str) else body,
            status=status,
            content_type=content_type,
            headers=dict(headers or {}),
            etag=etag,
            last_modified=last_modified,
            gzip=gzip,
            delay=delay,
        )
        self.routes[path] = route
        return route

    @property
    def requests(self) -> list[LoggedRequest]:
        """Every request received so far, in arrival order (a copy)."""
        with self._lock:
            return list(self._log)

    def requests_for(self, path: str) -> list[LoggedRequest]:
        """The requests whose path (query string ignored) is ``path``."""
        return [r for r in self.requests if r.path.split("?", 1)[0] == path]

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()

    def _record(self, request: LoggedRequest) -> None:
        with self._lock:
            self._log.append(request)

    def _route(self, path: str) -> Route | None:
        return self.routes.get(path) or self.routes.get(path.split("?", 1)[0])

    def _wait(self, seconds: float) -> bool:
        """Sleep ``seconds`` unless the site is closing; true if the site is closing."""
        return self._closing.wait(seconds)


class _Server(ThreadingHTTPServer):
    # handler threads are joined on close (socketserver's block_on_close), not abandoned
    daemon_threads = False
    block_on_close = True
    site: Site

    def __init__(self, host: str = "127.0.0.1") -> None:
        super().__init__((host, 0), _Handler)
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # a client that hangs up early (timeouts, cancelled fetches) is routine, not a failure
        LOGGER.debug("loopback site: error serving %s", client_address, exc_info=True)

    def close_connections(self) -> None:
        with self.connections_lock:
            open_now = list(self.connections)
        for conn in open_now:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by its handler


def _accepts_gzip(value: str | None) -> bool:
    for part in (value or "").split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() in ("gzip", "x-gzip", "*"):
            return params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    if header.strip() == "*":
        return True
    # weak comparison (RFC 9110 13.1.2): W/"x" matches "x"
    tags = {t.strip().removeprefix("W/") for t in header.split(",")}
    return etag.removeprefix("W/") in tags


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # an idle keep-alive connection ends its thread after this many seconds
    timeout = 10

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)
        if self.server.site._closing.is_set():
            # accepted just before the site closed: close_connections may have missed it
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass  # the client went away before the buffer was flushed

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        site = self.server.site
        headers = {name.lower(): value for name, value in self.headers.items()}
        site._record(LoggedRequest("GET", self.path, headers, time.monotonic()))
        route = site._route(self.path)
        if route is None:
            self._send(404, b"not found\n", "text/plain; charset=utf-8")
            return
        if route.delay > 0 and site._wait(route.delay):
            self.close_connection = True
            return
        extra = dict(route.headers)
        if route.etag is not None:
            extra["ETag"] = route.etag
        if route.last_modified is not None:
            extra["Last-Modified"] = route.last_modified
        if route.status == 200 and self._not_modified(route, headers):
            self.send_response(304)
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = route.body
        if route.gzip and _accepts_gzip(headers.get("accept-encoding")):
            body = gzip.compress(body, compresslevel=6)
            extra["Content-Encoding"] = "gzip"
            extra["Vary"] = "Accept-Encoding"
        self._send(route.status, body, route.content_type, extra)

    def _not_modified(self, route: Route, headers: Mapping[str, str]) -> bool:
        if route.etag is not None and "if-none-match" in headers:
            # If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2)
            return _etag_matches(headers["if-none-match"], route.etag)
        if route.last_modified is not None:
            return headers.get("if-modified-since") == route.last_modified
        return False

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str | None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # the request log on the Site replaces the access log


@contextmanager
def serve_site(
    routes: Mapping[str, Route] | None = None, *, host: str = "127.0.0.1"
) -> Iterator[Site]:
    """Serve a ``Site`` on ``host`` (a loopback address; a free port) for the ``with`` block."""
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"{host} is not a loopback address: the site serves loopback only")
    closing = threading.Event()
    server = _Server(host)
    bound, port = server.server_address[:2]
    site = Site(f"http://{bound!s}:{port}", closing)
    site.routes.update(routes or {})
    server.site = site
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name=f"loopback-site-{port}",
        daemon=True,
    )
    thread.start()
    try:
        yield site
    finally:
        closing.set()
        server.shutdown()
        server.close_connections()
        server.server_close()
        thread.join(timeout=5)


@dataclass(frozen=True)
class FeedEntry:
    """One item of a feed served by the site; ``published`` is timezone-aware."""

    url: str
    title: str
    published: datetime
    guid: str | None = None


def rss_feed(
    entries: Iterable[FeedEntry], *, title: str = "loopback site", link: str = "http://127.0.0.1/"
) -> bytes:
    """An RSS 2.0 document (UTF-8) listing ``entries`` in the order given."""
    e = html.escape
    items = "".join(
        f"""  <item>
    <title>{e(entry.title)}</title>
    <link>{e(entry.url)}</link>
    <guid isPermaLink="{"false" if entry.guid else "true"}">{e(entry.guid or entry.url)}</guid>
    <pubDate>{format_datetime(entry.published.astimezone(UTC), usegmt=True)}</pubDate>
  </item>
"""
        for entry in entries
    )
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0">
<channel>
  <title>{e(title)}</title>
  <link>{e(link)}</link>
  <description>{e(title)}</description>
{items}</channel>
</rss>
""".encode()
