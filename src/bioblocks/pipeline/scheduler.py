"""Running the pipeline on a schedule, and the background services of ``bioblocks serve``.

``Settings.pipeline_schedule`` is a five-field cron expression (``"0 3 * * *"``:
every night at 03:00 UTC). Each time it comes round a ``pipeline`` job is
queued — unless one is still queued or running, so slow runs never pile up
and several servers sharing a store queue it once per slot between them
(mostly; a duplicate would find nothing left to do). Two ways to keep the
schedule:

* inside ``bioblocks serve``: :class:`PipelineScheduler`, a thread using croniter;
* with Celery: ``bioblocks worker --beat`` (Celery beat with the same crontab).

:func:`background_services` starts what ``serve`` needs beside the API: the
local job workers (when no broker is configured) and the scheduler.
:func:`celery_app` is the Celery composition root: it installs the job kinds and
hands :func:`queue_scheduled_pipeline` to the Celery executor as beat's tick.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from croniter import croniter

from ..errors import InputError
from ..jobs import LocalWorkers, install_kinds, submit_job
from ..jobs import celery_app as executor_app
from ..resources.job import ACTIVE_STATES
from ..store import Store, find_docs
from .kinds import register_kinds

if TYPE_CHECKING:
    from celery import Celery

    from ..config import Settings

log = logging.getLogger(__name__)


def check_schedule(expression: str) -> str:
    """Return ``expression`` if it is a valid five-field cron expression; raise InputError if not."""
    if len(expression.split()) != 5 or not croniter.is_valid(expression):
        raise InputError(
            f"{expression!r} is not a cron expression; use five fields "
            "'minute hour day-of-month month day-of-week', e.g. '0 3 * * *'",
            field="BIOBLOCKS_PIPELINE_SCHEDULE",
        )
    return expression


def next_run(expression: str, after: dt.datetime) -> dt.datetime:
    """Return the first time after ``after`` (UTC) that ``expression`` names."""
    return croniter(check_schedule(expression), after).get_next(dt.datetime)


def queue_scheduled_pipeline(store: Store, settings: Settings) -> dict[str, Any] | None:
    """Queue a ``pipeline`` job unless one is queued or running; return it (or None)."""
    if find_docs(store, "job", {"kind": "pipeline", "state": {"$in": list(ACTIVE_STATES)}},
                 limit=1):
        log.info("scheduled pipeline skipped: the previous run is still going")
        return None
    job = submit_job(store, settings, "pipeline", parameters={})
    log.info("scheduled pipeline queued as job %s", job["_id"])
    return job


def celery_app(settings: Settings) -> Celery:
    """Return the Celery application of ``bioblocks worker``, wired: the composition root.

    Installs the job kinds in this process (the worker's pool inherits them) and
    hands :func:`queue_scheduled_pipeline` to the executor as the task beat runs on
    ``Settings.pipeline_schedule``. Raises ValueError without ``Settings.broker_url``.
    """
    install_kinds(register_kinds)
    return executor_app(settings, on_schedule=queue_scheduled_pipeline)


class PipelineScheduler:
    """A thread that queues a pipeline job at every time ``expression`` names."""

    def __init__(self, store: Store, settings: Settings, expression: str) -> None:
        self.store = store
        self.settings = settings
        self.expression = check_schedule(expression)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="pipeline-scheduler", daemon=True)

    def start(self) -> PipelineScheduler:
        """Start the thread; return self."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread (it does not interrupt a queued pipeline)."""
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            now = dt.datetime.now(dt.UTC)
            due = next_run(self.expression, now)
            log.info("next scheduled pipeline run at %s", due.isoformat())
            if self._stop.wait((due - now).total_seconds()):
                return
            try:
                queue_scheduled_pipeline(self.store, self.settings)
            except Exception:
                log.exception("could not queue the scheduled pipeline")


@contextlib.contextmanager
def background_services(
    settings: Settings, *, store: Store | None = None, workers: int | None = None
) -> Iterator[dict[str, Any]]:
    """Run the local job workers and the pipeline scheduler for as long as the block lasts.

    Local workers start when ``Settings.broker_url`` is unset (``workers``,
    default ``Settings.job_workers``; 0 starts none); the scheduler when
    ``Settings.pipeline_schedule`` is set. Yields ``{"workers": LocalWorkers
    | None, "scheduler": PipelineScheduler | None}``.
    """
    pool = None
    scheduler = None
    count = settings.job_workers if workers is None else workers
    try:
        if not settings.broker_url and count > 0:
            pool = LocalWorkers(settings, processes=count).start()
        if settings.pipeline_schedule:
            if store is None:
                from ..store import open_store

                store = open_store(settings)
            scheduler = PipelineScheduler(store, settings, settings.pipeline_schedule).start()
        yield {"workers": pool, "scheduler": scheduler}
    finally:
        if scheduler is not None:
            scheduler.stop()
        if pool is not None:
            pool.stop()
