"""A loopback webhook receiver for alert tests: records every POST, answers scripted statuses."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Receiver:
    """What the receiver got; ``statuses`` are answered in order, then 200 for ever."""

    port: int
    statuses: list[int] = field(default_factory=list)
    posts: list[dict[str, Any]] = field(default_factory=list)
    answered: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str = "/hook") -> str:
        """The Apprise json:// URL that posts here."""
        return f"json://127.0.0.1:{self.port}{path}"

    @property
    def delivered(self) -> list[dict[str, Any]]:
        """The posts that were answered with a 2xx."""
        with self.lock:
            return [p for p, s in zip(self.posts, self.answered, strict=True) if s < 300]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        receiver = self.server.receiver
        with receiver.lock:
            status = receiver.statuses.pop(0) if receiver.statuses else 200
            receiver.posts.append(body)
            receiver.answered.append(status)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    receiver: Receiver


@contextmanager
def webhook_receiver(statuses: list[int] | None = None) -> Iterator[Receiver]:
    """Run a receiver on 127.0.0.1 (a free port) for the duration of the block."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.receiver = Receiver(port=int(server.server_address[1]), statuses=list(statuses or []))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
