"""Passes on a schedule and side by side (issue 5): Prefect serving, the writer lock, readers.

The first test serves the deployment against a real ``prefect server`` on loopback and waits
for two scheduled passes. The others run passes in separate processes against one DuckDB file:
two passes at once (one is skipped by the writer lock), a reader holding the file open (the
pass waits for it, or gives up with one line after ``lock_timeout``), then ``newsmon status``.

Every process a test starts gets its own process group and is stopped with it (terminate,
then kill), whether the test passes or not.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from extractors.errors import WarehouseError
from flows.cli import main
from flows.config import Config, parse_config
from flows.demo import load_seeds, serve_seeds
from flows.passes import run_pass
from tests.support.sites import Site, serve_site
from warehouse.connection import open_warehouse

# one pass in its own process: parse the config (JSON in argv[1]) and import everything first,
# say "ready", then start when told on stdin, so that two of them can start together
PASS_SCRIPT = """
import asyncio, json, sys, uuid
from extractors.errors import WarehouseError
from flows.config import parse_config
from flows.passes import run_pass
config = parse_config(json.loads(sys.argv[1]))
print("ready", flush=True)
sys.stdin.readline()
try:
    stats = asyncio.run(run_pass(config, sys.argv[2], run_id=str(uuid.uuid4())))
except WarehouseError as exc:
    print(f"{type(exc).__name__}: {exc}", flush=True)
    sys.exit(3)
print(f"{stats.status}: {stats.articles_new} new articles", flush=True)
"""

# a reader of the live file: open it read-only, say so, hold it for argv[2] seconds
READER_SCRIPT = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
print("open", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_env(**extra: str) -> dict[str, str]:
    """This environment without the user's newsmon and Prefect settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSMON_", "PREFECT_"))}
    env.update(extra)
    return env


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop(proc: subprocess.Popen[Any], sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
    """Stop ``proc`` and every process it started (its process group): ``sig``, then KILL."""
    pgid = proc.pid  # each child is started with start_new_session=True
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)
    deadline = time.monotonic() + timeout
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=timeout)
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if proc.poll() is None or _group_alive(pgid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
    proc.wait(timeout=10)
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


@contextlib.contextmanager
def started(
    args: list[str], *, log: Path | None = None, stop_signal: int = signal.SIGTERM, **kwargs: Any
) -> Iterator[subprocess.Popen[str]]:
    """Start ``args`` in a new process group (output to ``log`` if given); always stop it."""
    if log is not None:
        with log.open("w") as out:
            proc = subprocess.Popen(
                args,
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
                **kwargs,
            )
    else:
        proc = subprocess.Popen(args, text=True, start_new_session=True, **kwargs)
    try:
        yield proc
    finally:
        stop(proc, stop_signal)


def tail(path: Path, chars: int = 4000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else ""


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with open_warehouse(db, read_only=True) as con:
        return [tuple(r) for r in con.execute(sql).fetchall()]


@contextlib.contextmanager
def prefect_server(home: Path) -> Iterator[str]:
    """A ``prefect server`` on a free loopback port; yield its API URL once it is healthy."""
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = child_env(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_UI_ENABLED="false",
        # no one reads these here: fewer services, less load on a small machine
        PREFECT_SERVER_SERVICES_FOREMAN_ENABLED="false",
        PREFECT_SERVER_SERVICES_PAUSE_EXPIRATIONS_ENABLED="false",
        PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED="false",
    )
    log = home / "server.log"
    command = [sys.executable, "-m", "prefect", "server", "start"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--no-ui", "--analytics-off"]
    with started(command, log=log, env=env, cwd=home) as server:
        deadline = time.monotonic() + 120
        with httpx.Client(timeout=5) as client:
            while True:
                assert server.poll() is None, f"prefect server exited:\n{tail(log)}"
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(f"{api}/health").status_code == 200:
                        break
                assert time.monotonic() < deadline, f"prefect server not healthy:\n{tail(log)}"
                time.sleep(0.5)
        yield api


def monitor_runs(client: httpx.Client, api: str) -> list[dict[str, Any]]:
    """Every flow run of ``newsmon-monitor``, oldest slot first (the pinned server refuses
    the nulls the Prefect client's ``read_flow_runs`` sends, so ask the REST API directly)."""
    body = {
        "flows": {"name": {"any_": ["newsmon-monitor"]}},
        "limit": 50,
        "offset": 0,
        "sort": "EXPECTED_START_TIME_ASC",
    }
    response = client.post(f"{api}/flow_runs/filter", json=body)
    response.raise_for_status()
    return list(response.json())


def test_served_deployment_runs_the_monitor_on_its_schedule(tmp_path: Path) -> None:
    deadline = time.monotonic() + 240
    home = tmp_path / "prefect"
    home.mkdir()
    db = tmp_path / "served.duckdb"
    config = tmp_path / "served.toml"
    serve_log = tmp_path / "serve.log"
    # the server first, while nothing else competes for the two cores
    with prefect_server(home) as api, serve_seeds(port=0) as feed_url:
        config.write_text(
            "[[feeds]]\n"
            f'name = "newsmon demo wire"\nurl = "{feed_url}"\n\n'
            '[fetch]\nallow_private_networks = ["127.0.0.1/32"]\n\n'
            "[schedule]\ninterval_minutes = 1\n"
        )
        env = child_env(
            PREFECT_HOME=str(home),
            PREFECT_API_URL=api,
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            # look for due runs every 2 s rather than 10
            PREFECT_RUNNER_POLL_FREQUENCY="2",
        )
        command = [sys.executable, "-c", "from flows.cli import main; main()", "serve"]
        command += ["--config", str(config), "--db", str(db)]
        completed: list[dict[str, Any]] = []
        # stopped as a user stops it, with Ctrl-C (SIGINT): the runner pauses the deployment
        with (
            started(
                command, log=serve_log, stop_signal=signal.SIGINT, env=env, cwd=tmp_path
            ) as serving,
            httpx.Client(timeout=10) as client,
        ):
            while len(completed) < 2:
                assert serving.poll() is None, f"newsmon serve exited:\n{tail(serve_log)}"
                runs = monitor_runs(client, api)
                # a cancelled run would mean the concurrency limit held a slot after a pass
                bad = ("FAILED", "CRASHED", "CANCELLED")
                broken = [r for r in runs if r["state_type"] in bad]
                assert not broken, (
                    f"{broken[0]['name']}: {broken[0]['state']['message']}\n{tail(serve_log)}"
                )
                completed = [r for r in runs if r["state_type"] == "COMPLETED"]
                assert time.monotonic() < deadline, (
                    f"runs: {[(r['name'], r['state_type']) for r in runs]}\n{tail(serve_log)}"
                )
                time.sleep(2)
            deployments = client.post(f"{api}/deployments/filter", json={"limit": 5, "offset": 0})
            deployments.raise_for_status()
        stored = rows(db, "SELECT title, canonical_url FROM articles")
        passes = rows(db, "SELECT run_id, status FROM runs")

    [deployment] = deployments.json()
    assert deployment["name"] == "newsmon-monitor"
    assert [s["schedule"]["interval"] for s in deployment["schedules"]] == [60.0]
    assert deployment["global_concurrency_limit"]["limit"] == 1
    assert deployment["concurrency_options"]["collision_strategy"] == "CANCEL_NEW"
    titles = sorted(title for title, _ in stored)
    assert titles == sorted(seed.title for seed in load_seeds())
    assert len({url for _, url in stored}) == 5
    done = {run_id for run_id, status in passes if status == "completed"}
    assert len(done) >= 2
    # each flow run is one pass, recorded under the flow run's id
    assert {str(r["id"]) for r in completed} <= done


def slow_site(site: Site, n_pages: int = 4, delay: float = 1.0) -> str:
    """A feed of ``n_pages`` articles whose feed and pages each take ``delay`` s to answer."""
    body = (
        "MOSCOW - Russian and U.S. negotiators met in Geneva on Thursday for talks on strategic "
        "arms control, officials from both delegations said after the meeting ended. "
    ) * 4
    items = []
    for i in range(n_pages):
        path = f"/news/{i}.html"
        title = f"Arms control talks, day {i}"
        paragraphs = "".join(f"<p>{s.strip()}.</p>" for s in body.split(".") if s.strip())
        site.add(
            path,
            f"<html lang='en'><head><title>{title}</title></head><body><article>"
            f"<h1>{title}</h1>{paragraphs} Day {i}.</article></body></html>",
            delay=delay,
        )
        items.append(
            f"<item><title>{title}</title><link>{site.url(path)}</link><guid>{path}</guid>"
            f"<pubDate>Thu, 19 Nov 2026 10:0{i}:00 GMT</pubDate></item>"
        )
    site.add(
        "/feed.xml",
        "<?xml version='1.0'?><rss version='2.0'><channel><title>Slow wire</title>"
        f"<link>{site.url('/')}</link>{''.join(items)}</channel></rss>",
        content_type="application/rss+xml",
        delay=delay,
    )
    return site.url("/feed.xml")


def config_data(*feeds: tuple[str, str]) -> dict[str, Any]:
    return {
        "feeds": [{"name": name, "url": url} for name, url in feeds],
        "fetch": {"allow_private_networks": ["127.0.0.1/32"], "timeout_seconds": 10},
        "extraction": {"workers": 1, "batch_size": 2},
    }


def run(config: Config, db: Path, **kwargs: Any) -> Any:
    return asyncio.run(run_pass(config, db, run_id=str(uuid.uuid4()), **kwargs))


def test_two_passes_at_once_one_is_skipped_and_nothing_is_stored_twice(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    with serve_site() as site:
        data = config_data(("slow wire", slow_site(site)))
        command = [sys.executable, "-c", PASS_SCRIPT, json.dumps(data), str(db)]
        options: dict[str, Any] = {
            "stdin": subprocess.PIPE,
            "stdout": subprocess.PIPE,
            "env": child_env(),
            "cwd": tmp_path,
        }
        with started(command, **options) as first, started(command, **options) as second:
            passes = (first, second)
            for proc in passes:
                assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
            for proc in passes:
                assert proc.stdin is not None
                proc.stdin.write("go\n")
                proc.stdin.flush()
            outputs = []
            for proc in passes:
                out, _ = proc.communicate(timeout=120)
                outputs.append((proc.returncode, out.strip(), proc.pid))
        runs_then = rows(db, "SELECT status, articles_new FROM runs")
        third = run(parse_config(data), db)

    assert sorted(code for code, _, _ in outputs) == [0, 3], outputs
    (_, finished, winner), (_, skipped, _) = sorted(outputs)
    assert finished == "completed: 4 new articles"
    # the skipped pass names the one that holds the lock
    assert skipped.startswith(f"PassInProgress: another pass is writing to {db} (pid {winner})")
    assert skipped.endswith("this one was skipped") and "\n" not in skipped
    # the skipped pass left no trace: one run, each article once, no errors recorded
    assert runs_then == [("completed", 4)]
    assert rows(db, "SELECT count(*) FROM run_errors") == [(0,)]
    # and a third pass finds nothing new: still each article once
    assert third.status == "completed" and third.articles_new == 0
    assert rows(db, "SELECT count(*), count(DISTINCT canonical_url) FROM articles") == [(4, 4)]
    assert rows(db, "SELECT count(*) FROM article_urls") == [(4,)]


def test_a_pass_waits_for_a_reader_of_the_live_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "w.duckdb"
    with open_warehouse(db):
        pass  # an empty, migrated warehouse for the reader to open
    reader_command = [sys.executable, "-c", READER_SCRIPT, str(db), "3"]
    with serve_site() as site:
        config = parse_config(config_data(("wire", slow_site(site, delay=0.0))))
        with started(reader_command, stdout=subprocess.PIPE, cwd=tmp_path) as reader:
            assert reader.stdout is not None and reader.stdout.readline().strip() == "open"
            with caplog.at_level(logging.INFO, logger="warehouse.connection"):
                stats = run(config, db)
            assert reader.wait(timeout=10) == 0

    assert any("is locked by another process; retrying" in m for m in caplog.messages)
    assert stats.status == "completed" and stats.articles_new == 4
    assert rows(db, "SELECT count(*) FROM articles") == [(4,)]
    assert rows(db, "SELECT status, articles_new FROM runs") == [("completed", 4)]


def test_a_pass_gives_up_on_a_reader_that_stays_and_the_next_one_loses_nothing(
    tmp_path: Path,
) -> None:
    db = tmp_path / "w.duckdb"
    with open_warehouse(db):
        pass
    reader_command = [sys.executable, "-c", READER_SCRIPT, str(db), "120"]
    with serve_site() as site:
        config = parse_config(config_data(("wire", slow_site(site, delay=0.0))))
        with started(reader_command, stdout=subprocess.PIPE, cwd=tmp_path) as reader:
            assert reader.stdout is not None and reader.stdout.readline().strip() == "open"
            with pytest.raises(WarehouseError) as failure:
                run(config, db, lock_timeout=1.0)
            holder = reader.pid
        # the reader is gone (stopped with its process group): the next pass stores everything
        stats = run(config, db)

    message = str(failure.value)
    assert "\n" not in message
    assert message.startswith(f"warehouse {db} is locked by another process (waited 1 s)")
    assert f"PID {holder}" in message
    assert stats.status == "completed" and stats.articles_new == 4
    assert rows(db, "SELECT count(*), count(DISTINCT canonical_url) FROM articles") == [(4, 4)]
    assert rows(db, "SELECT status, articles_new FROM runs") == [("completed", 4)]


def test_status_shows_the_runs_and_the_feed_that_failed(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    with serve_site() as site:
        good = slow_site(site, n_pages=2, delay=0.0)
        site.add("/gone.xml", "no such feed", status=404)
        config = parse_config(
            config_data(("good wire", good), ("gone wire", site.url("/gone.xml")))
        )
        stats = run(config, db)
    assert stats.status == "completed" and stats.feeds_failed == 1

    result = CliRunner(env={"COLUMNS": "200"}).invoke(main, ["status", "--db", str(db)])

    assert result.exit_code == 0, result.output
    runs_part, _, feeds_part = result.output.partition("Feeds that need attention:")
    assert runs_part.startswith("Last runs:")
    assert "completed" in runs_part and "1 row" in runs_part
    assert "gone wire" in feeds_part and site.url("/gone.xml") in feeds_part
    assert "404" in feeds_part and "good wire" not in feeds_part
