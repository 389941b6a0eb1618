"""Progress reporting shared by long operations (ingest, analyses, downloads, jobs).

A long function takes ``progress: Progress = null_progress`` and calls
``progress(fraction, message)`` with ``fraction`` in [0, 1]. The callback may
raise :class:`bioblocks.errors.Cancelled` to stop the work; callers must leave
nothing half-written when that happens.

The command line draws such a callback with :class:`ProgressBar` and prints log records
through :class:`ConsoleLogHandler` on the same console, so log lines land above the bar.
"""

from __future__ import annotations

import logging
import re
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from rich.console import Console

Progress = Callable[[float, str], None]


def null_progress(fraction: float, message: str) -> None:  # noqa: ARG001
    """Ignore progress."""


def scaled(progress: Progress, start: float, end: float) -> Progress:
    """Return a callback mapping [0, 1] onto [start, end] of ``progress`` (for sub-stages)."""

    def report(fraction: float, message: str) -> None:
        progress(start + (end - start) * min(max(fraction, 0.0), 1.0), message)

    return report


# ---- the command line's live view: a progress bar and log lines on one console -------------

_COUNT = re.compile(r"(?<![\w.])\d[\d,.]*(?!\w)")


def stage_key(message: str) -> str:
    """Return ``message`` with its counts replaced by ``#``: "parsed 1,041 cells" → "parsed # cells".

    Messages with the same key belong to one stage (file names such as ``P11A`` are kept).
    """
    return _COUNT.sub("#", message)


class ProgressBar:
    """A rich progress bar on ``console`` driven as a :data:`Progress` callback.

    The bar (drawn only on a terminal) shows the current message. Each stage — a run of messages
    with the same :func:`stage_key` — also gets one line when it ends, with its last
    message ("parsed 1,832 cells"), unless a log line already said it (a log message
    containing the stage's first message, e.g. "reading x.tsv.gz as tsv.gz" for "reading
    x.tsv.gz", or "SPRING: building the kNN graph" for "building the kNN graph"). Log lines go through :class:`ConsoleLogHandler`, above the bar.
    """

    #: The bar being shown, if any (log lines are checked against its stage).
    active: ClassVar[ProgressBar | None] = None

    def __init__(self, title: str, console: Console, *, eta: bool = False) -> None:
        """A bar titled ``title`` on ``console``; ``eta`` shows the time left, else the time spent."""
        from rich.progress import BarColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
        from rich.progress import Progress as RichProgress

        self.console = console
        clock = TimeRemainingColumn() if eta else TimeElapsedColumn()
        self.bar = RichProgress(TextColumn("{task.description}"), BarColumn(),
                                TextColumn("{task.percentage:>5.1f}%"), clock,
                                console=console, transient=True)
        self.title = title
        self.task: Any = None
        self.drawn = False  # whether the bar is drawn (only on a terminal)
        self.stage: str | None = None  # the current stage's key
        self.first = ""  # its first message (what a log line would repeat)
        self.last = ""  # its latest message (what its line says)
        self.said = False  # whether a log line already said it
        self.recent: deque[str] = deque(maxlen=4)  # the latest log messages

    def __enter__(self) -> ProgressBar:
        self.drawn = self.console.is_terminal  # elsewhere (a log file, a pipe): only the lines
        if self.drawn:
            self.bar.start()
        self.task = self.bar.add_task(self.title, total=1.0)
        ProgressBar.active = self
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._end_stage()
        finally:
            ProgressBar.active = None
            if self.drawn:
                self.bar.stop()

    def __call__(self, fraction: float, message: str) -> None:
        """Move the bar to ``fraction``; start a new stage when ``message``'s key changes."""
        if message:
            key = stage_key(message)
            if key != self.stage:
                self._end_stage()
                self.stage, self.first = key, message
                self.said = any(message in logged for logged in self.recent)
            self.last = message
        self.bar.update(self.task, completed=min(max(fraction, 0.0), 1.0),
                        description=f"{self.title}: {message}" if message else self.title)

    def logged(self, message: str) -> None:
        """Note a log message (so a stage it repeats gets no line of its own)."""
        self.recent.append(message)
        if self.stage is not None and self.first in message:
            self.said = True

    def _end_stage(self) -> None:
        if self.stage is not None and not self.said:
            self.console.print(f"  {self.last}", markup=False, highlight=False, soft_wrap=True)
        self.stage = None


class ConsoleLogHandler(logging.Handler):
    """Print log records on a rich console: above its live progress bar, never into it."""

    def __init__(self, console: Console, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        """Print the formatted record as one line (no wrapping, no markup); tell the bar."""
        try:
            line = self.format(record)
            bar = ProgressBar.active
            if bar is not None:
                bar.logged(record.getMessage())
            self.console.print(line, markup=False, highlight=False, emoji=False, soft_wrap=True)
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)
