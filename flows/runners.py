"""Where a pass collects its pages: the flow's own process, or a Dask cluster (issue 9).

``[run] task_runner = "local"`` (the default) keeps every stage in the flow's process: pages are
fetched through one client and extracted in its process pool (``flows.pipeline``). With
``"dask"``, the collect stage of each batch becomes a Prefect task run submitted through
prefect-dask's ``DaskTaskRunner``; poll, load and alert stay in the flow's process, so the
warehouse keeps its single writer and its in-order loads (``flows.passes``), and the same
articles, copies and stories come out.

What crosses the network per batch: the ``FeedItem`` values and the ``PassSettings`` to a
worker, the ``Article`` and ``PassError`` values back. The worker fetches the pages itself, so
page HTML travels once, from the site into the worker that extracts it.

On a worker the page is extracted in the worker's own process, on a thread
(``ThreadExtraction``): the Dask workers are the parallelism, and a worker process is daemonic
by default, so it may not start a process pool. The time limit is then a deadline, not a kill:
a page that overruns becomes an ``ExtractionError`` after ``time_limit_seconds``, as in the local
pool, and later pages do not wait for it, but the runaway thread keeps running until trafilatura
returns. There is no per-page memory cap either; the nanny's memory limit restarts a worker
that outgrows it.

A lost worker costs its batches, not the pass: the scheduler reruns them on the other workers.
A batch that has killed ``distributed.scheduler.allowed-failures`` + 1 workers (a page that
crashes or exhausts the process) raises ``KilledWorker``; that one batch is then collected in
the flow's own process pool, where a bad page costs an extraction process, not the pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import socket
from collections.abc import AsyncIterator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from extractors.errors import ConfigError
from extractors.types import Article, FeedItem, PassError
from extractors.workers import ExtractionPool, default_workers
from flows.config import RunConfig
from flows.passes import CollectStage, Stages
from flows.pipeline import PassResources, PassSettings, collect_articles, pass_resources

if TYPE_CHECKING:
    from prefect_dask import DaskTaskRunner

LOGGER = logging.getLogger(__name__)

# batches in flight (run_pass's window): the local pool is fed by three; a cluster gets two per
# worker for a local one, and a fixed number for a running scheduler (its size is not known
# before it is reached, which happens only once a pass has pages to collect)
LOCAL_WINDOW = 3
REMOTE_WINDOW = 16
CONNECT_TIMEOUT = 20.0


@dataclass(frozen=True)
class PassRunner:
    """How one pass runs its stages: the stages to give ``run_pass`` and its window."""

    stages: Stages
    window: int


def local_cluster_kwargs(workers: int | None) -> dict[str, Any]:
    """``distributed.LocalCluster`` arguments: one thread per worker process, loopback only."""
    return {
        "n_workers": workers or default_workers(),
        "threads_per_worker": 1,
        "processes": True,
        "host": "127.0.0.1",
        # the scheduler serves HTTP (health, metrics) whatever the dashboard setting, on 8787
        # when no address is given (with a warning if 8787 is taken): a free loopback port
        "dashboard_address": "127.0.0.1:0",
    }


def dask_task_runner(run: RunConfig, connect_timeout: float = CONNECT_TIMEOUT) -> DaskTaskRunner:
    """The (unstarted) prefect-dask task runner the ``[run]`` table names."""
    from prefect_dask import DaskTaskRunner

    if run.dask_address:
        return DaskTaskRunner(
            address=run.dask_address, client_kwargs={"timeout": f"{connect_timeout}s"}
        )
    return DaskTaskRunner(cluster_kwargs=local_cluster_kwargs(run.dask_workers))


def start_dask_task_runner(
    run: RunConfig, connect_timeout: float = CONNECT_TIMEOUT
) -> DaskTaskRunner:
    """Start the task runner and connect it (or start its local cluster); blocks."""
    if run.dask_address:
        try:
            scheduler_listens(run.dask_address, connect_timeout)
        except OSError as exc:
            raise unreachable(run.dask_address, exc) from exc
    runner = dask_task_runner(run, connect_timeout)
    runner.__enter__()
    try:
        client = runner.client  # connects to the scheduler, or starts the local cluster
    except OSError as exc:  # the scheduler went away since it was asked
        runner.__exit__(None, None, None)
        raise unreachable(run.dask_address, exc) from exc
    except BaseException:
        runner.__exit__(None, None, None)
        raise
    workers = client.scheduler_info().get("workers", {})
    LOGGER.info(
        "collecting pages on the Dask cluster at %s (%d workers)",
        client.scheduler.address if client.scheduler else run.dask_address,
        len(workers),
    )
    return runner


def scheduler_listens(address: str, timeout: float) -> None:
    """Raise ``OSError`` unless something accepts a TCP connection at the scheduler's address.

    Asked before a ``distributed.Client`` is made: a client that cannot connect raises from its
    constructor with its event-loop thread still running (and its connection retries drawing
    on the process's ``random``), and is closed only when the garbage collector gets to it.
    """
    parts = urlsplit(address)
    if parts.scheme == "ucx" or parts.hostname is None or parts.port is None:
        return  # not a TCP address: the client's own connect reports it
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout):
        pass


def unreachable(address: str | None, exc: OSError) -> ConfigError:
    return ConfigError(
        f"cannot reach the Dask scheduler at {address}: {exc}", key="run.dask_address"
    )


class DaskCollect:
    """The collect stage on a Dask cluster: one task run of ``task`` per batch.

    The runner is started when the first batch comes, so a pass with nothing new to fetch
    never starts (or reaches) a cluster. ``fallback`` (the local collect stage) takes a batch
    the cluster gave up on (``KilledWorker``).
    """

    def __init__(self, run: RunConfig, task: Any, fallback: CollectStage) -> None:
        self._run = run
        self._task = task
        self._fallback = fallback
        self._runner: DaskTaskRunner | None = None
        self._starting = asyncio.Lock()
        self._quiet = contextlib.ExitStack()
        self.batches_on_cluster = 0
        self.batches_in_flow = 0

    async def _started(self) -> DaskTaskRunner:
        async with self._starting:
            if self._runner is None:
                self._quiet.enter_context(quiet_distributed())
                self._runner = await asyncio.to_thread(start_dask_task_runner, self._run)
            return self._runner

    async def __call__(
        self, items: Sequence[FeedItem], settings: PassSettings
    ) -> tuple[list[Article], list[PassError]]:
        from distributed import KilledWorker

        runner = await self._started()
        future = runner.submit(self._task, {"items": list(items), "settings": settings})
        try:
            result: tuple[list[Article], list[PassError]] = await asyncio.to_thread(future.result)
        except KilledWorker as exc:
            LOGGER.warning(
                "a batch of %d pages killed its Dask workers (%s); collecting it here",
                len(items),
                exc,
            )
            self.batches_in_flow += 1
            return await self._fallback(items, settings)
        except asyncio.CancelledError:
            future.wrapped_future.cancel()
            raise
        self.batches_on_cluster += 1
        return result

    async def aclose(self) -> None:
        """Close the client, and the local cluster if this stage started one."""
        runner, self._runner = self._runner, None
        try:
            if runner is not None:
                LOGGER.info(
                    "%d batches collected on the Dask cluster, %d in the flow's process",
                    self.batches_on_cluster,
                    self.batches_in_flow,
                )
                await asyncio.to_thread(runner.__exit__, None, None, None)
        finally:
            self._quiet.close()


@contextlib.contextmanager
def quiet_distributed(level: int = logging.WARNING) -> Iterator[None]:
    """Keep distributed's INFO chatter (workers registering, comms closing, each with a
    traceback on shutdown) out of the pass's logs while a cluster is in use; its warnings
    (a worker lost, a task rescheduled) still show."""
    logger = logging.getLogger("distributed")
    old = logger.level
    if logger.getEffectiveLevel() < level:
        logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(old)


@contextlib.asynccontextmanager
async def pass_runner(
    run: RunConfig, stages: Stages, remote_collect: Any = None
) -> AsyncIterator[PassRunner]:
    """The stages for one pass as ``[run]`` says: ``stages`` as given for ``local``; for
    ``dask``, the collect stage replaced by ``remote_collect`` (a Prefect task taking
    ``items, settings``) submitted to the cluster. The cluster is let go on exit."""
    if run.task_runner == "local":
        yield PassRunner(stages, LOCAL_WINDOW)
        return
    if remote_collect is None:
        raise ValueError("a Dask pass needs the task that collects a batch on a worker")
    collect = DaskCollect(run, remote_collect, fallback=stages.collect)
    window = REMOTE_WINDOW if run.dask_address else 2 * (run.dask_workers or default_workers())
    try:
        yield PassRunner(dataclasses.replace(stages, collect=collect), max(LOCAL_WINDOW, window))
    finally:
        await collect.aclose()


class ThreadExtraction(ExtractionPool):
    """``ExtractionPool`` on threads of this process instead of worker processes.

    Same outcomes (an ``ExtractedPage`` or an ``ExtractionError``, never an exception) and the
    same time limit, as a deadline: an overrunning page is given up and the executor replaced,
    so later pages do not queue behind it; the runaway thread itself cannot be stopped. No
    memory cap: an address-space limit would apply to the whole worker process.
    """

    def __init__(
        self, workers: int = 1, *, time_limit: float = 30.0, fallback: bool = False
    ) -> None:
        super().__init__(workers, time_limit=time_limit, memory_limit=None, fallback=fallback)

    def _new_pool(self) -> ThreadPoolExecutor:  # type: ignore[override]
        return ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="newsmon-extract")


def in_process_resources(settings: PassSettings) -> AbstractAsyncContextManager[PassResources]:
    """``flows.pipeline.pass_resources`` with ``ThreadExtraction`` for the pool: what a
    batch needs in a process that may not start worker processes (a Dask worker)."""
    pool = ThreadExtraction(
        time_limit=settings.extraction_time_limit, fallback=settings.extraction_fallback
    )
    return pass_resources(settings, pool)


async def collect_in_process(
    items: Sequence[FeedItem], settings: PassSettings
) -> tuple[list[Article], list[PassError]]:
    """``collect_articles`` for one batch in this process alone (fetch and extract here)."""
    async with in_process_resources(settings):
        return await collect_articles(items, settings)
