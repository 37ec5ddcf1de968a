"""The monitoring flow on a Dask cluster (issue 9): real ``distributed.LocalCluster``s of two
worker processes on 127.0.0.1, loopback sites, real DuckDB files, Prefect's test harness.

A pass whose collect stage runs on the cluster must store what a local pass stores, and a
worker killed in the middle of a pass must cost a rerun of its batch, not the pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

from extractors.errors import ConfigError
from flows.config import RunConfig, parse_config
from flows.monitor import monitor
from flows.runners import local_cluster_kwargs, start_dask_task_runner
from tests.support.pages import BODY, page, rss
from tests.support.sites import Site, serve_site
from warehouse.connection import open_warehouse

pytestmark = [
    # prefect's own API client leaves a keep-alive socket to the harness's server for the
    # garbage collector (as in test_monitor); it is not ours to close
    pytest.mark.filterwarnings(
        "ignore:Exception ignored in. <socket.socket:pytest.PytestUnraisableExceptionWarning"
    ),
]


def write_config(tmp_path: Path, feeds: dict[str, str], run: str, robots: bool = True) -> Path:
    """A config over ``feeds`` (name -> URL), batches of two, with ``run`` as its [run] table."""
    path = tmp_path / f"newsmon-{len(list(tmp_path.glob('*.toml')))}.toml"
    text = "".join(
        f"[[feeds]]\nname = {json.dumps(name)}\nurl = {json.dumps(url)}\n\n"
        for name, url in feeds.items()
    )
    text += '[fetch]\nallow_private_networks = ["127.0.0.1/32"]\ntimeout_seconds = 10\n'
    text += f"respect_robots_txt = {json.dumps(robots)}\n\n"
    text += f"[extraction]\nbatch_size = 2\n\n[run]\n{run}\n"
    path.write_text(text, encoding="utf-8")
    return path


def dask_run(address: str) -> str:
    return f'task_runner = "dask"\ndask_address = "{address}"'


def run_monitor(config: Path, db: Path) -> dict[str, Any]:
    return asyncio.run(monitor(config_path=str(config), db_path=str(db)))


def table(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with open_warehouse(db, read_only=True) as con:
        return sorted(tuple(r) for r in con.execute(sql).fetchall())


# what a pass decides, without the pass's own identity (run_id, fetched_at)
ARTICLES = (
    "SELECT article_id, url, canonical_url, feed_url, source, title, author, published_at,"
    " language, text, text_hash, text_source, note, us_russia, relevance, relevance_terms,"
    " copy_of, story_id, leader_call_evidence FROM articles"
)
STORIES = (
    "SELECT story_id, headline, first_seen_at, last_seen_at, n_articles, n_sources, leader_call,"
    " leader_call_evidence, leader_call_article FROM stories"
)


@contextlib.contextmanager
def local_cluster(allowed_failures: int | None = None) -> Iterator[Any]:
    """Two worker processes on 127.0.0.1 and a client of the test's own (not the default one,
    so the pass's task runner connects by address as it would to a remote scheduler)."""
    import dask
    from distributed import Client, LocalCluster

    settings = {} if allowed_failures is None else {"distributed.scheduler.allowed-failures": 0}
    with (
        dask.config.set(settings),
        LocalCluster(**local_cluster_kwargs(2)) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        yield client


def tasks_run_on(client: Any) -> dict[str, int]:
    """How many tasks each worker of the cluster has finished (its own count)."""

    def finished(dask_worker: Any) -> int:
        return int(dask_worker.state.executed_count)

    return {address: int(count) for address, count in client.run(finished).items()}


# a story reported by two outlets (one a trimmed copy of the other), another story reprinted
# in part, and two pages that fail; no leader call: each would be a Prefect event in the
# session's API, which tests/flows/test_monitor.py counts
TRIMMED = BODY.rsplit(".", 3)[0] + ". Officials declined to comment further on the talks."
DELEGATION = (
    "MOSCOW - The Kremlin said on Friday that Russia would send a delegation to Washington "
    "next month to discuss prisoner exchanges and embassy staffing, Interfax reported. "
) * 4


def publish_news(wire: Site, paper: Site) -> dict[str, str]:
    wire.add("/a", page("Lavrov in Geneva"))
    wire.add("/c", page("Delegation to Washington", DELEGATION))
    wire.add("/empty", "")
    wire.add("/broken", "oops", status=500)
    items = [("/a", "Lavrov in Geneva"), ("/c", "Delegation"), ("/empty", "E"), ("/broken", "B")]
    wire.add("/feed.xml", rss(wire, items), content_type="application/rss+xml")
    paper.add("/b", page("Arms talks in Geneva", TRIMMED))
    paper.add("/d", page("Kremlin to send delegation", DELEGATION[: len(DELEGATION) // 2]))
    items = [("/b", "Arms talks in Geneva"), ("/d", "Kremlin to send delegation")]
    paper.add("/feed.xml", rss(paper, items), content_type="application/rss+xml")
    return {"wire": wire.url("/feed.xml"), "paper": paper.url("/feed.xml")}


@pytest.mark.usefixtures("prefect_harness")
def test_a_pass_on_a_dask_cluster_stores_what_a_local_pass_stores(tmp_path: Path) -> None:
    with serve_site() as wire, serve_site() as paper, local_cluster() as client:
        feeds = publish_news(wire, paper)
        local = run_monitor(
            write_config(tmp_path, feeds, 'task_runner = "local"'), tmp_path / "l.db"
        )
        address = client.scheduler.address
        dask = run_monitor(write_config(tmp_path, feeds, dask_run(address)), tmp_path / "d.db")
        on_workers = tasks_run_on(client)

    assert local["status"] == dask["status"] == "completed"
    assert local["articles_new"] == dask["articles_new"] == 6
    assert local["copies"] == dask["copies"] == 2
    assert local["stories_new"] == dask["stories_new"] == 4
    for sql in (ARTICLES, STORIES, "SELECT url, article_id FROM article_urls"):
        assert table(tmp_path / "d.db", sql) == table(tmp_path / "l.db", sql), sql
    errors = "SELECT stage, url FROM run_errors"
    assert table(tmp_path / "d.db", errors) == table(tmp_path / "l.db", errors)
    assert {stage for stage, _ in table(tmp_path / "d.db", errors)} == {"page", "extract"}
    # the pages were collected by the cluster: 6 items in batches of two, on both workers
    assert sum(on_workers.values()) == 3
    assert len(on_workers) == 2


def distinct_pages(site: Site, count: int, delay: float) -> list[str]:
    """``count`` slow pages of unrelated text (no copies, no stories in common), in a feed."""
    words = [f"{a}{b}" for a in ("bar", "cor", "del", "fin", "gol", "hum") for b in "aeiouyz"]
    paths = [f"/p{i}" for i in range(count)]
    for i, path in enumerate(paths):
        rng = random.Random(i)
        sentences = (" ".join(rng.choice(words) for _ in range(14)) for _ in range(12))
        site.add(path, page(f"Page {i}", ". ".join(sentences)), delay=delay)
    site.add(
        "/feed.xml",
        rss(site, [(p, f"Page {i}") for i, p in enumerate(paths)]),
        content_type="application/rss+xml",
    )
    return paths


def kill_a_fetching_worker(
    client: Any, site: Site, killed: list[int], stop: threading.Event
) -> None:
    """SIGKILL the first worker process seen with a request to the site in flight."""
    import psutil

    port = int(site.base_url.rsplit(":", 1)[1])
    workers = [psutil.Process(pid) for pid in client.run(os.getpid).values()]
    deadline = time.monotonic() + 50
    while not stop.is_set() and time.monotonic() < deadline:
        for worker in workers:
            with contextlib.suppress(psutil.Error):
                connections = worker.net_connections(kind="tcp")
                if any(
                    c.raddr and c.raddr[1] == port and c.status == psutil.CONN_ESTABLISHED
                    for c in connections
                ):
                    worker.send_signal(signal.SIGKILL)
                    killed.append(worker.pid)
                    return
        time.sleep(0.05)


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.parametrize(
    "allowed_failures",
    [
        pytest.param(None, id="rescheduled-on-the-other-worker"),
        pytest.param(0, id="collected-in-the-flow-process"),
    ],
)
def test_a_worker_killed_mid_pass_loses_and_duplicates_nothing(
    tmp_path: Path, allowed_failures: int | None
) -> None:
    db = tmp_path / "w.db"
    killed: list[int] = []
    stop = threading.Event()
    with serve_site() as site, local_cluster(allowed_failures) as client:
        paths = distinct_pages(site, 8, delay=1.0)
        feeds = {"pages": site.url("/feed.xml")}
        # no robots.txt: a worker's connection to the site is then a page being fetched
        config = write_config(tmp_path, feeds, dask_run(client.scheduler.address), robots=False)
        killer = threading.Thread(target=kill_a_fetching_worker, args=(client, site, killed, stop))
        killer.start()
        try:
            summary = run_monitor(config, db)
        finally:
            stop.set()
            killer.join()
        fetches = {path: len(site.requests_for(path)) for path in paths}

    assert killed, "no worker was seen fetching a page"
    assert summary["status"] == "completed"
    on_cluster, in_flow = batches_collected(str(summary["run_id"]))
    if allowed_failures == 0:
        # the killed worker's batches gave up on the cluster and came back to the flow
        assert in_flow >= 1 and on_cluster + in_flow == 4
    else:
        assert (on_cluster, in_flow) == (4, 0)
    assert summary["articles_new"] == 8 and summary["pages_fetched"] == 8
    # the killed worker's batch was fetched again (by another worker, or the flow's process)
    assert max(fetches.values()) >= 2
    # every page once: one article, one URL, from the page itself
    stored = table(db, "SELECT url, title, text_source FROM articles")
    assert [(url.rsplit("/", 1)[1], title) for url, title, _ in stored] == sorted(
        (path[1:], f"Page {path[2:]}") for path in paths
    )
    assert {source for _, _, source in stored} == {"page"}
    assert table(db, "SELECT count(*), count(DISTINCT url) FROM article_urls") == [(8, 8)]
    assert table(db, "SELECT count(*) FROM run_errors") == [(0,)]


@pytest.mark.usefixtures("prefect_harness")
def test_dask_workers_start_a_local_cluster_for_the_pass(tmp_path: Path) -> None:
    with serve_site() as site:
        distinct_pages(site, 6, delay=0.0)
        feeds = {"pages": site.url("/feed.xml")}
        config = write_config(tmp_path, feeds, 'task_runner = "dask"\ndask_workers = 2')
        summary = run_monitor(config, tmp_path / "w.db")

    assert summary["status"] == "completed" and summary["articles_new"] == 6
    assert batches_collected(str(summary["run_id"])) == (3, 0)
    logs = asyncio.run(_flow_logs(str(summary["run_id"]), "Dask cluster at"))
    assert any("on the Dask cluster at tcp://127.0.0.1:" in m and "(2 workers)" in m for m in logs)


async def _flow_logs(flow_run_id: str, wanted: str) -> list[str]:
    """The flow run's log messages, once one containing ``wanted`` has reached the API."""
    async with get_client() as client:
        for _ in range(50):  # logs reach the API through a background worker, in batches
            logs = await client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])),
                limit=200,
                offset=0,
            )
            if any(wanted in entry.message for entry in logs):
                break
            await asyncio.sleep(0.2)
    return [entry.message for entry in logs]


def batches_collected(flow_run_id: str) -> tuple[int, int]:
    """(on the cluster, in the flow's process), as the pass logged them when it let go."""
    wanted = "batches collected on the Dask cluster"
    logs = asyncio.run(_flow_logs(flow_run_id, wanted))
    line = next((m for m in logs if wanted in m), "")
    found = re.search(r"(\d+) batches collected .*, (\d+) in the flow", line)
    assert found is not None, logs
    return int(found[1]), int(found[2])


def test_an_unreachable_scheduler_is_one_config_error() -> None:
    threads = {t.ident for t in threading.enumerate()}
    with socket_closed() as port:
        run = RunConfig(task_runner="dask", dask_address=f"tcp://127.0.0.1:{port}")
        with pytest.raises(ConfigError) as caught:
            start_dask_task_runner(run, connect_timeout=1.0)
    assert caught.value.key == "run.dask_address" and "\n" not in str(caught.value)
    assert str(caught.value).startswith(
        f"run.dask_address: cannot reach the Dask scheduler at tcp://127.0.0.1:{port}"
    )
    # and no client is left behind: its event-loop thread would outlive the test
    left = [t.name for t in threading.enumerate() if t.ident not in threads]
    assert left == []


@contextlib.contextmanager
def socket_closed() -> Iterator[int]:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    yield port


@pytest.mark.parametrize(
    ("run", "key", "message"),
    [
        ({"task_runner": "spark"}, "run.task_runner", "'local' or 'dask'"),
        ({"dask_workers": 2}, "run", 'need task_runner = "dask"'),
        ({"task_runner": "local", "dask_address": "tcp://127.0.0.1:8786"}, "run", "need task_"),
        ({"task_runner": "dask", "dask_address": "127.0.0.1:8786"}, "run.dask_address", "tcp://"),
        ({"task_runner": "dask", "dask_address": "tcp://scheduler"}, "run.dask_address", "tcp://"),
        ({"task_runner": "dask", "dask_address": "tcp://h:port"}, "run.dask_address", "tcp://"),
        (
            {"task_runner": "dask", "dask_address": "tcp://h:8786", "dask_workers": 2},
            "run",
            "either dask_address",
        ),
        ({"task_runner": "dask", "dask_workers": 0}, "run.dask_workers", "greater than"),
        ({"task_runer": "dask"}, "run.task_runer", "unknown key"),
    ],
)
def test_unusable_run_tables_name_the_key(run: dict[str, Any], key: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"feeds": [{"name": "a", "url": "https://example.org/rss"}], "run": run})
    assert caught.value.key == key
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_run_table_defaults_to_the_local_pool() -> None:
    feeds = [{"name": "a", "url": "https://example.org/rss"}]
    assert parse_config({"feeds": feeds}).run == RunConfig(task_runner="local")
    remote = parse_config(
        {
            "feeds": feeds,
            "run": {"task_runner": "dask", "dask_address": " tls://dask-scheduler:8786 "},
        }
    )
    assert remote.run.dask_address == "tls://dask-scheduler:8786"


ROOT = Path(__file__).resolve().parents[2]


def test_the_example_config_runs_locally_and_a_dask_config_tags_its_deployment(
    tmp_path: Path,
) -> None:
    from flows.config import load_config
    from flows.serving import deployment_kwargs

    example = load_config(ROOT / "deploy" / "newsmon.example.toml")
    assert example.run.task_runner == "local"
    dask = example.model_copy(update={"run": RunConfig(task_runner="dask", dask_workers=2)})
    db = tmp_path / "w.db"
    assert deployment_kwargs(example, tmp_path / "c.toml", db)["tags"] == ["newsmon"]
    assert deployment_kwargs(dask, tmp_path / "c.toml", db)["tags"] == ["newsmon", "dask"]


def test_the_dask_deployment_loads_the_flow_as_a_module_workers_can_import() -> None:
    import yaml
    from prefect.cli.deploy._models import PrefectYamlModel
    from prefect.flows import load_flow_from_entrypoint

    text = (ROOT / "deploy" / "prefect.yaml").read_text(encoding="utf-8")
    project = PrefectYamlModel.model_validate(yaml.safe_load(text))
    deployments = {d.name: d for d in project.deployments}
    dask = deployments["newsmon-monitor-dask"]
    assert (
        dask.entrypoint is not None
        and dask.parameters["config_path"]
        != (deployments["newsmon-monitor"].parameters["config_path"])
    )
    # a file entrypoint would be run as a module named "monitor", unknown to Dask workers
    assert load_flow_from_entrypoint(dask.entrypoint) is monitor
    assert monitor.fn.__module__ == "flows.monitor"
