"""``newsmon serve``: the monitoring flow as a Prefect deployment on the config's schedule.

The deployment has a concurrency limit of one with ``CANCEL_NEW``: a scheduled run that finds
the previous one still going is cancelled rather than queued, so a slow pass never builds a
backlog. Passes started outside Prefect are kept apart by the warehouse's writer lock.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy

from flows.config import Config

DEPLOYMENT_NAME = "newsmon-monitor"
DEFAULT_INTERVAL = timedelta(minutes=15)


def deployment_kwargs(config: Config, config_path: Path, db_path: Path) -> dict[str, Any]:
    """What ``flow.to_deployment`` needs for the config's schedule (shared with tests)."""
    schedule = config.schedule
    kwargs: dict[str, Any] = {
        "name": DEPLOYMENT_NAME,
        "parameters": {
            "config_path": str(config_path.resolve()),
            "db_path": str(db_path.resolve()),
        },
        "concurrency_limit": ConcurrencyLimitConfig(
            limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
        ),
        # issue 9: a deployment whose pages go to a Dask cluster says so in the UI
        "tags": ["newsmon", "dask"] if config.run.task_runner == "dask" else ["newsmon"],
    }
    if schedule.cron:
        kwargs["cron"] = schedule.cron
    else:
        minutes = schedule.interval_minutes
        kwargs["interval"] = timedelta(minutes=minutes) if minutes else DEFAULT_INTERVAL
    return kwargs


def serve_monitor(config: Config, config_path: Path, db_path: Path) -> None:
    """Serve the flow until interrupted: one run per scheduled slot, never two at once."""
    from prefect import serve

    from flows.monitor import monitor

    deployment = monitor.to_deployment(**deployment_kwargs(config, config_path, db_path))
    serve(deployment)
