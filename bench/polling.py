"""Polling: 1,000 feeds on 200 loopback hosts, a first pass and an all-304 pass (issue 8).

The feeds are dealt round-robin over 200 hosts, 127.0.0.1 ... 127.0.0.200 (Linux routes all of
127/8 to the loopback interface), five feeds a host, and every answer comes after 50 ms. The
hosts are served by one asyncio listener per address in a separate process, so the pass being
timed does not share its interpreter with the server; the server records, per host, the most
requests it had in flight at once and the shortest gap between two requests' arrivals (the
kernel's receive timestamps, so a busy server does not shorten a gap by reading late).

Two passes of ``flows.passes.run_pass`` with the default politeness settings (plus
``allow_private_networks = ["127.0.0.0/8"]``), timed end to end:

* first: every feed answers 200 with a small RSS document (ETag and Last-Modified);
* not modified: every feed answers 304 to the conditional GET the first pass stored the
  validators for (``poll_all``, as ``newsmon run --all-feeds``, so no feed is skipped as not
  due).

What is measured is polling, not page fetching: the items of every feed are already stored in
the warehouse before the first pass (bulk-inserted, with the search index built), so both
passes find no new items and fetch no page. The poll stage (``poll_feeds``) is also timed on
its own; the rest of the pass is reading the feeds' state, recording the polls, looking the
items up, and the upkeep after the pass (match index, search index, snapshot).

Prints a table and writes bench/results/polling.json. Usage:

    uv run python bench/polling.py [--feeds N] [--hosts H] [--delay S] [--output PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import ipaddress
import math
import multiprocessing
import os
import pstats
import resource
import socket
import struct
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# the checkout importable when run as a script (the feed writer lives in tests/support)
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# project modules are imported inside the functions: the host server is a spawned process that
# re-imports this file, and it needs none of them

RESULTS = ROOT / "bench" / "results" / "polling.json"
TARGETS = {"first": 15.0, "not_modified": 5.0}
ITEMS_PER_FEED = 5
# gaps are the kernel's receive times, which the client's stamps (taken once a request is
# written) precede; the tolerance is for two clocks' granularity, not for anybody's latency
GAP_TOLERANCE = 0.001
ETAG = '"v1"'
LAST_MODIFIED = "Wed, 20 Nov 2019 12:00:00 GMT"


def host_addresses(count: int) -> list[str]:
    """127.0.0.1, 127.0.0.2, ...: ``count`` loopback addresses, one per host."""
    base = ipaddress.IPv4Address("127.0.0.0")
    return [str(base + i) for i in range(1, count + 1)]


# the host server (runs in its own process)


@dataclass
class _HostLog:
    """What one host saw: requests in flight, their start times, connections, statuses."""

    in_flight: int = 0
    max_in_flight: int = 0
    connections: int = 0
    max_connections: int = 0
    opened: int = 0
    starts: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)

    def summary(self) -> dict[str, Any]:
        starts = sorted(self.starts)
        gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
        return {
            "requests": len(starts),
            "max_in_flight": self.max_in_flight,
            "max_connections": self.max_connections,
            "connections_opened": self.opened,
            "min_gap": min(gaps) if gaps else None,
            "statuses": dict(self.statuses),
        }


@dataclass(frozen=True)
class _Document:
    body: bytes
    etag: str
    last_modified: str


# linux (asm-generic): the kernel stamps each packet it receives with its arrival time, so a gap
# between two requests is measured as they reached the host, however late the server reads them
SO_TIMESTAMPNS = 35


@dataclass(eq=False)
class _Connection:
    sock: socket.socket
    address: str
    log: _HostLog
    buffer: bytes = b""
    arrived: float = 0.0


class _Hosts:
    """The server side: a listener per address, documents by (address, path), the logs.

    Plain non-blocking sockets on the event loop (``add_reader``), read with ``recvmsg`` for
    the kernel's receive timestamps; each answer is sent ``delay`` seconds after its request
    (``call_later``), so no request waits for another.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, delay: float) -> None:
        self.loop = loop
        self.delay = delay
        self.documents: dict[tuple[str, str], _Document] = {}
        self.logs: dict[str, _HostLog] = {}
        self.listeners: list[socket.socket] = []
        self.connections: set[_Connection] = set()

    def listen(self, address: str) -> int:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind((address, 0))
        listener.listen(128)
        listener.setblocking(False)
        self.loop.add_reader(listener, self._accept, address, listener)
        self.listeners.append(listener)
        return int(listener.getsockname()[1])

    def _accept(self, address: str, listener: socket.socket) -> None:
        try:
            sock, _ = listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        log = self.logs.setdefault(address, _HostLog())
        log.connections += 1
        log.opened += 1
        log.max_connections = max(log.max_connections, log.connections)
        connection = _Connection(sock, address, log)
        self.connections.add(connection)
        self.loop.add_reader(sock, self._read, connection)

    def _read(self, c: _Connection) -> None:
        try:
            data, ancillary, _, _ = c.sock.recvmsg(65536, socket.CMSG_SPACE(16))
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data, ancillary = b"", []
        if not data:
            self._close(c)
            return
        if not c.buffer:  # the first packet of a request: when it reached the host
            c.arrived = _received_at(ancillary)
        c.buffer += data
        while b"\r\n\r\n" in c.buffer:
            head, _, c.buffer = c.buffer.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            c.log.starts.append(c.arrived)
            c.log.in_flight += 1
            c.log.max_in_flight = max(c.log.max_in_flight, c.log.in_flight)
            self.loop.call_later(self.delay, self._respond, c, lines[0], headers)

    def _respond(self, c: _Connection, line: str, headers: dict[str, str]) -> None:
        # before the first byte of the answer: the client cannot have its slot back yet
        c.log.in_flight -= 1
        status, head, body = self.answer(c.address, line, headers)
        c.log.statuses[status] += 1
        data = head + body
        try:
            sent = c.sock.send(data)
        except OSError:
            self._close(c)  # the client went away
            return
        if sent < len(data):
            self.loop.create_task(self.loop.sock_sendall(c.sock, data[sent:]))
        if headers.get("connection", "").lower() == "close":
            self._close(c)

    def _close(self, c: _Connection) -> None:
        if c in self.connections:
            self.connections.discard(c)
            self.loop.remove_reader(c.sock)
            c.sock.close()
            c.log.connections -= 1

    def close(self) -> None:
        for c in list(self.connections):
            self._close(c)
        for listener in self.listeners:
            self.loop.remove_reader(listener)
            listener.close()

    def answer(self, address: str, line: str, headers: dict[str, str]) -> tuple[int, bytes, bytes]:
        parts = line.split()
        path = parts[1] if len(parts) >= 2 else "/"
        document = self.documents.get((address, path))
        if document is None:
            return _response(404, b"not found\n", "text/plain")
        validators = {"ETag": document.etag, "Last-Modified": document.last_modified}
        if "if-none-match" in headers:
            # If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2)
            fresh = headers["if-none-match"] == document.etag
        else:
            fresh = headers.get("if-modified-since") == document.last_modified
        if fresh:
            return _response(304, b"", None, validators)
        return _response(200, document.body, "application/rss+xml; charset=utf-8", validators)

    def report(self) -> dict[str, dict[str, Any]]:
        return {address: log.summary() for address, log in self.logs.items()}


def _received_at(ancillary: list[tuple[int, int, bytes]]) -> float:
    """The kernel's receive time of a packet (wall clock, seconds), else now."""
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
            seconds, nanoseconds = struct.unpack("qq", data[:16])
            return float(seconds + nanoseconds / 1e9)
    return time.time()


def _response(
    status: int, body: bytes, content_type: str | None, extra: dict[str, str] | None = None
) -> tuple[int, bytes, bytes]:
    reason = {200: "OK", 304: "Not Modified", 404: "Not Found"}[status]
    lines = [f"HTTP/1.1 {status} {reason}"]
    if content_type:
        lines.append(f"Content-Type: {content_type}")
    lines += [f"{name}: {value}" for name, value in (extra or {}).items()]
    lines.append(f"Content-Length: {len(body)}")
    return status, ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"), body


def _server_main(conn: Connection, addresses: list[str], delay: float) -> None:
    """The host server process: bind, report the ports, serve until told to stop.

    Commands on ``conn``: a dict of documents (publish), ``"report"`` (the per-host logs),
    ``"reset"`` (clear the logs), ``"stop"``.
    """
    loop = asyncio.new_event_loop()
    hosts = _Hosts(loop, delay)
    conn.send({address: hosts.listen(address) for address in addresses})
    thread = threading.Thread(target=loop.run_forever, name="bench-hosts", daemon=True)
    thread.start()

    def in_loop(fn: Any) -> Any:
        async def call() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(call(), loop).result()

    try:
        while True:
            command = conn.recv()
            if command == "stop":
                break
            if command == "report":
                conn.send(in_loop(hosts.report))
            elif command == "reset":
                in_loop(hosts.logs.clear)
                conn.send("ok")
            elif isinstance(command, dict):
                hosts.documents.update(command)
                conn.send("ok")
    finally:
        in_loop(hosts.close)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.close()


class HostServer:
    """The parent's handle on the host server process."""

    def __init__(self, conn: Connection, ports: dict[str, int]) -> None:
        self._conn = conn
        self.ports = ports

    def _ask(self, command: Any) -> Any:
        self._conn.send(command)
        if not self._conn.poll(60):
            raise RuntimeError("the loopback host server stopped answering")
        return self._conn.recv()

    def publish(self, documents: dict[tuple[str, str], _Document]) -> None:
        self._ask(documents)

    def reset(self) -> None:
        self._ask("reset")

    def report(self) -> dict[str, dict[str, Any]]:
        return dict(self._ask("report"))


@contextlib.contextmanager
def serve_hosts(addresses: list[str], delay: float) -> Iterator[HostServer]:
    """Serve ``addresses`` (port 0 each) from a separate process for the ``with`` block."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(
        target=_server_main, args=(child, addresses, delay), name="bench-polling-hosts"
    )
    process.start()
    child.close()
    try:
        try:
            if not parent.poll(120):
                raise EOFError
            ports = parent.recv()
        except EOFError:
            raise RuntimeError(
                f"the loopback host server did not start (exit code {process.exitcode})"
            ) from None
        yield HostServer(parent, ports)
    finally:
        with contextlib.suppress(OSError):
            parent.send("stop")
        process.join(timeout=10)
        if process.is_alive():
            process.terminate()
            process.join(timeout=5)
        parent.close()


# the feeds and the warehouse


@dataclass(frozen=True)
class BenchFeed:
    name: str
    address: str
    path: str
    url: str
    item_urls: tuple[str, ...]


def make_feeds(
    ports: dict[str, int], feeds: int, items: int
) -> tuple[list[BenchFeed], dict[tuple[str, str], _Document]]:
    """``feeds`` feeds dealt round-robin over the hosts, each listing ``items`` articles."""
    from tests.support.sites import FeedEntry, rss_feed

    addresses = list(ports)
    newest = datetime(2019, 11, 20, 12, 0, tzinfo=UTC)
    made: list[BenchFeed] = []
    documents: dict[tuple[str, str], _Document] = {}
    for index in range(feeds):
        address = addresses[index % len(addresses)]
        number = index // len(addresses)
        base = f"http://{address}:{ports[address]}"
        path = f"/feeds/{number}.xml"
        entries = [
            FeedEntry(
                url=f"{base}/articles/{number}-{item}.html",
                title=f"host {address} feed {number} item {item}",
                published=newest - timedelta(hours=item),
            )
            for item in range(items)
        ]
        body = rss_feed(entries, title=f"feed {number} of {address}", link=base + "/")
        documents[(address, path)] = _Document(body, ETAG, LAST_MODIFIED)
        made.append(
            BenchFeed(
                f"{address}-{number}", address, path, base + path, tuple(e.url for e in entries)
            )
        )
    return made, documents


def seed_warehouse(db_path: Path, feeds: list[BenchFeed]) -> int:
    """Store every item's article (bulk, untimed) so the passes find nothing new to fetch."""
    import pyarrow as pa

    from extractors.urls import canonicalize_url
    from warehouse.connection import open_warehouse
    from warehouse.loads import ARTICLE_SCHEMA
    from warehouse.search import rebuild_search_index

    fetched = datetime(2019, 11, 20, 13, 0, tzinfo=UTC)
    rows: dict[str, list[Any]] = {name: [] for name in ARTICLE_SCHEMA.names}
    urls: dict[str, str] = {}
    for feed in feeds:
        for number, url in enumerate(feed.item_urls):
            canonical = canonicalize_url(url)
            article_id = f"{feed.name}-{number}"
            values = {
                "article_id": article_id,
                "url": url,
                "canonical_url": canonical,
                "feed_url": feed.url,
                "source": feed.address,
                "title": f"item {number} of {feed.name}",
                "fetched_at": fetched,
                "text": f"item {number} of {feed.name}",
                "text_hash": "url:" + article_id,
                "text_source": "feed",
                "us_russia": False,
                "relevance": 0.0,
                "relevance_terms": [],
                "run_id": "bench-polling-seed",
            }
            for name in ARTICLE_SCHEMA.names:
                rows[name].append(values.get(name))
            urls[canonical] = article_id
    with open_warehouse(db_path) as con:
        con.register("seed_articles", pa.table(rows, schema=ARTICLE_SCHEMA))
        con.execute(
            f"INSERT INTO articles ({', '.join(ARTICLE_SCHEMA.names)}) "
            f"SELECT {', '.join(ARTICLE_SCHEMA.names)} FROM seed_articles"
        )
        con.register("seed_urls", pa.table({"url": list(urls), "article_id": list(urls.values())}))
        con.execute("INSERT INTO article_urls SELECT url, article_id FROM seed_urls")
    rebuild_search_index(db_path)  # a pass rebuilds it only when articles changed
    return len(urls)


def measure_pass(
    config: Any, db_path: Path, run_id: str, *, poll_all: bool, profile: Path | None
) -> dict[str, Any]:
    """One ``run_pass``, timed end to end, with its poll stage timed on its own."""
    from flows.passes import Stages, run_pass

    poll = Stages().poll
    poll_seconds: list[float] = []

    async def timed_poll(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await poll(*args, **kwargs)
        finally:
            poll_seconds.append(time.perf_counter() - started)

    profiler = cProfile.Profile() if profile else None
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    stats = asyncio.run(
        run_pass(config, db_path, run_id=run_id, stages=Stages(poll=timed_poll), poll_all=poll_all)
    )
    if profiler:
        profiler.disable()
    seconds = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    if profiler and profile:
        profile.parent.mkdir(parents=True, exist_ok=True)
        profiler.dump_stats(profile)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    return {
        "seconds": seconds,
        "poll_seconds": sum(poll_seconds),
        "rest_seconds": seconds - sum(poll_seconds),
        # this process only: the host server is another process
        "main_process_cpu_seconds": (cpu_after.ru_utime - cpu_before.ru_utime)
        + (cpu_after.ru_stime - cpu_before.ru_stime),
        "status": stats.status,
        "feeds_polled": stats.feeds_polled,
        "feeds_skipped": stats.feeds_skipped,
        "feeds_failed": stats.feeds_failed,
        "feeds_not_modified": stats.feeds_not_modified,
        "items_seen": stats.items_seen,
        "items_new": stats.items_new,
        "pages_fetched": stats.pages_fetched,
        "errors": stats.errors,
    }


def politeness(
    report: dict[str, dict[str, Any]], concurrency: int, min_gap: float
) -> dict[str, Any]:
    """The worst host against the configured per-host concurrency and minimum gap."""
    busiest = max(report.items(), key=lambda kv: kv[1]["max_in_flight"], default=None)
    gaps = [(a, h["min_gap"]) for a, h in report.items() if h["min_gap"] is not None]
    closest = min(gaps, key=lambda kv: kv[1], default=None)
    statuses: Counter[int] = Counter()
    for host in report.values():
        statuses.update({int(k): v for k, v in host["statuses"].items()})
    max_in_flight = busiest[1]["max_in_flight"] if busiest else 0
    observed_gap = closest[1] if closest else None
    return {
        "hosts_seen": len(report),
        "requests": sum(h["requests"] for h in report.values()),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "max_in_flight_per_host": max_in_flight,
        "max_in_flight_host": busiest[0] if busiest else None,
        "max_connections_per_host": max((h["max_connections"] for h in report.values()), default=0),
        "connections_opened": sum(h["connections_opened"] for h in report.values()),
        "min_gap_per_host": observed_gap,
        "min_gap_host": closest[0] if closest else None,
        "configured_per_host_concurrency": concurrency,
        "configured_per_host_delay": min_gap,
        "gap_tolerance": GAP_TOLERANCE,
        "holds": max_in_flight <= concurrency
        and (observed_gap is None or observed_gap >= min_gap - GAP_TOLERANCE),
    }


def run(
    *,
    feeds: int = 1000,
    hosts: int = 200,
    delay: float = 0.05,
    output: Path | None = None,
    items: int = ITEMS_PER_FEED,
    per_host_delay: float | None = None,
    profile: Path | None = None,
) -> dict[str, Any]:
    """Serve ``feeds`` feeds over ``hosts`` loopback hosts answering after ``delay`` seconds;
    time a first pass and an all-304 pass. ``per_host_delay`` overrides the default minimum
    gap between requests to one host (``[fetch] per_host_delay_seconds``); ``profile`` is a
    folder for a cProfile dump of each pass. Writes the result to ``output`` if given."""
    from bench.machine import machine_info, write_result
    from flows.config import parse_config

    load_before = os.getloadavg()
    fetch: dict[str, Any] = {"allow_private_networks": ["127.0.0.0/8"]}
    if per_host_delay is not None:
        fetch["per_host_delay_seconds"] = per_host_delay
    addresses = host_addresses(hosts)
    passes: dict[str, Any] = {}
    with (
        tempfile.TemporaryDirectory(prefix="newsmon-bench-") as folder,
        serve_hosts(addresses, delay) as server,
    ):
        bench_feeds, documents = make_feeds(server.ports, feeds, items)
        server.publish(documents)
        config = parse_config(
            {"feeds": [{"name": f.name, "url": f.url} for f in bench_feeds], "fetch": fetch}
        )
        settings = config.fetch.settings()
        db_path = Path(folder) / "bench.duckdb"
        seeded = seed_warehouse(db_path, bench_feeds)
        for name, poll_all in (("first", False), ("not_modified", True)):
            server.reset()
            measured = measure_pass(
                config,
                db_path,
                f"bench-polling-{name}",
                poll_all=poll_all,
                profile=profile / f"polling-{name}.prof" if profile else None,
            )
            measured["server"] = politeness(
                server.report(), settings.per_host_concurrency, settings.per_host_delay
            )
            measured["target_seconds"] = TARGETS[name]
            measured["meets_target"] = measured["seconds"] <= TARGETS[name]
            passes[name] = measured
    per_host = math.ceil(feeds / hosts)
    result = {
        "benchmark": "polling",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "feeds": feeds,
        "hosts": hosts,
        "items_per_feed": items,
        "articles_seeded": seeded,
        "answer_delay_seconds": delay,
        "settings": {
            "per_host_concurrency": settings.per_host_concurrency,
            "per_host_delay": settings.per_host_delay,
            "max_connections": settings.max_connections,
        },
        # the least a pass could take with these settings: the busiest host's requests in
        # rounds of per_host_concurrency, or every request through max_connections at once
        "floor_seconds": max(
            math.ceil(per_host / settings.per_host_concurrency) * delay
            + (per_host - 1) * settings.per_host_delay / settings.per_host_concurrency,
            feeds * delay / settings.max_connections,
        ),
        "passes": passes,
        "ok": all(
            p["meets_target"]
            and p["server"]["holds"]
            and p["status"] == "completed"
            and p["feeds_failed"] == 0
            and p["server"]["requests"] == feeds
            for p in passes.values()
        )
        and passes["not_modified"]["feeds_not_modified"] == feeds,
        "machine": machine_info(load_before),
    }
    write_result(output, result)
    return result


def print_table(result: dict[str, Any]) -> None:
    settings = result["settings"]
    print(
        f"{result['feeds']} feeds on {result['hosts']} loopback hosts, answers after "
        f"{result['answer_delay_seconds'] * 1000:.0f} ms; per host at most "
        f"{settings['per_host_concurrency']} at once, {settings['per_host_delay']:g} s apart; "
        f"{result['machine']['cpu_count']} CPUs"
    )
    print(
        f"{'pass':<14} {'seconds':>8} {'poll':>6} {'rest':>6} {'target':>7} "
        f"{'200':>5} {'304':>5} {'failed':>6} {'in flight':>9} {'min gap':>8}  ok"
    )
    for name, p in result["passes"].items():
        server = p["server"]
        gap = server["min_gap_per_host"]
        print(
            f"{name:<14} {p['seconds']:>8.2f} {p['poll_seconds']:>6.2f} {p['rest_seconds']:>6.2f} "
            f"{p['target_seconds']:>7.1f} {server['statuses'].get('200', 0):>5} "
            f"{server['statuses'].get('304', 0):>5} {p['feeds_failed']:>6} "
            f"{server['max_in_flight_per_host']:>9} "
            f"{'-' if gap is None else f'{gap * 1000:.1f} ms':>8}  "
            f"{'yes' if p['meets_target'] and server['holds'] else 'NO'}"
        )
    print(
        f"floor {result['floor_seconds']:.2f} s; load average "
        f"{result['machine']['load_average_before'][0]:.2f} before, "
        f"{result['machine']['load_average_after'][0]:.2f} after; "
        f"{'all targets met' if result['ok'] else 'TARGETS MISSED'}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--feeds", type=int, default=1000, help="feeds (default: 1000)")
    parser.add_argument("--hosts", type=int, default=200, help="loopback hosts (default: 200)")
    parser.add_argument(
        "--delay", type=float, default=0.05, help="seconds before each answer (default: 0.05)"
    )
    parser.add_argument(
        "--items",
        type=int,
        default=ITEMS_PER_FEED,
        help=f"items a feed (default: {ITEMS_PER_FEED})",
    )
    parser.add_argument(
        "--per-host-delay",
        type=float,
        default=None,
        help="override [fetch] per_host_delay_seconds (default: the default setting)",
    )
    parser.add_argument(
        "--profile", type=Path, default=None, help="write a cProfile dump of each pass here"
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"default: {RESULTS}")
    args = parser.parse_args(argv)
    if args.feeds < 1 or args.items < 1:
        parser.error("--feeds and --items must be at least 1")
    if not 1 <= args.hosts <= 65000:
        parser.error("--hosts must be between 1 and 65000 (addresses in 127/8)")
    if args.delay < 0:
        parser.error("--delay must not be negative")
    if sys.platform != "linux":
        # only linux answers on every 127/8 address without configuring aliases
        print("cannot run: needs Linux (127.0.0.2 and up on the loopback)", file=sys.stderr)
        return 1
    result = run(
        feeds=args.feeds,
        hosts=args.hosts,
        delay=args.delay,
        output=args.output,
        items=args.items,
        per_host_delay=args.per_host_delay,
        profile=args.profile,
    )
    print_table(result)
    print(f"written to {args.output}")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
