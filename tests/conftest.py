"""Fixtures shared by the whole suite: shared data, real PostgreSQL and Redis servers.

Service-backed tests talk to the real servers at 127.0.0.1 (PostgreSQL on 5432,
database ``test``, trust auth; Redis on 6379). Outside CI a missing server
skips those tests with a message; with ``CI=true`` it fails them, so CI can
never pass by skipping.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

POSTGRES_URL = os.environ.get(
    "BIOBLOCKS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("BIOBLOCKS_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip (or, in CI, fail) the calling test when a real service is not reachable."""
    if _port_open(host, port):
        return
    message = (
        f"{name} is not running on {host}:{port}; start it "
        "(see .ci/run) to run this test"
    )
    if IN_CI:
        pytest.fail(f"CI=true and {message}", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The read-only ``../shared`` folder beside the repository."""
    if not SHARED.is_dir():
        pytest.fail(f"{SHARED} is missing: the tests read real data from ../shared", pytrace=False)
    return SHARED


@pytest.fixture(scope="session")
def hpc_dir(shared_dir: Path) -> Path:
    """The four mouse HPC libraries (dense TSV, ``barcode`` column) and ``genes.txt``."""
    return shared_dir / "data" / "hpc"


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """URL of the real PostgreSQL server (database ``test``)."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    return POSTGRES_URL


@pytest.fixture
def postgres_schema_url(postgres_url: str) -> Iterator[str]:
    """A PostgreSQL URL whose tables live in a fresh schema, dropped after the test."""
    import sqlalchemy as sa

    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in postgres_url else "?"
    try:
        yield f"{postgres_url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture(scope="session")
def redis_url() -> str:
    """URL of the real Redis server (database 15, flushed by tests that use it)."""
    require_service("Redis", "127.0.0.1", 6379)
    return REDIS_URL
