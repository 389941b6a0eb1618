"""A fresh store per test, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bioblocks.config import Settings
from bioblocks.store import Store, open_store


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """An open store with migrations applied (closed after the test)."""
    url = request.getfixturevalue("postgres_schema_url") if request.param == "postgres" else None
    opened = open_store(Settings(data_dir=tmp_path / "files", database_url=url))
    yield opened
    opened.close()
