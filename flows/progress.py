"""Terminal progress for a pass: feeds polled, pages extracted (only on a terminal)."""

from __future__ import annotations

import sys
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn


class TerminalProgress:
    """A ``flows.passes.Progress`` drawn with rich on stderr; silent when stderr is not a TTY."""

    def __init__(self, console: Console | None = None) -> None:
        self._console = console or Console(stderr=True)
        self._enabled = self._console.is_terminal and sys.stderr.isatty()
        self._progress = Progress(
            TextColumn("{task.description:<16}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=self._console,
            transient=True,
        )
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> TerminalProgress:
        if self._enabled:
            self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._enabled:
            self._progress.stop()

    def _update(self, name: str, done: int, total: int) -> None:
        if not self._enabled:
            return
        if name not in self._tasks:
            self._tasks[name] = self._progress.add_task(name, total=total)
        self._progress.update(self._tasks[name], completed=done, total=total)

    def feeds_polled(self, done: int, total: int) -> None:
        self._update("feeds polled", done, total)

    def pages_extracted(self, done: int, total: int) -> None:
        self._update("pages extracted", done, total)
