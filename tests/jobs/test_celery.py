"""The Celery executor: a real ``bioblocks worker`` process on Redis and PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bioblocks.config import Settings
from bioblocks.jobs._celery import cron_schedule
from bioblocks.store import open_store

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture
def celery_settings(tmp_path: Path, postgres_schema_url: str, redis_url: str) -> Settings:
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    return Settings(data_dir=tmp_path / "files", database_url=postgres_schema_url,
                    broker_url=redis_url, job_workers=2, job_max_attempts=2)


@pytest.fixture
def pg_store(celery_settings: Settings) -> Iterator[Any]:
    store = open_store(celery_settings)
    yield store
    store.close()


def start_worker(settings: Settings, log: Path, *extra: str) -> subprocess.Popen[bytes]:
    """Start ``bioblocks worker`` (Celery) with ``settings`` in the environment."""
    env = {**os.environ, "BIOBLOCKS_DATA_DIR": str(settings.data_dir),
           "BIOBLOCKS_DATABASE_URL": settings.resolved_database_url,
           "BIOBLOCKS_BROKER_URL": settings.broker_url or "",
           "BIOBLOCKS_JOB_WORKERS": str(settings.job_workers),
           "BIOBLOCKS_JOB_MAX_ATTEMPTS": str(settings.job_max_attempts)}
    with log.open("ab") as out:
        return subprocess.Popen([str(Path(sys.executable).parent / "bioblocks"), "worker", *extra],
                                env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def stop_worker(process: subprocess.Popen[bytes], *, sig: int = signal.SIGTERM) -> None:
    """Stop the worker's whole process group and reap it."""
    if process.poll() is None:
        os.killpg(process.pid, sig)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def test_the_cron_expression_becomes_a_celery_crontab() -> None:
    schedule = cron_schedule("30 3 * * 1")
    assert schedule.minute == {30} and schedule.hour == {3} and schedule.day_of_week == {1}
    with pytest.raises(ValueError, match="five fields"):
        cron_schedule("* * *")
