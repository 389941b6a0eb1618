"""Durable background jobs: job documents, the runner, the local and Celery executors.

Submit with :func:`submit_job`; a worker claims a queued job with a
compare-and-swap (exactly once), runs the function registered for its kind
(:func:`register_kind`; the pipeline registers the real kinds), reports
progress, honours cancellation (:func:`cancel_job`) and records the outcome.
:func:`recover_stale_jobs` retries or fails jobs whose worker died.
Executors: :class:`LocalWorkers` (processes polling the store, the default)
and Celery (:func:`run_celery_worker`, with ``Settings.broker_url``).
"""

from ._local import LocalWorkers, work_loop
from ._model import (
    ACTIVE_STATES,
    FINAL_STATES,
    KINDS,
    OLD_STATUS,
    STATES,
    JobKind,
    canonical_kind,
    get_kind,
    new_job_document,
    register_kind,
    registered_kinds,
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
from ._store import find_docs, get_doc, insert_doc, patch_doc, require_doc, update_with_retry


def run_celery_worker(*args: object, **kwargs: object) -> None:
    """Run a Celery worker in the foreground; see :func:`bioblocks.jobs._celery.run_celery_worker`."""
    from ._celery import run_celery_worker as run

    run(*args, **kwargs)  # type: ignore[arg-type]


__all__ = [
    "ACTIVE_STATES",
    "FINAL_STATES",
    "KINDS",
    "OLD_STATUS",
    "STATES",
    "JobContext",
    "JobKind",
    "LocalWorkers",
    "Presence",
    "cancel_job",
    "canonical_kind",
    "claim",
    "claim_next",
    "death_reason",
    "execute",
    "find_docs",
    "get_doc",
    "get_kind",
    "insert_doc",
    "new_job_document",
    "patch_doc",
    "polling_workers",
    "recover_stale_jobs",
    "register_kind",
    "registered_kinds",
    "require_doc",
    "run_celery_worker",
    "run_claimed",
    "scratch_dir",
    "submit_job",
    "update_with_retry",
    "validate_submission",
    "wait_for",
    "work_loop",
    "worker_name",
]
