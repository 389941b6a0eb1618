"""The Celery executor's configuration: task names, acknowledgement, the beat schedule.

A real ``bioblocks worker`` on Redis and PostgreSQL runs the pipeline end to end, takes
duplicate messages and recovers jobs of dead workers in
``tests/pipeline/test_steps.py::test_the_pipeline_runs_on_celery_workers_with_postgres_and_redis``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bioblocks.config import Settings
from bioblocks.jobs import celery_app as executor_app
from bioblocks.jobs._celery import PIPELINE_TICK, RUN_JOB, cron_schedule
from bioblocks.pipeline.scheduler import celery_app, queue_scheduled_pipeline


def test_the_cron_expression_becomes_a_celery_crontab() -> None:
    schedule = cron_schedule("30 3 * * 1")
    assert schedule.minute == {30} and schedule.hour == {3} and schedule.day_of_week == {1}
    with pytest.raises(ValueError, match="five fields"):
        cron_schedule("* * *")


def test_the_app_registers_the_tasks_and_the_schedule(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, broker_url="redis://127.0.0.1:6379/15",
                        pipeline_schedule="0 3 * * *")
    app = celery_app(settings)
    assert {RUN_JOB, PIPELINE_TICK} <= set(app.tasks)
    assert app.conf.task_acks_late is False and app.conf.worker_prefetch_multiplier == 1
    beat = app.conf.beat_schedule["pipeline"]
    assert beat["task"] == PIPELINE_TICK and beat["schedule"].hour == {3}
    assert celery_app(settings) is app  # one app per process and configuration
    with pytest.raises(ValueError, match="broker_url is not set"):
        celery_app(Settings(data_dir=tmp_path))


def test_the_executor_alone_has_no_schedule_until_a_root_hands_one_in(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, broker_url="redis://127.0.0.1:6379/14",
                        pipeline_schedule="0 3 * * *")
    app = executor_app(settings)
    assert RUN_JOB in app.tasks and PIPELINE_TICK not in app.tasks
    assert not app.conf.beat_schedule
    assert executor_app(settings, on_schedule=queue_scheduled_pipeline) is app
    assert PIPELINE_TICK in app.tasks and app.conf.beat_schedule["pipeline"]["task"] == PIPELINE_TICK
