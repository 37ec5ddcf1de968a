"""The monitoring flow: one Prefect flow run per pass, tasks at batch granularity.

Tasks wrap the stages of ``flows.pipeline`` and ``flows.passes`` and add what Prefect is for:
retries for transient failures (a whole batch, never a single page), logs and the run's
summary artifact. Nothing is cached or persisted: every pass fetches afresh, and the
warehouse is the only record.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import acreate_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.context import get_run_context
from prefect.events import emit_event
from prefect.logging.handlers import APILogHandler
from prefect.utilities.annotations import quote

from extractors.types import Article, FeedItem, FeedPoll, FeedState, PassError, RunStats
from flows.alerts import AlertReport, deliver_alerts
from flows.config import load_config
from flows.passes import Progress, Stages, run_pass
from flows.pipeline import FeedSpec, PassSettings, collect_articles, poll_feeds
from flows.runners import collect_in_process, pass_runner
from flows.writing import load_batch
from warehouse.connection import default_db_path
from warehouse.loads import LoadResult
from warehouse.outbox import PendingAlert

LIBRARY_LOGGERS = ("extractors", "warehouse", "flows")

_TASK_OPTIONS = {"cache_policy": NO_CACHE, "persist_result": False}


@task(name="poll-feeds", retries=1, retry_delay_seconds=[5], **_TASK_OPTIONS)  # type: ignore[call-overload]
async def poll_feeds_task(
    feeds: Sequence[FeedSpec], states: dict[str, FeedState], settings: PassSettings
) -> list[FeedPoll]:
    polls = await poll_feeds(feeds, states, settings)
    failed = sum(1 for p in polls if p.error)
    get_run_logger().info("polled %d feeds (%d failed)", len(polls), failed)
    return polls


@task(name="collect-articles", retries=2, retry_delay_seconds=[2, 10], **_TASK_OPTIONS)  # type: ignore[call-overload]
async def collect_articles_task(
    items: Sequence[FeedItem], settings: PassSettings
) -> tuple[list[Article], list[PassError]]:
    articles, errors = await collect_articles(items, settings)
    _log_collected(articles)
    return articles, errors


@task(name="collect-articles", retries=2, retry_delay_seconds=[2, 10], **_TASK_OPTIONS)  # type: ignore[call-overload]
async def collect_on_worker_task(
    items: Sequence[FeedItem], settings: PassSettings
) -> tuple[list[Article], list[PassError]]:
    """The collect stage on a Dask worker (issue 9): fetch and extract in the worker's process."""
    with library_logs_to_prefect():
        articles, errors = await collect_in_process(items, settings)
    _log_collected(articles)
    return articles, errors


def _log_collected(articles: Sequence[Article]) -> None:
    get_run_logger().info(
        "collected %d pages (%d kept the feed's summary)",
        len(articles),
        sum(1 for a in articles if a.text_source != "page"),
    )


@task(name="load-batch", retries=3, retry_delay_seconds=[1, 5, 15], **_TASK_OPTIONS)  # type: ignore[call-overload]
async def load_batch_task(
    db_path: str, articles: Sequence[Article], errors: Sequence[PassError], run_id: str
) -> LoadResult:
    return await load_batch(db_path, articles, errors, run_id)


def announce_leader_call(alert: PendingAlert) -> None:
    """Emit a Prefect event for a new leader-call story, for Automations to act on."""
    emit_event(
        event="newsmon.leader-call.detected",
        resource={
            "prefect.resource.id": f"newsmon.story.{alert.story_id}",
            "prefect.resource.name": alert.headline[:200],
        },
        payload={
            "story_id": alert.story_id,
            "headline": alert.headline,
            "first_seen_at": alert.first_seen_at.isoformat() if alert.first_seen_at else None,
            "outlets": list(alert.outlets),
            "links": list(alert.links[:10]),
            "evidence": alert.evidence,
        },
    )


@task(name="deliver-alerts", **_TASK_OPTIONS)  # type: ignore[call-overload]
async def deliver_alerts_task(db_path: str, channel_urls: Sequence[str]) -> AlertReport:
    # no task-level retries: the outbox retries each alert itself, and a retried task could
    # announce a story twice
    report = await deliver_alerts(db_path, channel_urls, announce=announce_leader_call)
    get_run_logger().info(
        "alerts: %d new leader-call stories, %d sent, %d failed, %d pending",
        len(report.new_stories),
        report.sent,
        report.failed,
        report.pending,
    )
    return report


# Prefect walks every task argument object by object (to find futures and record inputs),
# twice a task run: a batch of articles costs tens of thousands of visits. The stages pass
# their large arguments quoted, which skips that walk (bench/orchestration.py measures it);
# the tasks receive the values themselves.
async def _poll_quoted(
    feeds: Sequence[FeedSpec], states: dict[str, FeedState], settings: PassSettings
) -> list[FeedPoll]:
    return await poll_feeds_task(quote(feeds), quote(states), settings)


async def _collect_quoted(
    items: Sequence[FeedItem], settings: PassSettings
) -> tuple[list[Article], list[PassError]]:
    return await collect_articles_task(quote(items), settings)


async def _load_quoted(
    db_path: str, articles: Sequence[Article], errors: Sequence[PassError], run_id: str
) -> LoadResult:
    return await load_batch_task(db_path, quote(articles), quote(errors), run_id)


PREFECT_STAGES = Stages(
    poll=_poll_quoted,
    collect=_collect_quoted,
    load=_load_quoted,
    alert=deliver_alerts_task,
)

# set by the CLI when a terminal is attached; flows started by a deployment run without it
_progress: Progress | None = None


def set_progress(progress: Progress | None) -> None:
    global _progress
    _progress = progress


@flow(name="newsmon-monitor", log_prints=True, persist_result=False)
async def monitor(
    config_path: str | None = None, db_path: str | None = None, poll_all: bool = False
) -> dict[str, object]:
    """One monitoring pass over the feeds of the config at ``config_path``.

    Scheduled runs poll the feeds that are due; ``poll_all`` polls every feed now. The
    config's ``[run]`` table says where pages are collected: here, or on a Dask cluster
    (``flows.runners``); the flow is the same either way.
    """
    config = load_config(config_path)
    db = db_path or str(default_db_path())
    flow_run_id = str(get_run_context().flow_run.id)  # type: ignore[union-attr]
    with library_logs_to_prefect():
        async with pass_runner(config.run, PREFECT_STAGES, collect_on_worker_task) as runner:
            stats = await run_pass(
                config,
                db,
                run_id=flow_run_id or str(uuid.uuid4()),
                flow_run_id=flow_run_id,
                stages=runner.stages,
                progress=_progress,
                window=runner.window,
                poll_all=poll_all,
            )
    await publish_summary(stats, Path(db))
    return summary_row(stats)


@contextlib.contextmanager
def library_logs_to_prefect(level: int = logging.INFO) -> Iterator[None]:
    """Send the project's library logs (fetching, parsing, loading) to the run's logs.

    Prefect's ``PREFECT_LOGGING_EXTRA_LOGGERS`` does this too, but only when it is set before
    Prefect configures logging; attaching the handler for the flow's duration does not depend
    on import order. Records carry the run context, so they land in the right flow run.
    """
    handler = APILogHandler()
    saved: list[tuple[logging.Logger, int]] = []
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        if any(isinstance(h, APILogHandler) for h in logger.handlers):
            continue  # already wired by PREFECT_LOGGING_EXTRA_LOGGERS
        saved.append((logger, logger.level))
        logger.addHandler(handler)
        if logger.getEffectiveLevel() > level:
            logger.setLevel(level)
    try:
        yield
    finally:
        for logger, old_level in saved:
            logger.removeHandler(handler)
            logger.setLevel(old_level)


def summary_row(stats: RunStats) -> dict[str, object]:
    return {
        "run_id": stats.run_id,
        "status": stats.status,
        "feeds_polled": stats.feeds_polled,
        "feeds_failed": stats.feeds_failed,
        "feeds_not_modified": stats.feeds_not_modified,
        "feeds_skipped": stats.feeds_skipped,
        "items_seen": stats.items_seen,
        "items_new": stats.items_new,
        "pages_fetched": stats.pages_fetched,
        "pages_failed": stats.pages_failed,
        "articles_new": stats.articles_new,
        "articles_us_russia": stats.articles_us_russia,
        "copies": stats.copies,
        "stories_new": stats.stories_new,
        "alerts_sent": stats.alerts_sent,
        "errors": stats.errors,
    }


async def publish_summary(stats: RunStats, db: Path) -> None:
    row = summary_row(stats)
    await acreate_table_artifact(
        key="newsmon-run-summary",
        table=[{"measure": k, "value": str(v)} for k, v in row.items()],
        description=f"newsmon pass {stats.run_id} into {db}",
    )
    if stats.alert_lines:
        await acreate_table_artifact(
            key="newsmon-run-alerts",
            table=stats.alert_lines,
            description=f"alerts of newsmon pass {stats.run_id}",
        )
    print(
        f"pass {stats.status}: {stats.feeds_polled} feeds ({stats.feeds_failed} failed), "
        f"{stats.items_new} new items, {stats.articles_new} new articles "
        f"({stats.articles_us_russia} US-Russia), {stats.errors} errors"
    )
