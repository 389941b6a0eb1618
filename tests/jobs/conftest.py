"""Fixtures of the job tests: a fresh data directory and store, the test job functions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bioblocks.config import Settings
from bioblocks.jobs import install_kinds, register_kind
from bioblocks.pipeline.kinds import register_kinds
from bioblocks.store import open_store
from tests.jobs._testkinds import KIND, install


@pytest.fixture(autouse=True, scope="session")
def job_kinds() -> None:
    """The real job kinds, installed as a program's composition root installs them."""
    install_kinds(register_kinds)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings over a fresh data directory (SQLite store inside it)."""
    return Settings(data_dir=tmp_path / "files", job_max_attempts=3, job_workers=1)


@pytest.fixture
def store(settings: Settings) -> Any:
    """A fresh store."""
    store = open_store(settings)
    yield store
    store.close()


@pytest.fixture
def test_kind() -> Iterator[str]:
    """The test job functions, registered under a real kind name for the test's duration."""
    previous = install()
    yield KIND
    register_kind(previous)
