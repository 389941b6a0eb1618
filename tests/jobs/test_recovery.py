"""Crash recovery: jobs of dead workers are retried (bounded) or marked error, scratch removed."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from bioblocks.config import Settings
from bioblocks.jobs import (
    claim,
    death_reason,
    recover_stale_jobs,
    scratch_dir,
    submit_job,
)
from bioblocks.store import get_doc


def _dead_worker() -> str:
    return f"{socket.gethostname()}:{2**22 + 12345}"  # above pid_max: never a live process


def test_a_job_whose_worker_died_is_requeued_then_failed(store: Any, settings: Settings,
                                                          test_kind: str) -> None:
    job = submit_job(store, settings, test_kind, parameters={"mode": "fail"})
    for attempt in range(1, settings.job_max_attempts + 1):
        running = claim(store, job["_id"], worker=_dead_worker())
        assert running is not None and running["attempts"] == attempt
        scratch = scratch_dir(settings, job["_id"])
        (scratch / "tmp" / "x.partial").mkdir(parents=True)
        assert death_reason(running) == f"worker {_dead_worker()} died (process gone)"

        changed = recover_stale_jobs(store, settings)

        assert [c["_id"] for c in changed] == [job["_id"]]
        assert not scratch.exists()
        after = get_doc(store, "job", job["_id"])
        if attempt < settings.job_max_attempts:
            assert after["state"] == "queued" and after["status"] == "IN_PROGRESS"
            assert after["message"].startswith(f"retrying: worker {_dead_worker()} died")
        else:
            assert after["state"] == "error" and after["status"] == "ERROR"
            assert after["error"] == (
                f"worker {_dead_worker()} died (process gone); gave up after 3 attempts"
            )
    assert recover_stale_jobs(store, settings) == []


def test_a_silent_worker_on_another_host_is_detected_by_its_heartbeat(
    store: Any, settings: Settings, test_kind: str
) -> None:
    job = submit_job(store, settings, test_kind, parameters={"mode": "fail"})
    running = claim(store, job["_id"], worker="elsewhere:1")
    assert death_reason(running) is None  # touched just now
    assert "stopped reporting" in death_reason(running, stale_after=-1.0)
    assert recover_stale_jobs(store, settings) == []
    changed = recover_stale_jobs(store, settings, stale_after=-1.0)
    assert changed[0]["state"] == "queued"


def test_a_live_worker_is_left_alone(store: Any, settings: Settings, test_kind: str) -> None:
    job = submit_job(store, settings, test_kind, parameters={"mode": "fail"})
    claim(store, job["_id"], worker=f"{socket.gethostname()}:1")  # pid 1 is alive
    assert recover_stale_jobs(store, settings) == []
    assert get_doc(store, "job", job["_id"])["state"] == "running"


def test_the_clean_up_runs_before_the_job_can_be_claimed_again(
    store: Any, settings: Settings, test_kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bioblocks.jobs import _recovery

    job = submit_job(store, settings, test_kind, parameters={"mode": "fail"})
    claim(store, job["_id"], worker=_dead_worker())
    seen: list[dict[str, Any]] = []
    original = _recovery._clean_up  # noqa: SLF001

    def clean_up(store: Any, settings: Settings, doc: dict[str, Any]) -> None:
        seen.append(get_doc(store, "job", doc["_id"]))
        # a second worker polling right now finds nothing to claim
        assert claim(store, doc["_id"], worker="other:1") is None
        original(store, settings, doc)

    monkeypatch.setattr(_recovery, "_clean_up", clean_up)
    (changed,) = recover_stale_jobs(store, settings)
    assert len(seen) == 1 and seen[0]["state"] == "running"
    assert seen[0]["worker"].startswith("recovering@")
    assert changed["state"] == "queued" and changed["worker"] == ""
    assert changed["message"].startswith(f"retrying: worker {_dead_worker()} died")


def test_a_sweeper_that_died_mid_recovery_is_itself_detected(
    store: Any, settings: Settings, test_kind: str
) -> None:
    job = submit_job(store, settings, test_kind, parameters={"mode": "fail"})
    claim(store, job["_id"], worker="recovering@" + _dead_worker())
    (changed,) = recover_stale_jobs(store, settings)
    assert changed["state"] == "queued"
