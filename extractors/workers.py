"""The extraction process pool: both cores, off the event loop, with a time limit that holds.

trafilatura has no timeout of its own and can run for minutes, exhaust memory or crash on a
pathological page. Each page is extracted in a worker process; a page that overruns
``time_limit`` has its pool killed and replaced, and the other pages that were in flight are
resubmitted to the new pool. A crashed worker (``BrokenProcessPool``) is handled the same way.
The result is always an ``ExtractedPage`` or an ``ExtractionError``, never an exception.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace

from extractors.errors import ExtractionError
from extractors.leader_calls import Leaders
from extractors.relevance import Lexicon
from extractors.types import ExtractedPage

LOGGER = logging.getLogger(__name__)

MAX_ATTEMPTS = 3


def default_workers() -> int:
    """Extraction processes when none are configured: one per core, at most eight."""
    return max(1, min(os.cpu_count() or 1, 8))


@dataclass(frozen=True)
class AnalysisRequest:
    """Analyse the extracted text in the worker too (``extractors.features``): the feed item's
    title (the page's own when ``None``) and the settings to score it with."""

    title: str | None
    lexicon: Lexicon | None = None
    leaders: Leaders | None = None


def _extract_job(
    html: bytes, url: str, request: AnalysisRequest | None = None, fallback: bool = False
) -> ExtractedPage | ExtractionError:
    # runs in the worker: errors travel back as values, so no traceback crosses the pipe
    from extractors.articles import extract_page
    from extractors.features import analyze_text

    try:
        page = extract_page(html, url, fallback=fallback)
        if request is None:
            return page
        title = request.title or page.title or ""
        analysis = analyze_text(title, page.text, request.lexicon, request.leaders)
        return replace(page, analysis=analysis)
    except ExtractionError as exc:
        return exc
    except MemoryError:
        return ExtractionError("extraction ran out of memory", url=url)
    except Exception as exc:  # noqa: BLE001 - a library bug on one page must not end the pass
        return ExtractionError(f"extraction crashed: {type(exc).__name__}: {exc}", url=url)


def _init_worker(memory_limit: int | None) -> None:
    if memory_limit:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))


class ExtractionPool:
    """Run ``extract_page`` in worker processes; use as an async context manager."""

    def __init__(
        self,
        workers: int | None = None,
        *,
        time_limit: float = 30.0,
        memory_limit: int | None = 2 * 1024**3,
        max_tasks_per_child: int | None = 500,
        fallback: bool = False,
    ) -> None:
        self.workers = workers or default_workers()
        self.time_limit = time_limit
        self.fallback = fallback  # extract_page's: trafilatura's fallback extractors too
        self._memory_limit = memory_limit
        self._max_tasks = max_tasks_per_child
        self._pool: ProcessPoolExecutor | None = None
        self._generation = 0
        self._lock = asyncio.Lock()
        # at most one page per worker in the executor: the time limit then runs from when a
        # worker starts on the page, not from when it was queued behind a slow one
        self._slots = asyncio.Semaphore(self.workers)
        self.replaced = 0

    def _new_pool(self) -> ProcessPoolExecutor:
        context = multiprocessing.get_context("forkserver")
        # workers import trafilatura (and the main script, which multiprocessing re-imports in
        # every child) once in the fork server, not once per worker
        context.set_forkserver_preload(["__main__", "extractors.articles", "extractors.features"])
        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=context,
            initializer=_init_worker,
            initargs=(self._memory_limit,),
            max_tasks_per_child=self._max_tasks,
        )

    async def __aenter__(self) -> ExtractionPool:
        self._pool = self._new_pool()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    async def _replace(self, generation: int, reason: str) -> None:
        async with self._lock:
            if generation != self._generation or self._pool is None:
                return  # somebody already replaced it
            LOGGER.warning("replacing the extraction pool: %s", reason)
            old = self._pool
            for process in list(getattr(old, "_processes", {}).values()):
                process.kill()
            old.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
            self._generation += 1
            self.replaced += 1

    async def extract(
        self, html: bytes, url: str, analysis: AnalysisRequest | None = None
    ) -> ExtractedPage | ExtractionError:
        """Extract one page (and analyse its text when asked); the outcome is a value, never
        an exception."""
        loop = asyncio.get_running_loop()
        for _attempt in range(MAX_ATTEMPTS):
            if self._pool is None:
                raise RuntimeError("ExtractionPool used outside its context")
            generation = self._generation
            try:
                async with self._slots:
                    future = loop.run_in_executor(
                        self._pool, _extract_job, html, url, analysis, self.fallback
                    )
                    return await asyncio.wait_for(future, self.time_limit)
            except TimeoutError:
                await self._replace(generation, f"{url} ran past {self.time_limit:g} s")
                return ExtractionError(
                    f"extraction exceeded the {self.time_limit:g} s time limit", url=url
                )
            except BrokenProcessPool as exc:
                await self._replace(generation, f"a worker process died ({exc})")
            except RuntimeError as exc:
                # submitting to a pool being shut down by a concurrent replacement
                if "shutdown" not in str(exc):
                    raise
        return ExtractionError("extraction worker died repeatedly on this page", url=url)
