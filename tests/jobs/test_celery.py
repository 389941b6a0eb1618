"""The Celery executor: a real ``bioblocks worker`` process on Redis and PostgreSQL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bioblocks.config import Settings
from bioblocks.jobs import claim, submit_job, wait_for
from bioblocks.jobs._celery import RUN_JOB, celery_app, cron_schedule
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


def test_a_celery_worker_runs_jobs_once_and_retries_those_of_dead_workers(
    pg_store: Any, celery_settings: Settings, tmp_path: Path
) -> None:
    dataset = pg_store.insert("dataset", {"name": "remote", "matrixLocation": "not-a-url"})
    jobs = [submit_job(pg_store, celery_settings, "fetch-matrix", dataset_id=dataset["_id"])
            for _ in range(6)]
    app = celery_app(celery_settings)
    for job in jobs:  # every message sent twice: the claim makes the copy a no-op
        app.send_task(RUN_JOB, args=[job["_id"]])
    # A job left running by a worker process that died: the sweep of the starting
    # worker requeues it and sends its task again.
    orphan = submit_job(pg_store, celery_settings, "fetch-matrix", dataset_id=dataset["_id"])
    claim(pg_store, orphan["_id"], worker=f"{socket.gethostname()}:{2**22 + 7}")
    worker = start_worker(celery_settings, tmp_path / "worker.log")
    try:
        finals = wait_for(pg_store, [j["_id"] for j in [*jobs, orphan]], timeout=120, poll=0.3)
    finally:
        stop_worker(worker)
    for final in finals:
        assert final["state"] == "error"
        assert "has no http(s) matrixLocation" in final["error"]
        assert final["worker"].split(":")[0] == socket.gethostname()
    assert [f["attempts"] for f in finals] == [1] * 6 + [2]


def test_the_cron_expression_becomes_a_celery_crontab() -> None:
    schedule = cron_schedule("30 3 * * 1")
    assert schedule.minute == {30} and schedule.hour == {3} and schedule.day_of_week == {1}
    with pytest.raises(ValueError, match="five fields"):
        cron_schedule("* * *")
