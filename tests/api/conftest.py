"""Fixtures of the API tests: an app on SQLite and on PostgreSQL, clients with a token."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from bioblocks.api import create_app
from bioblocks.config import Settings


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def api_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings for a fresh store: a SQLite file, or a fresh PostgreSQL schema."""
    url = request.getfixturevalue("postgres_schema_url") if request.param == "postgres" else None
    return Settings(data_dir=tmp_path / "files", database_url=url)


@pytest.fixture
def api_app(api_settings: Settings) -> Iterator[FastAPI]:
    """The application on a fresh store (closed after the test)."""
    app = create_app(api_settings)
    yield app
    app.state.store.close()


@pytest.fixture
def api_token(api_app: FastAPI) -> str:
    """A valid write token."""
    return api_app.state.store.create_token("tests")


@pytest.fixture
def client(api_app: FastAPI, api_token: str) -> TestClient:
    """A client that sends the write token."""
    return TestClient(api_app, headers={"Authorization": f"Bearer {api_token}"})


@pytest.fixture
def anon(api_app: FastAPI) -> TestClient:
    """A client without credentials."""
    return TestClient(api_app)
