"""The network side of the tests: a loopback-only guard, scripted servers and hostile answers.

No test sends a packet beyond loopback, even with the code under test broken: the autouse
``loopback_only`` guard (a test module turns it on by importing it) refuses every socket
connect to a non-loopback address, recording it, and lets the resolver read only numeric hosts
and the ``localhost`` names it answers itself, so no DNS query ever leaves. Non-loopback
targets are reached only through ``stub_resolver``. ``scripted_server`` answers each request
with a function (``answer``, a slow ``drip``); ``canary`` listens on 127.0.0.2, where nothing
may arrive; ``gzip_bomb`` makes a small body that inflates to a gibibyte.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

LOOPBACK_ONLY = ("127.0.0.1/32",)
MB = 1024 * 1024


class NetworkGuard:
    """What the tests' code tried to reach beyond loopback; each attempt refused before opening.

    ``refused`` holds the addresses of refused connects; ``names`` every host name resolved.
    """

    def __init__(self) -> None:
        self.refused: list[tuple[Any, ...]] = []
        self.names: list[str] = []


def _is_loopback(address: object) -> bool:
    if not isinstance(address, tuple):
        return True  # an AF_UNIX path: the extraction pool's forkserver
    try:
        ip = ipaddress.ip_address(str(address[0]).split("%", 1)[0])
    except ValueError:
        return False  # a name at connect time: nobody should connect to one
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[NetworkGuard]:
    guard = NetworkGuard()
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> None:
        if not _is_loopback(address):
            guard.refused.append(tuple(address))
            raise ConnectionRefusedError(f"test guard: no connection to {address!r}")
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if not _is_loopback(address):
            guard.refused.append(tuple(address))
            return 111  # ECONNREFUSED
        return real_connect_ex(self, address)

    def getaddrinfo(
        host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
    ) -> Any:
        if host is None:
            return real_getaddrinfo(host, port, family, type, proto, flags)
        name = (host.decode() if isinstance(host, bytes) else str(host)).lower().rstrip(".")
        guard.names.append(name)
        # /etc/hosts' answers, given here so that no lookup can fall through to dns
        if name == "localhost":
            host = "127.0.0.1"
        elif name.endswith(".localhost"):  # rfc 6761: any loopback address; here the canary's
            host = "127.0.0.2"
        # anything else must be numeric ("127.2" and "2130706434" are): no dns query, ever
        return real_getaddrinfo(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield guard
    assert guard.refused == [], f"connections beyond loopback were attempted: {guard.refused}"


@contextmanager
def scripted_server(
    respond: Callable[[BaseHTTPRequestHandler, threading.Event], None],
    host: str = "127.0.0.1",
) -> Iterator[ScriptedServer]:
    """A one-request-per-connection HTTP server on ``host``; ``respond`` writes each answer.

    ``respond`` gets the handler and a ``stop`` event set when the server closes, so a slow
    answer ends by itself; handler threads are joined on exit.
    """
    stop = threading.Event()
    server = _ScriptedHTTPServer((host, 0), respond, stop)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield ScriptedServer(host, int(server.server_address[1]), server.log)
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class ScriptedServer:
    def __init__(self, host: str, port: int, log: list[str]) -> None:
        self.host = host
        self.port = port
        self.requests = log

    def url(self, path: str = "/", host: str | None = None) -> str:
        return f"http://{host or self.host}:{self.port}{path}"


class _ScriptedHTTPServer(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True

    def __init__(
        self,
        address: tuple[str, int],
        respond: Callable[[BaseHTTPRequestHandler, threading.Event], None],
        stop: threading.Event,
    ) -> None:
        self.respond = respond
        self.stop = stop
        self.log: list[str] = []
        super().__init__(address, _ScriptedHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hanging up on slow answers is the point of these servers


class _ScriptedHandler(BaseHTTPRequestHandler):
    server: _ScriptedHTTPServer
    protocol_version = "HTTP/1.1"
    timeout = 5

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.server.log.append(self.path)
        self.close_connection = True
        self.server.respond(self, self.server.stop)

    def do_POST(self) -> None:  # noqa: N802 - a webhook's request, body read and dropped
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(min(length, 1024 * 1024))
        self.do_GET()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def answer(
    handler: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str]
) -> None:
    handler.send_response(status)
    for name, value in headers.items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.send_header("Connection", "close")
    handler.end_headers()
    handler.wfile.write(body)


def canary_answer(handler: BaseHTTPRequestHandler, stop: threading.Event) -> None:
    answer(handler, 200, b"<rss version='2.0'><channel><title>canary</title></channel></rss>", {})


@contextmanager
def canary() -> Iterator[ScriptedServer]:
    """A server on 127.0.0.2 that nothing in a test may reach; check its ``requests``."""
    with scripted_server(canary_answer, host="127.0.0.2") as server:
        yield server


def dripping(
    every: float = 0.05, length: int = 100000
) -> Callable[[BaseHTTPRequestHandler, threading.Event], None]:
    """An answer: headers at once, then one byte of ``length`` every ``every`` seconds until
    the body is whole or the client or the server gives up."""

    def respond(handler: BaseHTTPRequestHandler, stop: threading.Event) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/rss+xml")
        handler.send_header("Content-Length", str(length))
        handler.end_headers()
        handler.wfile.flush()
        for _ in range(length):
            if stop.wait(every):
                return
            try:
                handler.wfile.write(b" ")
                handler.wfile.flush()
            except OSError:
                return

    return respond


drip = dripping()


@contextmanager
def drip_server() -> Iterator[ScriptedServer]:
    with scripted_server(drip) as server:
        yield server


def gzip_bomb(decompressed: int = 1024 * MB) -> bytes:
    """A gzip stream of ``decompressed`` zero bytes in ~1/1000 of the size, built in ms.

    Full flushes make each compressed mebibyte of zeros byte-identical, so one is repeated;
    the trailer is left off (a client must stop long before it).
    """
    zeros = bytes(MB)
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    head = packer.compress(zeros) + packer.flush(zlib.Z_FULL_FLUSH)
    block = packer.compress(zeros) + packer.flush(zlib.Z_FULL_FLUSH)
    return head + block * (decompressed // MB - 1)


def stub_resolver(table: dict[str, list[str]], calls: list[str] | None = None) -> Any:
    async def resolve(host: str, port: int) -> list[str]:
        if calls is not None:
            calls.append(host)
        return table.get(host, [host])

    return resolve
