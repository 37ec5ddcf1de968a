"""The monitoring flow under Prefect's test harness: one flow run per pass, batch tasks,
library logs in the run's logs, a summary in ``runs`` and as a table artifact."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterId,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.client.schemas.sorting import TaskRunSort
from prefect.settings import PREFECT_API_URL

from flows.demo import serve_seeds
from flows.monitor import monitor
from tests.support.warehouse import writer_opens
from warehouse.connection import open_warehouse

pytestmark = [
    pytest.mark.usefixtures("prefect_harness"),
    # prefect's own API client leaves a keep-alive socket to the harness's server for the
    # garbage collector; it is not ours to close (the flow's sockets are checked elsewhere)
    pytest.mark.filterwarnings(
        "ignore:Exception ignored in. <socket.socket:pytest.PytestUnraisableExceptionWarning"
    ),
]


def write_config(tmp_path: Path, feed_url: str) -> Path:
    path = tmp_path / "newsmon.toml"
    path.write_text(
        f'[[feeds]]\nname = "demo"\nurl = "{feed_url}"\n\n'
        '[fetch]\nallow_private_networks = ["127.0.0.1/32"]\n\n'
        "[extraction]\nbatch_size = 2\n",
        encoding="utf-8",
    )
    return path


async def _flow_run_details(flow_run_id: str) -> tuple[str, list[str], list[str], list[str]]:
    async with get_client() as client:
        run = await client.read_flow_run(flow_run_id)
        tasks = await client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id])),
            sort=TaskRunSort.EXPECTED_START_TIME_ASC,
            limit=200,
        )
        # logs reach the API through a background worker in batches: wait for the library's
        for _ in range(50):
            logs = await client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id])),
                limit=200,
                offset=0,
            )
            if any(entry.name.startswith("flows.") for entry in logs):
                break
            await asyncio.sleep(0.2)
    # the pinned server rejects the client's null defaults in read_artifacts: ask the REST API
    body = {
        "artifacts": {
            "key": {"any_": ["newsmon-run-summary"]},
            "flow_run_id": {"any_": [flow_run_id]},
        },
        "limit": 10,
        "offset": 0,
        "sort": "CREATED_DESC",
    }
    async with httpx.AsyncClient(base_url=str(PREFECT_API_URL.value())) as http:
        response = await http.post("/artifacts/filter", json=body)
    response.raise_for_status()
    artifacts = response.json()
    assert run.state is not None
    return (
        run.state.type.value,
        [t.name for t in tasks],
        [entry.message for entry in logs],
        [str(a["data"]) for a in artifacts],
    )


def test_a_pass_is_one_flow_run_with_batch_tasks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = writer_opens(monkeypatch)
    db = tmp_path / "w.duckdb"
    with serve_seeds(port=0) as feed_url:
        config = write_config(tmp_path, feed_url)
        summary = asyncio.run(monitor(config_path=str(config), db_path=str(db)))
    assert summary["articles_new"] == 5 and summary["status"] == "completed"

    with open_warehouse(db, read_only=True) as con:
        row = con.execute("SELECT flow_run_id, articles_new, status FROM runs").fetchone()
    assert row is not None and row[1:] == (5, "completed")
    state, task_names, logs, artifacts = asyncio.run(_flow_run_details(str(row[0])))

    assert state == "COMPLETED"
    # one poll task, three collect/load batches of two pages (five items): never one per article
    assert sum(name.startswith("poll-feeds") for name in task_names) == 1
    assert sum(name.startswith("collect-articles") for name in task_names) == 3
    assert sum(name.startswith("load-batch") for name in task_names) == 3
    # the three load tasks share the pass's write connection (flows.writing)
    assert opened == [str(db)]
    # library logs (feed parsing in flows.pipeline) reach the flow run's logs
    assert any("items" in message and "feed.xml" in message for message in logs)
    assert artifacts and "articles_new" in artifacts[0]
    # issue 4: one event per new leader-call story (three in the seeds) for Automations; the
    # session's API holds other tests' events too, so ask for this warehouse's stories
    with open_warehouse(db, read_only=True) as con:
        rows = con.execute("SELECT story_id FROM stories WHERE leader_call").fetchall()
    stories = [str(r[0]) for r in rows]
    assert len(stories) == 3
    events = asyncio.run(_leader_call_events(stories))
    assert sorted(e["resource"]["prefect.resource.id"] for e in events) == sorted(
        f"newsmon.story.{s}" for s in stories
    )
    assert all(e["payload"]["evidence"] for e in events)


async def _leader_call_events(story_ids: list[str]) -> list[dict[str, Any]]:
    body = {
        "filter": {
            "event": {"prefix": ["newsmon.leader-call"]},
            "resource": {"id": [f"newsmon.story.{s}" for s in story_ids]},
        },
        "limit": 50,
    }
    async with httpx.AsyncClient(base_url=str(PREFECT_API_URL.value())) as http:
        for _ in range(50):  # events reach the API through a background worker
            response = await http.post("/events/filter", json=body)
            response.raise_for_status()
            events: list[dict[str, Any]] = response.json()["events"]
            if len(events) >= 3:
                return events
            await asyncio.sleep(0.2)
    return events
