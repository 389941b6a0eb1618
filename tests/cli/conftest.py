"""Fixtures of the CLI tests."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from bioblocks.progress import ConsoleLogHandler


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Take the CLI's log handler off the root logger after each test (and its level back)."""
    root = logging.getLogger()
    level = root.level
    yield
    for handler in [h for h in root.handlers if isinstance(h, ConsoleLogHandler)]:
        root.removeHandler(handler)
    root.setLevel(level)
