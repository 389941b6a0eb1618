"""Progress reporting shared by long operations (ingest, analyses, downloads, jobs).

A long function takes ``progress: Progress = null_progress`` and calls
``progress(fraction, message)`` with ``fraction`` in [0, 1]. The callback may
raise :class:`bioblocks.errors.Cancelled` to stop the work; callers must leave
nothing half-written when that happens.
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[float, str], None]


def null_progress(fraction: float, message: str) -> None:  # noqa: ARG001
    """Ignore progress."""


def scaled(progress: Progress, start: float, end: float) -> Progress:
    """Return a callback mapping [0, 1] onto [start, end] of ``progress`` (for sub-stages)."""

    def report(fraction: float, message: str) -> None:
        progress(start + (end - start) * min(max(fraction, 0.0), 1.0), message)

    return report
