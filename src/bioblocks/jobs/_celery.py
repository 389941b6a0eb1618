"""The distributed executor: Celery with a Redis broker (``Settings.broker_url``).

Submitting a job stores it ``queued`` and sends the task ``bioblocks.run_job``
with its id. A Celery worker (``bioblocks worker`` on any machine sharing the
store and the files tree) claims the job with the same compare-and-swap as
the local executor and runs the same job function, so a duplicated or
re-delivered message never runs a job twice. Tasks are acknowledged on
receipt; a worker that dies mid-job is detected by the recovery sweep (run by
``bioblocks worker`` in a side process), which requeues the job and sends the
task again. With ``--beat`` the worker also runs Celery beat, which runs the
``on_schedule`` function handed in by the Celery composition root
(:func:`bioblocks.pipeline.scheduler.celery_app`: queue a ``pipeline`` job) on
``Settings.pipeline_schedule``.

The worker's pool processes are forked from the worker and so inherit its job
kinds; the recovery sweep is spawned and runs the worker's kind installers.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from celery import Celery
from celery.schedules import crontab

from ..store import Doc, Store, find_docs
from ._model import KindInstaller, install_kinds, kind_installers
from ._presence import Presence
from ._recovery import recover_stale_jobs
from ._runner import execute, worker_name

if TYPE_CHECKING:
    from ..config import Settings

log = logging.getLogger(__name__)

RUN_JOB = "bioblocks.run_job"
PIPELINE_TICK = "bioblocks.pipeline_tick"
REDISPATCH_AFTER_SECONDS = 120.0

#: What beat's tick runs: gets the store and the settings, queues the scheduled job and
#: returns it (None when it skipped the slot).
ScheduleHook = Callable[[Store, "Settings"], Doc | None]

_apps: dict[str, Celery] = {}
_stores: dict[int, Store] = {}


def _store(settings: Settings) -> Store:
    # One store per process: engines must not cross a fork.
    pid = os.getpid()
    if pid not in _stores:
        from ..store import open_store

        _stores.clear()
        _stores[pid] = open_store(settings, migrate=False)  # the worker's parent migrated
    return _stores[pid]


def cron_schedule(expression: str) -> crontab:
    """Return the Celery ``crontab`` of a five-field cron ``expression``.

    Raises ValueError for anything but five fields.
    """
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"cron expression {expression!r} must have five fields (m h dom mon dow)")
    minute, hour, day_of_month, month_of_year, day_of_week = fields
    return crontab(
        minute=minute, hour=hour, day_of_month=day_of_month, month_of_year=month_of_year,
        day_of_week=day_of_week,
    )


def celery_app(settings: Settings, *, on_schedule: ScheduleHook | None = None) -> Celery:
    """Return the Celery application for ``settings.broker_url`` (built once per process).

    It has the task ``bioblocks.run_job``. With ``on_schedule`` it also gets the
    task ``bioblocks.pipeline_tick``, which runs ``on_schedule``, and beat's
    schedule ``Settings.pipeline_schedule`` for it. Raises ValueError without a broker.
    """
    if not settings.broker_url:
        raise ValueError("Settings.broker_url is not set: the Celery executor needs a broker")
    key = f"{settings.broker_url}|{settings.resolved_database_url}"
    app = _apps.get(key) or _new_app(settings)
    _apps[key] = app
    if on_schedule is not None and PIPELINE_TICK not in app.tasks:
        _add_schedule(app, settings, on_schedule)
    return app


def _new_app(settings: Settings) -> Celery:
    app = Celery("bioblocks", broker=settings.broker_url, set_as_current=False)
    app.conf.update(
        task_acks_late=False,
        task_ignore_result=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        enable_utc=True,
        timezone="UTC",
    )

    # Not shared: a task closes over its own app's settings, so no other app may take it.
    @app.task(name=RUN_JOB, ignore_result=True, shared=False)
    def run_job(job_id: str) -> str | None:
        """Claim and run one job; returns its final state (None when another worker had it)."""
        final = execute(_store(settings), settings, job_id, worker=worker_name())
        return None if final is None else final.get("state")

    return app


def _add_schedule(app: Celery, settings: Settings, on_schedule: ScheduleHook) -> None:
    if settings.pipeline_schedule:
        app.conf.beat_schedule = {
            "pipeline": {"task": PIPELINE_TICK, "schedule": cron_schedule(settings.pipeline_schedule)}
        }

    @app.task(name=PIPELINE_TICK, ignore_result=True, shared=False)
    def pipeline_tick() -> str | None:
        """Queue the scheduled job (unless ``on_schedule`` skips the slot); return its id."""
        job = on_schedule(_store(settings), settings)
        return None if job is None else job["_id"]


def send_run_job(settings: Settings, job_id: str) -> None:
    """Send the task ``bioblocks.run_job(job_id)`` to the broker."""
    celery_app(settings).send_task(RUN_JOB, args=[job_id])


def sweep_forever(
    settings: Settings, *, interval: float = 5.0, stop: threading.Event | None = None
) -> None:
    """Recover jobs of dead workers and re-send lost messages every ``interval`` s, until ``stop``.

    A queued job untouched for ``REDISPATCH_AFTER_SECONDS`` has its task sent
    again (harmless if the first message is still on its way: the claim makes
    the second one a no-op).
    """
    from ._recovery import _as_datetime

    store = _store(settings)
    halt = stop or threading.Event()
    while not halt.is_set():
        try:
            recover_stale_jobs(store, settings)
            now = time.time()
            for job in find_docs(store, "job", {"state": "queued"}):
                touched = _as_datetime(job.get("_updated"))
                if touched is not None and now - touched.timestamp() > REDISPATCH_AFTER_SECONDS:
                    send_run_job(settings, job["_id"])
        except Exception:
            log.exception("job sweep failed")
        halt.wait(interval)


def _sweeper_main(settings: Settings, installers: Sequence[KindInstaller] = ()) -> None:
    from ._local import die_with_parent

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent()  # never outlive `bioblocks worker`
    logging.basicConfig(level=getattr(logging, settings.log_level.upper(), logging.INFO))
    for installer in installers:  # the kinds' clean-up hooks run for abandoned jobs
        install_kinds(installer)
    sweep_forever(settings)


def run_celery_worker(
    app: Celery, settings: Settings, *, concurrency: int | None = None, beat: bool = False,
    loglevel: str = "INFO",
) -> None:
    """Run a Celery worker of ``app`` in the foreground (``bioblocks worker``), with the recovery sweep.

    ``app`` comes from the Celery composition root
    (:func:`bioblocks.pipeline.scheduler.celery_app`), which also installed the job
    kinds. ``concurrency`` defaults to ``Settings.job_workers``; ``beat`` also
    runs Celery beat for ``Settings.pipeline_schedule``.
    """
    from ..store import open_store

    open_store(settings).close()  # apply migrations once, before any child opens the store
    sweeper = multiprocessing.get_context("spawn").Process(
        target=_sweeper_main, args=(settings, kind_installers()), name="bioblocks-job-sweeper",
        daemon=True,
    )
    sweeper.start()
    argv = [
        "worker",
        f"--concurrency={concurrency or settings.job_workers}",
        "--pool=prefork",
        f"--loglevel={loglevel}",
        f"--hostname=bioblocks-{os.getpid()}@%h",
        "--without-gossip",
        "--without-mingle",
    ]
    if beat:
        schedule = settings.resolved_data_dir / "tmp" / "celerybeat-schedule"
        schedule.parent.mkdir(parents=True, exist_ok=True)
        argv += ["--beat", f"--schedule={schedule}"]
    try:
        with Presence(settings):  # `job submit --wait` can see that a worker is there
            app.worker_main(argv)
    finally:
        sweeper.terminate()
        sweeper.join(timeout=5)
