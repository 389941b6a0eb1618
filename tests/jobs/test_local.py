"""The local executor: worker processes polling one store run each job exactly once,
and a worker killed mid-job loses nothing."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bioblocks.config import Settings
from bioblocks.jobs import LocalWorkers, submit_job, wait_for
from bioblocks.jobs._runner import HOLD_ENV
from bioblocks.store import get_doc

HERE = Path(__file__).parent


def _start_worker(settings: Settings, *, hold: Path | None = None) -> subprocess.Popen[bytes]:
    """Start a test worker; with ``hold`` its job waits at its first progress report
    until the test releases it (``BIOBLOCKS_TEST_HOLD``, see :mod:`bioblocks.jobs._runner`)."""
    env = dict(os.environ)
    env.pop(HOLD_ENV, None)
    if hold is not None:
        env[HOLD_ENV] = f"0:{hold}"
    return subprocess.Popen(
        [sys.executable, str(HERE / "_testkinds.py"), str(settings.resolved_data_dir),
         settings.resolved_database_url],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, env=env,
    )


def _wait_held(hold: Path, job_id: str, worker: subprocess.Popen[bytes]) -> None:
    """Wait until ``worker`` holds job ``job_id`` mid-run (it wrote ``<job_id>.held``)."""
    marker = hold / f"{job_id}.held"
    _wait_until(lambda: marker.exists() and marker.read_text().strip() == str(worker.pid),
                "the job did not start")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def test_two_polling_workers_never_run_a_job_twice(store: Any, settings: Settings,
                                                   test_kind: str, tmp_path: Path) -> None:
    log = tmp_path / "executions.log"
    # The first job waits until the other worker has run one too, so both take part
    # however their start-up times differ; none may run a job twice.
    jobs = [submit_job(store, settings, test_kind,
                       parameters={"mode": "count", "log": str(log), "seconds": 0.01,
                                   "meet": 2 if index == 0 else 0})
            for index in range(60)]
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
    store: Any, settings: Settings, test_kind: str, tmp_path: Path
) -> None:
    dataset = "5b0a3b0e-9a51-4f4b-8d0e-2b8b2a1f7a10"
    job = submit_job(store, settings, test_kind,
                     parameters={"mode": "loop", "seconds": 3.0, "dataset": dataset})
    final_dir = settings.resolved_data_dir / "datasets" / dataset / "analyses" / job["_id"]
    for attempt in range(2):  # killed twice, while provably mid-run; the third attempt completes
        hold = tmp_path / f"hold{attempt}"
        worker = _start_worker(settings, hold=hold)
        _wait_held(hold, job["_id"], worker)
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
    store: Any, settings: Settings, test_kind: str, tmp_path: Path
) -> None:
    job = submit_job(store, settings, test_kind,
                     parameters={"mode": "loop", "seconds": 30, "dataset":
                                 "5b0a3b0e-9a51-4f4b-8d0e-2b8b2a1f7a11"})
    for attempt in range(settings.job_max_attempts):
        hold = tmp_path / f"hold{attempt}"
        worker = _start_worker(settings, hold=hold)
        _wait_held(hold, job["_id"], worker)
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


def _descendants(pid: int) -> set[int]:
    """Return the pids of every live descendant of ``pid`` (from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text(encoding="ascii", errors="replace")
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if fields[0] not in ("Z", "X"):
                parents[int(entry.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _wait_until(condition: Any, what: str, *, limit: float = 60.0) -> None:
    """Poll ``condition()`` until it is true; fail naming ``what`` after ``limit`` s (a bound only)."""
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def _kill_all(process: subprocess.Popen[bytes], others: set[int]) -> None:
    """SIGKILL ``process``'s group and the processes ``others`` (what a failed test left)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    for pid in others:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def _cli_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {**os.environ, "BIOBLOCKS_DATA_DIR": str(settings.data_dir),
           "BIOBLOCKS_LOG_LEVEL": "INFO", **extra}
    env.pop("BIOBLOCKS_BROKER_URL", None)
    env.pop("BIOBLOCKS_DATABASE_URL", None)
    return env


@pytest.mark.slow
@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_sigterm_of_serve_stops_its_job_workers(settings: Settings, tmp_path: Path,
                                                 stop_signal: int) -> None:
    import httpx

    from bioblocks.storage import process_alive
    from tests.jobs.test_server_processes import _free_port

    port = _free_port()
    log = tmp_path / "serve.log"
    processes: set[int] = set()
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "bioblocks"), "serve", "--port", str(port)],
            env=_cli_env(settings, BIOBLOCKS_JOB_WORKERS="2"), stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        def ready() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/", timeout=5).status_code == 200
            except httpx.TransportError:
                return False

        _wait_until(ready, f"serve did not answer: {log.read_text()[-2000:]}")
        _wait_until(lambda: len(re.findall(r"job worker \S+ started", log.read_text())) >= 2,
                    f"the job workers did not start: {log.read_text()[-2000:]}")
        processes = _descendants(server.pid)
        assert len(processes) >= 2, processes
        server.send_signal(stop_signal)
        assert server.wait(timeout=60) == 0, log.read_text()[-2000:]
        _wait_until(lambda: not any(process_alive(pid) for pid in processes),
                    f"left behind: {[p for p in processes if process_alive(p)]}")
    finally:
        _kill_all(server, processes)


@pytest.mark.slow
def test_a_job_worker_exits_when_its_parent_is_sigkilled(settings: Settings, tmp_path: Path) -> None:
    from bioblocks.storage import process_alive

    log = tmp_path / "worker.log"
    children: set[int] = set()
    with log.open("wb") as out:
        parent = subprocess.Popen(
            [str(Path(sys.executable).parent / "bioblocks"), "worker", "--concurrency", "1"],
            env=_cli_env(settings), stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_until(lambda: re.search(r"job worker \S+ started", log.read_text()) is not None,
                    f"the worker did not start: {log.read_text()[-2000:]}")
        children = _descendants(parent.pid)
        assert children
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        _wait_until(lambda: not any(process_alive(pid) for pid in children),
                    f"orphaned workers kept running: {[p for p in children if process_alive(p)]}")
    finally:
        _kill_all(parent, children)
