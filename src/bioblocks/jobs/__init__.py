"""Durable background jobs: job documents, the runner, the local and Celery executors.

Submit with :func:`submit_job`; a worker claims a queued job with a
compare-and-swap (exactly once), runs the function registered for its kind
(:func:`register_kind`; a program's composition root hands the real kinds in with
:func:`install_kinds`), reports
progress, honours cancellation (:func:`cancel_job`) and records the outcome.
:func:`recover_stale_jobs` retries or fails jobs whose worker died.
Executors: :class:`LocalWorkers` (processes polling the store, the default)
and Celery (:func:`run_celery_worker`, with ``Settings.broker_url``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._local import LocalWorkers, work_loop
from ._model import (
    JobKind,
    KindInstaller,
    canonical_kind,
    get_kind,
    install_kinds,
    kind_installers,
    new_job_document,
    register_kind,
    registered_kinds,
    require_kinds,
    scratch_dir,
    submit_job,
    validate_submission,
)
from ._presence import Presence, polling_workers
from ._recovery import death_reason, recover_stale_jobs
from ._runner import (
    JobContext,
    cancel_job,
    claim,
    claim_next,
    execute,
    run_claimed,
    wait_for,
    worker_name,
)

if TYPE_CHECKING:
    from celery import Celery

    from ..config import Settings
    from ._celery import ScheduleHook


def celery_app(settings: Settings, *, on_schedule: ScheduleHook | None = None) -> Celery:
    """Return the Celery application of ``settings``; see :func:`bioblocks.jobs._celery.celery_app`."""
    from ._celery import celery_app as build  # Celery loads only where a broker is used

    return build(settings, on_schedule=on_schedule)


def run_celery_worker(*args: object, **kwargs: object) -> None:
    """Run a Celery worker in the foreground; see :func:`bioblocks.jobs._celery.run_celery_worker`."""
    from ._celery import run_celery_worker as run

    run(*args, **kwargs)  # type: ignore[arg-type]


__all__ = [
    "JobContext",
    "JobKind",
    "KindInstaller",
    "LocalWorkers",
    "Presence",
    "cancel_job",
    "canonical_kind",
    "celery_app",
    "claim",
    "claim_next",
    "death_reason",
    "execute",
    "get_kind",
    "install_kinds",
    "kind_installers",
    "new_job_document",
    "polling_workers",
    "recover_stale_jobs",
    "register_kind",
    "registered_kinds",
    "require_kinds",
    "run_celery_worker",
    "run_claimed",
    "scratch_dir",
    "submit_job",
    "validate_submission",
    "wait_for",
    "work_loop",
    "worker_name",
]
