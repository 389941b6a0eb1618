"""The local executor: worker processes polling one store run each job exactly once,
and a worker killed mid-job loses nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bioblocks.config import Settings
from bioblocks.jobs import LocalWorkers, get_doc, submit_job, wait_for

HERE = Path(__file__).parent


def _start_worker(settings: Settings) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(HERE / "_testkinds.py"), str(settings.resolved_data_dir),
         settings.resolved_database_url],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def test_two_polling_workers_never_run_a_job_twice(store: Any, settings: Settings,
                                                   test_kind: str, tmp_path: Path) -> None:
    log = tmp_path / "executions.log"
    # Each job takes 0.2 s, so the worker that starts first cannot finish all 60 before
    # the other is polling too: both must take part, and none may run a job twice.
    jobs = [submit_job(store, settings, test_kind,
                       parameters={"mode": "count", "log": str(log), "seconds": 0.2})
            for _ in range(60)]
    workers = [_start_worker(settings) for _ in range(2)]
    try:
        finals = wait_for(store, [j["_id"] for j in jobs], timeout=90, poll=0.2)
    finally:
        for worker in workers:
            _stop(worker)
    assert {f["state"] for f in finals} == {"complete"}
    lines = [line.split() for line in log.read_text().splitlines()]
    runs = Counter(job_id for job_id, _pid in lines)
    assert len(lines) == 60 and set(runs) == {j["_id"] for j in jobs}
    assert max(runs.values()) == 1
    assert len({pid for _job, pid in lines}) == 2  # both workers took part


def test_sigkill_mid_job_leaves_no_partial_state_and_the_job_is_retried(
    store: Any, settings: Settings, test_kind: str
) -> None:
    dataset = "5b0a3b0e-9a51-4f4b-8d0e-2b8b2a1f7a10"
    job = submit_job(store, settings, test_kind,
                     parameters={"mode": "loop", "seconds": 3.0, "dataset": dataset})
    final_dir = settings.resolved_data_dir / "datasets" / dataset / "analyses" / job["_id"]
    for _ in range(2):  # killed twice; the third attempt completes
        worker = _start_worker(settings)
        deadline = time.monotonic() + 30
        while not (get_doc(store, "job", job["_id"]).get("worker", "").endswith(f":{worker.pid}")
                   and get_doc(store, "job", job["_id"])["progress"] > 0):
            assert time.monotonic() < deadline, "the job did not start"
            time.sleep(0.05)
        _stop(worker)
        doc = get_doc(store, "job", job["_id"])
        assert doc["state"] == "running" and doc["worker"].endswith(f":{worker.pid}")
        assert not final_dir.exists()  # nothing half-written is visible
    survivor = _start_worker(settings)
    try:
        (final,) = wait_for(store, [job["_id"]], timeout=60, poll=0.1)
    finally:
        _stop(survivor)
    assert final["state"] == "complete" and final["attempts"] == 3
    assert final_dir.is_dir() and len(list(final_dir.iterdir())) == final["results"]["steps"]
    assert list((settings.resolved_data_dir / "tmp" / "jobs").iterdir()) == []


def test_a_job_killed_on_its_last_attempt_ends_in_error(
    store: Any, settings: Settings, test_kind: str
) -> None:
    job = submit_job(store, settings, test_kind,
                     parameters={"mode": "loop", "seconds": 30, "dataset":
                                 "5b0a3b0e-9a51-4f4b-8d0e-2b8b2a1f7a11"})
    for _ in range(settings.job_max_attempts):
        worker = _start_worker(settings)
        deadline = time.monotonic() + 30
        while not get_doc(store, "job", job["_id"]).get("worker", "").endswith(f":{worker.pid}"):
            assert time.monotonic() < deadline, "the job did not start"
            time.sleep(0.05)
        _stop(worker)
    sweeper = _start_worker(settings)
    try:
        (final,) = wait_for(store, [job["_id"]], timeout=30, poll=0.1)
    finally:
        _stop(sweeper)
    assert final["state"] == "error"
    assert final["error"].endswith("died (process gone); gave up after 3 attempts")
    assert not (settings.resolved_data_dir / "datasets").exists()


@pytest.mark.slow
def test_the_pool_runs_real_job_kinds(store: Any, settings: Settings) -> None:
    dataset = store.insert("dataset", {"name": "no matrix", "matrixLocation": "local/file.mtx"})
    job = submit_job(store, settings, "fetch-matrix", dataset_id=dataset["_id"])
    with LocalWorkers(settings, processes=1) as pool:
        assert len(pool.pids) == 1
        (final,) = wait_for(store, [job["_id"]], timeout=60, poll=0.2)
    assert final["state"] == "error"
    assert "has no http(s) matrixLocation" in final["error"]
