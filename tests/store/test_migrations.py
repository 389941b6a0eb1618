"""The migration runner (:func:`bioblocks.store.upgrade`): quiet unless it changes something."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bioblocks.store import make_engine, upgrade


def test_upgrade_logs_one_line_only_when_it_migrates(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'fresh.sqlite3'}")
    try:
        with caplog.at_level(logging.DEBUG):
            assert upgrade(engine) is True
            first = [(r.name, r.levelno, r.getMessage()) for r in caplog.records]
            caplog.clear()
            assert upgrade(engine) is False
            again = [r.getMessage() for r in caplog.records]
    finally:
        engine.dispose()
    assert [m for _, level, m in first if level >= logging.INFO] == [
        "database upgraded to 0002 (from an empty database)"
    ]
    assert not [n for n, level, _ in first if n.startswith("alembic") and level >= logging.INFO]
    assert again == []
