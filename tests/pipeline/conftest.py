"""Fixtures of the pipeline tests: a small synthetic two-library dataset, a fresh store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bioblocks.config import Settings
from bioblocks.ingest import make_example_dataset
from bioblocks.jobs import install_kinds
from bioblocks.pipeline.kinds import register_kinds
from bioblocks.store import open_store
from tests.pipeline._pipeline_data import N_CELLS


@pytest.fixture(autouse=True, scope="session")
def job_kinds() -> None:
    """The real job kinds, installed as a program's composition root installs them."""
    install_kinds(register_kinds)


@pytest.fixture(scope="session")
def example_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic example (10x folders ``lib1`` and ``lib2``, 1,100 cells in all)."""
    return make_example_dataset(tmp_path_factory.mktemp("example") / "ex", n_cells=N_CELLS, seed=3)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings over a fresh data directory (SQLite store inside it)."""
    return Settings(data_dir=tmp_path / "files", job_max_attempts=2, job_workers=1)


@pytest.fixture
def store(settings: Settings) -> Iterator[Any]:
    """A fresh store."""
    store = open_store(settings)
    yield store
    store.close()
