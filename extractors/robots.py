"""robots.txt (RFC 9309) for article pages: fetched once per host and pass, then obeyed.

Feeds are not checked: a feed is published to be polled. Each article page, and each hop of
its redirects, is checked against the robots.txt of its origin (scheme, host and port),
fetched through the same guarded ``Fetcher`` and read up to ``max_robots_bytes``
(RFC 9309 2.5).

What an answer means (RFC 9309 2.3.1):

- 2xx: its rules apply: the groups naming our product token (``newsmon``) merged, else the
  ``*`` groups merged, else none; the longest matching path wins, ``allow`` on a tie; ``*``
  and ``$`` are understood. ``urllib.robotparser`` is not used: it takes the first match,
  not the longest, and knows neither wildcard.
- 4xx (but 429): "unavailable", everything is allowed.
- 429, 5xx, or no answer at all (timeout, refused connection, broken body): "unreachable",
  everything is disallowed for ``UNREACHABLE_TTL``. After a 429/5xx (a server that is up and
  asks for patience) the denial is ``temporary``: the pipeline leaves the pages for a later
  pass. Without any answer the page itself could not be fetched either; the pipeline keeps
  the feed's summary, as for any page that cannot be had.

Answers are kept in memory for the pass (at most ``RULES_TTL``, RFC 9309 2.4's 24 hours).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from extractors.errors import BlockedAddressError, FetchError, HTTPStatusError
from extractors.fetching import Fetcher

LOGGER = logging.getLogger(__name__)

PRODUCT_TOKEN = "newsmon"
RULES_TTL = 24 * 3600.0
UNREACHABLE_TTL = 600.0

_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
# printable ascii stays as written (quote's safe set); everything else is percent-encoded
_SAFE = "".join(chr(c) for c in range(0x21, 0x7F))


class RobotsDenied(FetchError):
    """robots.txt does not let us fetch ``url``.

    ``temporary`` is true when the server answered robots.txt with 429 or 5xx: the page is
    not refused for good, only not fetched now.
    """

    def __init__(self, message: str, *, url: str, temporary: bool = False) -> None:
        self.temporary = temporary
        super().__init__(message, url=url)


@dataclass(frozen=True)
class RobotsRules:
    """The rules of a robots.txt that apply to one product token: (pattern, allow) pairs."""

    rules: tuple[tuple[str, bool], ...] = ()

    def allows(self, path: str) -> bool:
        """Whether ``path`` (path and query of a URL) may be fetched."""
        target = _normalise(path or "/")
        if target == "/robots.txt":
            return True
        best: tuple[int, bool] | None = None
        for pattern, allow in self.rules:
            if _matches(pattern, target):
                rank = (len(pattern), allow)  # longest wins, then allow
                if best is None or rank > best:
                    best = rank
        return True if best is None else best[1]


def parse_robots(text: str, product: str = PRODUCT_TOKEN) -> RobotsRules:
    """The rules ``text`` sets for ``product`` (RFC 9309 2.1-2.2)."""
    groups: list[tuple[list[str], list[tuple[str, bool]]]] = []
    agents: list[str] = []
    rules: list[tuple[str, bool]] = []
    in_rules = False
    for key, value in _records(text):
        if key == "user-agent":
            if in_rules:  # a user-agent line after rules starts a new group
                groups.append((agents, rules))
                agents, rules, in_rules = [], [], False
            agents.append(_agent_token(value))
        elif key in ("allow", "disallow"):
            if not agents:
                continue  # rules before any user-agent line belong to no group
            in_rules = True
            if value:  # "Disallow:" with no path is no rule
                rules.append((_normalise(value), key == "allow"))
    if agents:
        groups.append((agents, rules))
    product = product.lower()
    mine = [r for names, group in groups if product in names for r in group]
    if not any(product in names for names, _ in groups):
        mine = [r for names, group in groups if "*" in names for r in group]
    return RobotsRules(tuple(mine))


def _records(text: str) -> Iterable[tuple[str, str]]:
    for line in text.removeprefix("\ufeff").splitlines():
        line = line.split("#", 1)[0]
        key, colon, value = line.partition(":")
        if colon:
            yield key.strip().lower(), value.strip()


def _agent_token(value: str) -> str:
    # "newsmon/1.0 (+https://...)" names the product token newsmon
    return value.split("/", 1)[0].strip().split(" ", 1)[0].lower()


def _normalise(path: str) -> str:
    """Percent-encode as RFC 9309 2.2.2 compares: non-ascii encoded, unreserved decoded."""
    encoded = quote(path, safe=_SAFE)

    def one(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _UNRESERVED else "%" + match.group(1).upper()

    return _ESCAPE.sub(one, encoded)


def _matches(pattern: str, path: str) -> bool:
    """Whether ``path`` starts with ``pattern``, ``*`` standing for any run, ``$`` for the end.

    A left-to-right scan (each literal piece found at its first place), never a regex:
    a hostile pattern of many ``*`` cannot make matching explode.
    """
    anchored = pattern.endswith("$")
    if anchored:
        pattern = pattern[:-1]
    pieces = pattern.split("*")
    if not path.startswith(pieces[0]):
        return False
    pos = len(pieces[0])
    if len(pieces) == 1:
        return pos == len(path) if anchored else True
    for piece in pieces[1:-1]:
        found = path.find(piece, pos)
        if found < 0:
            return False
        pos = found + len(piece)
    last = pieces[-1]
    if anchored:
        return path.endswith(last) and len(path) - len(last) >= pos
    return path.find(last, pos) >= 0


@dataclass(frozen=True)
class _Answer:
    rules: RobotsRules | None  # None: unreachable, nothing may be fetched
    reason: str
    expires: float
    temporary: bool = False  # unreachable, but the server answered (429, 5xx)


class RobotsCache:
    """The robots.txt answers of one pass, fetched on first use per origin.

    ``check(url)`` returns when ``url`` may be fetched and raises ``RobotsDenied`` when not;
    it has the shape of ``Fetcher.fetch``'s ``check_hop``, so redirects are checked too.
    """

    def __init__(
        self,
        fetcher: Fetcher,
        *,
        product: str = PRODUCT_TOKEN,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetcher = fetcher
        self._product = product
        self._clock = clock
        self._answers: dict[str, _Answer] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def check(self, url: str) -> None:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}".lower()
        async with self._locks.setdefault(origin, asyncio.Lock()):
            answer = self._answers.get(origin)
            if answer is None or answer.expires <= self._clock():
                answer = await self._load(origin)
                self._answers[origin] = answer
        if answer.rules is None:
            raise RobotsDenied(
                f"robots.txt unreachable ({answer.reason}): {origin} not fetched for now",
                url=url,
                temporary=answer.temporary,
            )
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if not answer.rules.allows(path):
            raise RobotsDenied(f"disallowed by {origin}/robots.txt", url=url)

    async def _load(self, origin: str) -> _Answer:
        url = origin + "/robots.txt"
        now = self._clock()
        try:
            response = await self._fetcher.fetch(
                url,
                max_bytes=self._fetcher.settings.max_robots_bytes,
                truncate=True,
                accept="text/plain",
            )
        except BlockedAddressError:
            raise  # the page itself is refused: say that, not something about robots.txt
        except HTTPStatusError as exc:
            if 400 <= exc.status < 500 and exc.status != 429:
                LOGGER.info("%s: HTTP %d, every page allowed", url, exc.status)
                return _Answer(RobotsRules(), f"HTTP {exc.status}", now + RULES_TTL)
            LOGGER.warning("%s: %s; not fetching from %s for now", url, exc, origin)
            return _Answer(None, str(exc), now + UNREACHABLE_TTL, temporary=True)
        except FetchError as exc:
            LOGGER.warning("%s: %s; not fetching from %s for now", url, exc, origin)
            return _Answer(None, str(exc), now + UNREACHABLE_TTL)
        if response.not_modified:  # we never send validators; a 304 regardless says nothing
            return _Answer(RobotsRules(), "HTTP 304", now + RULES_TTL)
        text = response.content.decode("utf-8", errors="replace")
        return _Answer(parse_robots(text, self._product), "ok", now + RULES_TTL)
