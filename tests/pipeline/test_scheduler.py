"""The schedule: cron expressions, one pipeline job per slot, the background services."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest

from bioblocks.config import Settings
from bioblocks.errors import InputError
from bioblocks.pipeline import scheduler
from bioblocks.pipeline.scheduler import (
    PipelineScheduler,
    background_services,
    check_schedule,
    next_run,
    queue_scheduled_pipeline,
)
from bioblocks.store import find_docs


def test_cron_expressions_are_checked_and_followed() -> None:
    assert next_run("0 3 * * *", dt.datetime(2026, 1, 1, 4, 0)) == dt.datetime(2026, 1, 2, 3, 0)
    assert next_run("*/15 * * * *", dt.datetime(2026, 1, 1, 4, 1)) == dt.datetime(2026, 1, 1, 4, 15)
    for bad in ("every night", "0 3 * *", "61 * * * *"):
        with pytest.raises(InputError, match="is not a cron expression"):
            check_schedule(bad)


def test_a_slot_queues_one_pipeline_job_unless_one_is_still_going(
    store: Any, settings: Settings
) -> None:
    first = queue_scheduled_pipeline(store, settings)
    assert first is not None and first["kind"] == "pipeline" and first["state"] == "queued"
    assert queue_scheduled_pipeline(store, settings) is None
    store.patch("job", first["_id"], {"state": "complete"})
    assert queue_scheduled_pipeline(store, settings) is not None


def test_the_scheduler_thread_queues_at_each_due_time(
    store: Any, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scheduler, "next_run",
                        lambda expression, after: after + dt.timedelta(seconds=0.2))
    thread = PipelineScheduler(store, settings, "* * * * *").start()
    try:
        deadline = time.monotonic() + 10
        while not find_docs(store, "job", {"kind": "pipeline"}):
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        thread.stop()
    assert len(find_docs(store, "job", {"kind": "pipeline"})) == 1


def test_background_services_follow_the_settings(settings: Settings) -> None:
    with background_services(settings.model_copy(update={"broker_url": "redis://x"})) as none:
        assert none == {"workers": None, "scheduler": None}
    scheduled = settings.model_copy(update={"pipeline_schedule": "0 3 * * *"})
    with background_services(scheduled, workers=1) as services:
        assert services["workers"].processes == 1 and len(services["workers"].pids) == 1
        assert services["scheduler"].expression == "0 3 * * *"
        pids = services["workers"].pids
    assert all(not _alive(pid) for pid in pids)


def _alive(pid: int) -> bool:
    from bioblocks.storage import process_alive

    return process_alive(pid)
