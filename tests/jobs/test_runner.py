"""The runner: claiming exactly once, progress, cancellation, errors, final documents."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from bioblocks.config import Settings
from bioblocks.errors import InputError
from bioblocks.jobs import cancel_job, claim, execute, submit_job
from bioblocks.store import get_doc


def test_submit_and_execute_records_the_outcome(store: Any, settings: Settings, test_kind: str,
                                                tmp_path: Path) -> None:
    log = tmp_path / "runs.log"
    job = submit_job(store, settings, test_kind, parameters={"mode": "count", "log": str(log)})
    assert job["state"] == "queued" and job["status"] == "IN_PROGRESS" and job["attempts"] == 0

    final = execute(store, settings, job["_id"], worker="w1")

    assert final is not None
    assert final["state"] == "complete" and final["status"] == "COMPLETE"
    assert final["progress"] == 1.0 and final["results"] == {"counted": job["_id"]}
    assert final["attempts"] == 1 and final["worker"] == "w1"
    assert final["startedAt"] <= final["finishedAt"]
    assert log.read_text().split()[0] == job["_id"]
    # A finished job is not claimed again.
    assert execute(store, settings, job["_id"], worker="w2") is None


def test_exactly_one_of_many_concurrent_claims_wins(store: Any, settings: Settings,
                                                    test_kind: str) -> None:
    job = submit_job(store, settings, test_kind, parameters={"mode": "fail"})
    barrier = threading.Barrier(8)
    winners: list[str] = []

    def attempt(name: str) -> None:
        barrier.wait()
        if claim(store, job["_id"], worker=name) is not None:
            winners.append(name)

    threads = [threading.Thread(target=attempt, args=(f"w{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1
    assert get_doc(store, "job", job["_id"])["worker"] == winners[0]


def test_a_failing_job_is_marked_error_with_the_reason(store: Any, settings: Settings,
                                                        test_kind: str) -> None:
    job = submit_job(store, settings, test_kind, parameters={"mode": "fail"})
    final = execute(store, settings, job["_id"])
    assert final["state"] == "error" and final["status"] == "ERROR"
    assert final["error"] == "mode: this input is wrong on purpose"


def test_cancelling_a_running_job_stops_it_and_leaves_nothing(store: Any, settings: Settings,
                                                              test_kind: str) -> None:
    dataset = "0d6c1c54-5d0c-4a57-9d43-1d1bb3c0b5a1"
    job = submit_job(store, settings, test_kind,
                     parameters={"mode": "loop", "seconds": 3600, "dataset": dataset})
    result: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: result.update(execute(store, settings, job["_id"])))
    thread.start()
    deadline = time.monotonic() + 20
    while get_doc(store, "job", job["_id"])["progress"] == 0.0:
        assert time.monotonic() < deadline, "the job never reported progress"
        time.sleep(0.1)

    assert cancel_job(store, job["_id"])["state"] == "cancelled"
    thread.join(timeout=120)  # a bound only: uncancelled, the job would run for an hour

    assert not thread.is_alive()
    final = get_doc(store, "job", job["_id"])
    assert final["state"] == "cancelled" and final["status"] == "ERROR"
    assert final["finishedAt"] is not None
    data = settings.resolved_data_dir
    assert not (data / "datasets" / dataset).exists()
    assert not (data / "tmp" / "jobs" / job["_id"]).exists()


def test_cancelling_a_queued_job_means_it_never_runs(store: Any, settings: Settings,
                                                      test_kind: str, tmp_path: Path) -> None:
    log = tmp_path / "runs.log"
    job = submit_job(store, settings, test_kind, parameters={"mode": "count", "log": str(log)})
    cancel_job(store, job["_id"])
    assert execute(store, settings, job["_id"]) is None
    assert not log.exists()
    # Cancelling again is a no-op; cancelling a finished job is an input error.
    assert cancel_job(store, job["_id"])["state"] == "cancelled"
    done = submit_job(store, settings, test_kind, parameters={"mode": "fail"})
    execute(store, settings, done["_id"])
    with pytest.raises(InputError, match="job is already error; only queued or running"):
        cancel_job(store, done["_id"])


def test_submission_is_validated(store: Any, settings: Settings) -> None:
    with pytest.raises(InputError) as unknown:
        submit_job(store, settings, "BLAST")
    assert unknown.value.field == "kind"
    with pytest.raises(InputError) as missing:
        submit_job(store, settings, "SPRING", dataset_id="0d6c1c54-5d0c-4a57-9d43-1d1bb3c0b5a1")
    assert missing.value.field == "dataset"
    with pytest.raises(InputError) as no_dataset:
        submit_job(store, settings, "UMAP")
    assert no_dataset.value.field == "dataset"
