"""The config is validated once and refused in one line that names the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from extractors.errors import ConfigError
from flows.config import load_config, parse_config

GOOD = """
[[feeds]]
name = "Example World News"
url = "https://example.org/world/rss.xml"

[fetch]
allow_private_networks = ["127.0.0.1/32"]

[schedule]
cron = "*/15 * * * *"

[[alerts]]
url = "json://127.0.0.1:8099/hook"

[relevance]
extra_us = ["Jane Doe"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "newsmon.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_contract_example_loads(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    assert config.feeds[0].url == "https://example.org/world/rss.xml"
    assert config.fetch.settings().allow_private_networks == ("127.0.0.1/32",)
    assert config.schedule.cron == "*/15 * * * *"
    assert config.alerts[0].url.startswith("json://")
    assert "Jane Doe" in config.relevance.lexicon().us


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (GOOD + "\n[extra]\nx = 1\n", "extra"),
        (
            GOOD.replace('url = "https://example.org/world/rss.xml"', 'url = "ftp://x"'),
            "feeds[0].url",
        ),
        (GOOD.replace('name = "Example World News"', 'nmae = "x"'), "feeds[0].nmae"),
        (GOOD.replace('["127.0.0.1/32"]', '["not-a-network"]'), "fetch.allow_private_networks"),
        (GOOD.replace('cron = "*/15 * * * *"', 'cron = "often"'), "schedule"),
        (GOOD.replace("[fetch]", "[fetch]\ntimeout_seconds = -1"), "fetch.timeout_seconds"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    assert caught.value.key == key
    assert str(caught.value).startswith(f"{key}: ")
    assert "\n" not in str(caught.value)


def test_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[[feeds]\nname="))
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "absent.toml")


def test_no_feeds_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({})
    assert caught.value.key == "feeds"


def test_duplicate_feed_is_refused() -> None:
    feed = {"name": "a", "url": "https://example.org/rss"}
    with pytest.raises(ConfigError, match="listed twice"):
        parse_config({"feeds": [feed, feed]})


FEED = {"name": "a", "url": "https://example.org/rss"}


@pytest.mark.parametrize(
    "url", ["htp://oops", "/tmp/alerts.log", "file:///tmp/x", "json://[::1", "x" * 5000]
)
def test_an_unusable_alert_url_is_refused(url: str) -> None:
    # it used to be accepted, and each leader-call story then failed to it, one by one
    with pytest.raises(ConfigError) as caught:
        parse_config({"feeds": [FEED], "alerts": [{"url": url}]})
    assert caught.value.key == "alerts[0].url"
    assert "not a usable Apprise URL" in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("url", ["console", "CONSOLE", " console "])
def test_console_is_a_channel_however_written(url: str) -> None:
    assert parse_config({"feeds": [FEED], "alerts": [{"url": url}]}).alerts[0].url == "console"


def test_two_urls_that_are_one_channel_once_masked_are_refused() -> None:
    # recorded with secrets masked, both were one channel: one of them never got an alert
    alerts = [
        {"url": "json://alice:pwA@127.0.0.1:9/hook"},
        {"url": "json://bob:pwB@127.0.0.1:9/hook"},
        {"url": "json://alice:pwC@127.0.0.1:9/hook"},
    ]
    with pytest.raises(ConfigError, match=r"alerts\[2\]\.url: the same channel as alerts\[0\]"):
        parse_config({"feeds": [FEED], "alerts": alerts})
    assert len(parse_config({"feeds": [FEED], "alerts": alerts[:2]}).alerts) == 2


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ({"cron": "61 * * * *"}, "is not a valid cron expression"),  # refused only by serve
        ({"cron": "0 0 * * 8"}, "is not a valid cron expression"),
        ({"cron": "* * * * * *"}, "must have 5 fields"),  # Prefect read seconds: a run a second
        ({"interval_minutes": float("inf")}, "less than or equal to"),  # serve overflowed
        ({"interval_minutes": 0.001}, "greater than or equal to 1"),  # a 60 ms schedule
    ],
)
def test_a_schedule_serve_could_not_keep_is_refused(schedule: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        parse_config({"feeds": [FEED], "schedule": schedule})
    assert caught.value.key.startswith("schedule")


def test_a_cron_nickname_is_a_schedule() -> None:
    assert parse_config({"feeds": [FEED], "schedule": {"cron": "@hourly"}}).schedule.cron


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ({"relevance": {"extra_us": [""]}}, "relevance.extra_us"),
        ({"relevance": {"russia": ["  "]}}, "relevance.russia"),
        ({"leaders": {"extra_russia": [""]}}, "leaders.extra_russia"),
    ],
)
def test_a_blank_term_is_refused_with_the_config(section: dict[str, Any], key: str) -> None:
    # it passed the config, and every pass then failed on it (after Prefect's traceback)
    with pytest.raises(ConfigError) as caught:
        parse_config({"feeds": [FEED], **section})
    assert caught.value.key == key


@pytest.mark.parametrize(
    "variant",
    [
        "HTTPS://Example.org/rss",
        "https://example.org:443/rss",
        "https://example.org/rss#top",
        "https://example.org/./rss",
    ],
)
def test_one_feed_under_two_spellings_is_refused(variant: str) -> None:
    # each spelling was polled, and recorded in feeds, on its own
    feeds = [FEED, {"name": "b", "url": variant}]
    with pytest.raises(ConfigError, match=r"is the feed of feeds\[0\]"):
        parse_config({"feeds": feeds})


@pytest.mark.parametrize("network", ["::ffff:127.0.0.1/128", "::ffff:0:0/96"])
def test_an_ipv4_mapped_network_is_refused_for_its_ipv4_form(network: str) -> None:
    # accepted, it allowed nothing: the fetcher checks a mapped address as its IPv4 form
    fetch = {"allow_private_networks": [network]}
    with pytest.raises(ConfigError, match="write it as IPv4") as caught:
        parse_config({"feeds": [FEED], "fetch": fetch})
    assert caught.value.key == "fetch.allow_private_networks"


def test_extraction_fallback_reaches_the_pass_settings(tmp_path: Path) -> None:
    from flows.passes import pass_settings

    assert pass_settings(load_config(write(tmp_path, GOOD))).extraction_fallback is False
    config = load_config(write(tmp_path, GOOD + "\n[extraction]\nfallback = true\n"))
    assert config.extraction.fallback is True
    assert pass_settings(config).extraction_fallback is True
