"""``newsmon serve``: the monitoring flow as a Prefect deployment on the config's schedule."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from flows.config import Config

DEPLOYMENT_NAME = "newsmon-monitor"
DEFAULT_INTERVAL = timedelta(minutes=15)


def serve_monitor(config: Config, config_path: Path, db_path: Path) -> None:
    """Serve the flow until interrupted: one run per scheduled slot, at most one at a time."""
    from flows.monitor import monitor

    schedule = config.schedule
    parameters = {"config_path": str(config_path.resolve()), "db_path": str(db_path.resolve())}
    if schedule.cron:
        monitor.serve(name=DEPLOYMENT_NAME, cron=schedule.cron, parameters=parameters)
    else:
        minutes = schedule.interval_minutes
        interval = timedelta(minutes=minutes) if minutes else DEFAULT_INTERVAL
        monitor.serve(name=DEPLOYMENT_NAME, interval=interval, parameters=parameters)
