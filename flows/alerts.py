"""Alert delivery: leader-call stories out through Apprise channels, once per story and channel.

The outbox (``warehouse.outbox``) decides what is due; this module sends. A channel is an
Apprise URL (json://, slack://, mailto://, ntfys://, ...) or ``console`` (the terminal, used
when the config names no channel). Transient failures are retried with backoff within the run;
what still fails stays pending for later runs, retried with back-off (at most an hour apart)
until the alert is ``PATIENCE`` old (a day: a webhook down for an afternoon loses nothing).

Each send to an Apprise channel runs in a process of its own, under an overall deadline
(``SEND_TIMEOUT``) and a memory cap: Apprise's timeouts bound each read, not the answer, so a
webhook that drips its answer held the pass (and the warehouse's writer lock) for as long as
it liked, and one that streamed without end took the memory. The process is killed at the
deadline. It follows no redirect: a POST redirected with 301/302 arrives as an empty GET
(which Apprise counted as sent), and a redirect may point anywhere, a private address too.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import apprise
from rich.console import Console
from rich.panel import Panel
from rich.text import Text

from warehouse.connection import open_warehouse
from warehouse.outbox import (
    PendingAlert,
    due_alerts,
    enqueue_alerts,
    mark_attempt_failed,
    mark_sent,
    rename_channel,
)

LOGGER = logging.getLogger(__name__)

CONSOLE = "console"
PATIENCE = timedelta(hours=24)  # a transient failure is retried for this long
MAX_ATTEMPTS = 50  # and no more than this many times
MAX_RETRY_DELAY = timedelta(hours=1)
IN_RUN_ATTEMPTS = 3
RETRY_BASE = timedelta(seconds=1)
LATER_RUN_DELAY = timedelta(minutes=5)
SEND_TIMEOUT = 30.0  # seconds for one send, answer included
SEND_MEMORY = 1024**3  # bytes of address space for the sending process
# apprise reports an HTTP failure only in its log, as "... error=<status>."
_STATUS_IN_LOG = re.compile(r"error=(\d{3})\b")
_LOG_PREFIX = re.compile(r"^\d{4}-\d\d-\d\d [\d:,.]+ - [A-Z]+ - ")


@dataclass(frozen=True)
class Delivery:
    """The outcome of one send: ``permanent`` failures are not retried; ``later`` ones (no
    answer in time) not within this run, nor is anything else sent to that channel in it."""

    ok: bool
    error: str | None = None
    permanent: bool = False
    later: bool = False


@dataclass
class AlertReport:
    """What the alert stage did in one pass."""

    new_stories: list[str] = field(default_factory=list)
    sent: int = 0
    failed: int = 0
    pending: int = 0
    lines: list[dict[str, str]] = field(default_factory=list)


def usable_channel(url: str) -> bool:
    """Whether ``url`` names a channel Apprise can send to (``console`` aside)."""
    return apprise.Apprise.instantiate(url) is not None


def channel_name(url: str) -> str:
    """How a channel is recorded in ``alerts.channel``, its identity: the URL as Apprise writes
    it with its secrets (passwords, tokens) masked, with two changes.

    Header (``+name``) and payload (``-name``) values are masked too: Apprise leaves them, and
    an ``Authorization`` header would be stored, exported and logged as written. The options
    of the transport (timeouts, retries, format, method) are left out: changing one is not a
    new channel, which would be sent every leader-call story again.
    """
    if url == CONSOLE:
        return CONSOLE
    masked = _apprise_masked(url)
    if masked is None:
        return url
    parts = urlsplit(masked)
    kept = [
        (key, "****" if key[:1] in "+-" else value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
        if key not in _TRANSPORT_OPTIONS
    ]
    return urlunsplit(parts._replace(query=urlencode(kept, safe="*:/@")))


def legacy_channel_name(url: str) -> str:
    """What ``channel_name`` was before it masked headers and left transport options out:
    rows recorded under it are renamed (``warehouse.outbox.rename_channel``)."""
    if url == CONSOLE:
        return CONSOLE
    masked = _apprise_masked(url)
    return url if masked is None else masked


def _apprise_masked(url: str) -> str | None:
    instance = apprise.Apprise.instantiate(url)
    return None if instance is None else str(instance.url(privacy=True))


# the options every Apprise URL may carry (apprise.url and plugins.base), and json's method
_TRANSPORT_OPTIONS = frozenset(
    {"format", "overflow", "emojis", "tz", "store", "rto", "cto", "verify", "redirect", "retry"}
    | {"wait", "optional", "method"}
)


def render(alert: PendingAlert) -> tuple[str, str]:
    """The alert's title and body: headline, first seen, outlets so far, links, evidence."""
    first_seen = alert.first_seen_at.strftime("%Y-%m-%d %H:%M UTC") if alert.first_seen_at else "?"
    lines = [
        f"First seen: {first_seen}",
        f"Outlets so far: {', '.join(alert.outlets) or 'none'}",
    ]
    if alert.evidence:
        lines.append(f"Evidence: \u201c{alert.evidence}\u201d")
    lines.append("Links:")
    lines.extend(f"  {link}" for link in alert.links[:10])
    return f"Leader call: {alert.headline}", "\n".join(lines)


def send(
    url: str,
    title: str,
    body: str,
    console: Console | None = None,
    *,
    timeout: float = SEND_TIMEOUT,
) -> Delivery:
    """Deliver one message to one channel (blocking, at most ``timeout`` seconds)."""
    if url == CONSOLE:
        # Text: a headline is data, and rich would read a str as markup ("[/]" raised)
        (console or Console()).print(Panel(Text(body), title=Text(title), title_align="left"))
        return Delivery(ok=True)
    context = multiprocessing.get_context("forkserver")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(
        target=_send_in_child, args=(sender, url, title, body), name="newsmon-alert", daemon=True
    )
    process.start()
    sender.close()
    try:
        if receiver.poll(timeout):
            delivery: Delivery = receiver.recv()
        else:
            error = f"no complete answer within {timeout:g} s"
            delivery = Delivery(ok=False, error=error, later=True)
    except EOFError:  # the process died without a word: killed, or out of memory in C
        error = f"the sending process ended ({process.exitcode})"
        delivery = Delivery(ok=False, error=error, later=True)
    finally:
        if process.is_alive():
            process.kill()
        process.join(5)
        receiver.close()
    return delivery


def _send_in_child(answer: Connection, url: str, title: str, body: str) -> None:
    import resource

    import requests

    resource.setrlimit(resource.RLIMIT_AS, (SEND_MEMORY, SEND_MEMORY))
    # no redirect, whatever a plugin asks of requests (see the module's docstring)
    request = requests.Session.request

    def without_redirects(self: requests.Session, *args: object, **kwargs: object) -> object:
        kwargs["allow_redirects"] = False
        return request(self, *args, **kwargs)  # type: ignore[arg-type]

    requests.Session.request = without_redirects  # type: ignore[method-assign]
    try:
        delivery = _notify(url, title, body)
    except MemoryError:
        delivery = Delivery(ok=False, error="the channel's answer did not fit in memory")
    except Exception as exc:  # a plugin's bug must be a failed delivery, not a lost answer
        delivery = Delivery(ok=False, error=f"{type(exc).__name__}: {exc}"[:300])
    answer.send(delivery)
    answer.close()


def _notify(url: str, title: str, body: str) -> Delivery:
    notifier = apprise.Apprise(asset=apprise.AppriseAsset(http_redirects=False))
    if not notifier.add(url):
        return Delivery(ok=False, error="not a usable Apprise URL", permanent=True)
    with apprise.LogCapture(level=logging.INFO) as captured:
        ok = notifier.notify(title=title, body=body)
        log = captured.getvalue()
    if ok:
        return Delivery(ok=True)
    statuses = [int(s) for s in _STATUS_IN_LOG.findall(log)]
    status = statuses[-1] if statuses else None
    if status is not None and 300 <= status < 400:
        return Delivery(
            ok=False,
            error=f"HTTP {status}: a redirect, not followed (alerts go to the configured URL only)",
            permanent=True,
        )
    reason = log.strip().splitlines()[-1] if log.strip() else "delivery failed"
    reason = _LOG_PREFIX.sub("", reason)  # "2026-11-22 19:00:00,123 - WARNING - " before it
    # 4xx means the request itself is wrong: retrying will not help (408/429 excepted)
    permanent = status is not None and 400 <= status < 500 and status not in (408, 425, 429)
    return Delivery(ok=False, error=reason[:300], permanent=permanent)


async def deliver_alerts(
    db_path: str,
    channel_urls: Sequence[str],
    *,
    announce: Callable[[PendingAlert], None] | None = None,
    console: Console | None = None,
    retry_base: timedelta = RETRY_BASE,
    send_timeout: float = SEND_TIMEOUT,
) -> AlertReport:
    """Enqueue alerts for new leader-call stories and deliver everything due."""
    urls = {channel_name(u): u for u in (channel_urls or [CONSOLE])}
    report = AlertReport()
    now = datetime.now(UTC)
    with open_warehouse(db_path) as con:
        for name, url in urls.items():
            if renamed := rename_channel(con, legacy_channel_name(url), name):
                LOGGER.info("%d alerts of %s recorded under its new name", renamed, name)
        report.new_stories = enqueue_alerts(con, list(urls), now)
        due = due_alerts(con, now, channels=list(urls))
    announced: set[str] = set()
    down: set[str] = set()  # channels that did not answer in time: left for a later run
    for alert in due:
        if announce is not None and alert.story_id in report.new_stories:
            if alert.story_id not in announced:
                announce(alert)
                announced.add(alert.story_id)
        if alert.channel in down:
            status = "pending"
        else:
            url = urls[alert.channel]
            status = await _attempt(db_path, url, alert, console, retry_base, send_timeout, down)
        report.lines.append({"story": alert.headline, "channel": alert.channel, "status": status})
        if status == "sent":
            report.sent += 1
        elif status == "failed":
            report.failed += 1
        else:
            report.pending += 1
    return report


async def _attempt(
    db_path: str,
    url: str,
    alert: PendingAlert,
    console: Console | None,
    retry_base: timedelta,
    send_timeout: float,
    down: set[str],
) -> str:
    title, body = render(alert)
    for attempt in range(IN_RUN_ATTEMPTS):
        # the send and its record in one call on a thread: should the pass be cancelled
        # meanwhile (Ctrl-C), the thread still records what it sent (asyncio waits for it),
        # and the next pass does not send it again
        last_in_run = attempt == IN_RUN_ATTEMPTS - 1
        status, delivery = await asyncio.to_thread(
            _send_and_record,
            db_path,
            url,
            alert,
            (title, body),
            console,
            send_timeout,
            retry_base,
            last_in_run,
        )
        if delivery.ok:
            LOGGER.info("alert for story %s sent to %s", alert.story_id, alert.channel)
            return status
        if delivery.later:
            down.add(alert.channel)
        LOGGER.warning(
            "alert for story %s to %s failed (%s): %s",
            alert.story_id,
            alert.channel,
            "permanent" if delivery.permanent else "will retry",
            delivery.error,
        )
        if status == "failed" or last_in_run or delivery.later:
            return status
        await asyncio.sleep(retry_base.total_seconds() * (2**attempt))
    return "pending"


def _send_and_record(
    db_path: str,
    url: str,
    alert: PendingAlert,
    message: tuple[str, str],
    console: Console | None,
    send_timeout: float,
    retry_base: timedelta,
    last_in_run: bool,
) -> tuple[str, Delivery]:
    title, body = message
    delivery = send(url, title, body, console, timeout=send_timeout)
    now = datetime.now(UTC)
    with open_warehouse(db_path) as con:
        if delivery.ok:
            mark_sent(con, alert.alert_id, now)
            return "sent", delivery
        status = mark_attempt_failed(
            con,
            alert.alert_id,
            delivery.error or "delivery failed",
            permanent=delivery.permanent,
            now=now,
            max_attempts=MAX_ATTEMPTS,
            # the next try is this run's (seconds away) or a later run's
            base_delay=LATER_RUN_DELAY if last_in_run or delivery.later else retry_base,
            patience=PATIENCE,
            max_delay=MAX_RETRY_DELAY,
        )
    return status, delivery
