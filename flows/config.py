"""The TOML config: read once, validated, passed explicitly.

Unknown keys and bad values are refused with a ``ConfigError`` whose message names the key
(``feeds[1].url: ...``), which the CLI prints as one line (CONTRACT.md).
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from extractors.copies import CopyThresholds
from extractors.errors import ConfigError
from extractors.fetching import FetchSettings
from extractors.leader_calls import Leaders
from extractors.relevance import Lexicon
from extractors.stories import StoryThresholds
from extractors.urls import canonicalize_url
from warehouse.matching import MatchSettings


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeedConfig(_Strict):
    name: str = Field(min_length=1)
    url: str

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip()
        if not value.lower().startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value


_IPV4_MAPPED = ipaddress.ip_network("::ffff:0:0/96")


class FetchConfig(_Strict):
    allow_private_networks: bool | list[str] = False
    timeout_seconds: float = Field(default=20.0, gt=0, le=600)
    max_feed_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    max_page_bytes: int = Field(default=5 * 1024 * 1024, gt=0)
    max_redirects: int = Field(default=5, ge=0, le=30)
    per_host_concurrency: int = Field(default=2, ge=1, le=64)
    per_host_delay_seconds: float = Field(default=0.0, ge=0, le=60)
    # politeness (issue 7): robots.txt for article pages, Retry-After cap, adaptive polling
    respect_robots_txt: bool = True
    max_retry_after_minutes: float = Field(default=60.0, ge=0, le=7 * 24 * 60)
    min_poll_interval_minutes: float = Field(default=0.0, ge=0, le=7 * 24 * 60)
    max_poll_interval_hours: float = Field(default=24.0, gt=0, le=7 * 24)

    @model_validator(mode="after")
    def _poll_bounds(self) -> FetchConfig:
        if self.min_poll_interval_minutes > self.max_poll_interval_hours * 60:
            raise ValueError("min_poll_interval_minutes is above max_poll_interval_hours")
        return self

    @field_validator("allow_private_networks")
    @classmethod
    def _networks(cls, value: bool | list[str]) -> bool | list[str]:
        if isinstance(value, list):
            for item in value:
                try:
                    network = ipaddress.ip_network(item, strict=False)
                except ValueError as exc:
                    raise ValueError(f"{item!r} is not an IP address or network") from exc
                # the fetcher checks a mapped address (::ffff:a.b.c.d) as the IPv4 one it is,
                # so a mapped network would never match: it allowed nothing
                if network.version == 6 and network.subnet_of(_IPV4_MAPPED):  # type: ignore[arg-type]
                    raise ValueError(f"{item!r} is an IPv4-mapped network: write it as IPv4")
        return value

    def settings(self) -> FetchSettings:
        allow = self.allow_private_networks
        return FetchSettings(
            timeout=self.timeout_seconds,
            max_feed_bytes=self.max_feed_bytes,
            max_page_bytes=self.max_page_bytes,
            max_redirects=self.max_redirects,
            per_host_concurrency=self.per_host_concurrency,
            per_host_delay=self.per_host_delay_seconds,
            allow_private_networks=allow if isinstance(allow, bool) else tuple(allow),
            respect_robots_txt=self.respect_robots_txt,
            max_retry_after=self.max_retry_after_minutes * 60,
            min_poll_interval=self.min_poll_interval_minutes * 60,
            max_poll_interval=self.max_poll_interval_hours * 3600,
        )


class ScheduleConfig(_Strict):
    cron: str | None = None
    # a minute at least (Prefect's scheduler rounds less to nothing), a year at most (more
    # overflowed the deployment's schedule)
    interval_minutes: float | None = Field(default=None, ge=1, le=366 * 24 * 60)

    @model_validator(mode="after")
    def _one_of(self) -> ScheduleConfig:
        if self.cron and self.interval_minutes:
            raise ValueError("give either cron or interval_minutes, not both")
        if self.cron is not None:
            _check_cron(self.cron)
        return self


def _check_cron(cron: str) -> None:
    """Five fields (or a nickname such as ``@hourly``) that Prefect's scheduler takes: it read
    a sixth as seconds (a run a second), and refused ``61 * * * *`` only when serving."""
    fields = cron.split()
    if not cron.strip().startswith("@") and len(fields) != 5:
        raise ValueError(f"cron {cron!r} must have 5 fields (minute hour day month weekday)")
    from prefect.client.schemas.schedules import CronSchedule

    try:
        CronSchedule(cron=cron, timezone="UTC")
    except ValueError:
        raise ValueError(f"cron {cron!r} is not a valid cron expression") from None


class AlertConfig(_Strict):
    url: str = Field(min_length=3)

    @field_validator("url")
    @classmethod
    def _usable(cls, value: str) -> str:
        from flows.alerts import CONSOLE, usable_channel

        value = value.strip()
        if value.lower() == CONSOLE:
            return CONSOLE
        if not usable_channel(value):
            raise ValueError(
                "not a usable Apprise URL (json://host/path, slack://..., mailto://...)"
                ' nor "console"'
            )
        return value


class RelevanceConfig(_Strict):
    us: list[str] | None = None
    russia: list[str] | None = None
    extra_us: list[str] = []
    extra_russia: list[str] = []
    threshold: float | None = Field(default=None, gt=0, le=1)

    @model_validator(mode="after")
    def _usable(self) -> RelevanceConfig:
        self.lexicon()  # a blank term is refused here, naming its key, not when a pass runs
        return self

    def lexicon(self) -> Lexicon:
        return Lexicon.default().with_overrides(
            us=tuple(self.us) if self.us is not None else None,
            russia=tuple(self.russia) if self.russia is not None else None,
            extra_us=tuple(self.extra_us) or None,
            extra_russia=tuple(self.extra_russia) or None,
            threshold=self.threshold,
        )


class LeadersConfig(_Strict):
    """Leaders' names for leader-call detection, so it works across administrations."""

    us: list[str] | None = None
    russia: list[str] | None = None
    extra_us: list[str] = []
    extra_russia: list[str] = []

    @model_validator(mode="after")
    def _usable(self) -> LeadersConfig:
        self.leaders()  # a blank name is refused here, naming its key, not when a pass runs
        return self

    def leaders(self) -> Leaders:
        return Leaders.default().with_overrides(
            us=tuple(self.us) if self.us is not None else None,
            russia=tuple(self.russia) if self.russia is not None else None,
            extra_us=tuple(self.extra_us) or None,
            extra_russia=tuple(self.extra_russia) or None,
        )


class ExtractionConfig(_Strict):
    workers: int | None = Field(default=None, ge=1, le=64)
    time_limit_seconds: float = Field(default=30.0, gt=0, le=3600)
    batch_size: int = Field(default=50, ge=1, le=5000)
    # trafilatura's fallback extractors too (its default): slower, no better on our benchmark
    fallback: bool = False


class MatchingConfig(_Strict):
    """Copy and story matching (issue 3): the window and the thresholds worth exposing."""

    window_days: float = Field(default=30.0, gt=0, le=3650)
    story_window_hours: float = Field(default=72.0, gt=0, le=24 * 365)
    copy_containment: float = Field(default=0.5, gt=0, le=1)
    copy_aligned_share: float = Field(default=0.2, gt=0, le=1)
    story_min_cosine: float = Field(default=0.3, gt=0, le=1)

    def settings(self) -> MatchSettings:
        return MatchSettings(
            window_days=self.window_days,
            story_window_hours=self.story_window_hours,
            copy=CopyThresholds(
                containment=self.copy_containment, min_aligned_share=self.copy_aligned_share
            ),
            story=StoryThresholds(min_cosine=self.story_min_cosine),
        )


# the comm schemes distributed speaks; a bare host:port is refused so the scheme is explicit
DASK_SCHEMES = ("tcp", "tls", "ws", "wss", "ucx")


class RunConfig(_Strict):
    """Where a pass's pages are fetched and extracted (issue 9).

    ``local`` (the default): the flow's own process, extraction in its process pool. ``dask``:
    each batch is a Prefect task run on a Dask cluster, through prefect-dask's task runner;
    ``dask_address`` names a running scheduler, else a local cluster of ``dask_workers``
    worker processes (default: one per core) is started on 127.0.0.1 for the pass.
    """

    task_runner: Literal["local", "dask"] = "local"
    dask_address: str | None = None
    dask_workers: int | None = Field(default=None, ge=1, le=256)

    @field_validator("dask_address")
    @classmethod
    def _scheduler_address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        parts = urlsplit(value)
        if parts.scheme not in DASK_SCHEMES:
            raise ValueError(f"{value!r} must look like tcp://host:8786 (a Dask scheduler)")
        try:
            port = parts.port
        except ValueError:
            port = None
        if not parts.hostname or port is None or parts.path not in ("", "/"):
            raise ValueError(f"{value!r} must look like tcp://host:8786 (a Dask scheduler)")
        return value

    @model_validator(mode="after")
    def _dask_keys(self) -> RunConfig:
        if self.task_runner != "dask" and (self.dask_address or self.dask_workers):
            # a forgotten task_runner would silently run the pass locally
            raise ValueError('dask_address and dask_workers need task_runner = "dask"')
        if self.dask_address and self.dask_workers:
            raise ValueError(
                "give either dask_address (a running cluster) or dask_workers (a local one)"
            )
        return self


class Config(_Strict):
    feeds: list[FeedConfig] = Field(min_length=1)
    fetch: FetchConfig = FetchConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    alerts: list[AlertConfig] = []
    relevance: RelevanceConfig = RelevanceConfig()
    leaders: LeadersConfig = LeadersConfig()
    extraction: ExtractionConfig = ExtractionConfig()
    matching: MatchingConfig = MatchingConfig()
    run: RunConfig = RunConfig()

    @model_validator(mode="after")
    def _unique_feeds(self) -> Config:
        # one feed under two spellings (case of the scheme or host, a default port, a
        # fragment, "/./") was polled, and recorded, once for each
        if repeat := _first_repeat(canonicalize_url(feed.url) for feed in self.feeds):
            index, first = repeat
            url = self.feeds[index].url
            raise ValueError(
                f"feeds[{index}].url: {url} is the feed of feeds[{first}] (listed twice)"
            )
        return self

    @model_validator(mode="after")
    def _distinct_channels(self) -> Config:
        # a channel is recorded by its URL with the secrets masked: two URLs that differ only
        # in a password would be one channel, and alerts would reach one of them only
        from flows.alerts import channel_name

        names = [channel_name(alert.url) for alert in self.alerts]
        if repeat := _first_repeat(names):
            index, first = repeat
            raise ValueError(
                f"alerts[{index}].url: the same channel as alerts[{first}] once its"
                f" secrets are masked ({names[index]}); alerts would reach one of them only"
            )
        return self


def _first_repeat(keys: Iterable[str]) -> tuple[int, int] | None:
    """The index of the first key seen before, and of that earlier one; ``None`` if none."""
    seen: dict[str, int] = {}
    for index, key in enumerate(keys):
        if key in seen:
            return index, seen[key]
        seen[key] = index
    return None


def _key(loc: tuple[Any, ...]) -> str:
    key = ""
    for part in loc:
        if isinstance(part, int):
            key += f"[{part}]"
        elif part not in ("function-after[_http_url()]",) and not str(part).startswith(
            ("function-", "bool", "list[")
        ):
            key += f".{part}" if key else str(part)
    return key or "config"


def parse_config(data: dict[str, Any], *, source: str = "config") -> Config:
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        # an unknown key is usually a typo of a missing one: name the typo first
        errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
        error = errors[0]
        key = _key(tuple(error["loc"]))
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        raise ConfigError(f"{message} (in {source})", key=key) from None


def load_config(path: str | Path | None = None) -> Config:
    """Read and validate the config at ``path`` (default ``$NEWSMON_CONFIG``)."""
    if path is None:
        env = os.environ.get("NEWSMON_CONFIG")
        if not env:
            raise ConfigError("no config given: pass --config PATH or set NEWSMON_CONFIG")
        path = env
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config {path} is not valid TOML: {exc}") from None
    return parse_config(data, source=str(path))
