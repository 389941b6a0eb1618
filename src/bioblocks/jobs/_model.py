"""Job documents: kinds, states, the registry of job functions, and submission.

A job is a document of the ``job`` collection. Its life::

    queued ──claim──▶ running ──▶ complete
       │                 │  └────▶ error       (the job function raised; or the worker
       │                 │                      died ``job_max_attempts`` times)
       │                 └──worker died──▶ queued   (retried, ``attempts`` counts)
       └──────────PATCH state=cancelled──────▶ cancelled (also from running)

The old fields stay in step for old readers: ``status`` is ``IN_PROGRESS``
while queued or running, ``COMPLETE`` on success, ``ERROR`` on error or
cancellation; ``associatedDataset`` is ``{"dataset": id, "etag": etag}``.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError
from ._store import Doc, get_doc, insert_doc

if TYPE_CHECKING:
    from ..config import Settings
    from ._runner import JobContext

log = logging.getLogger(__name__)

KINDS = ("import", "fetch-matrix", "SPRING", "TSNE", "UMAP", "hca-sync", "pipeline")
STATES = ("queued", "running", "complete", "error", "cancelled")
ACTIVE_STATES = ("queued", "running")
FINAL_STATES = ("complete", "error", "cancelled")
OLD_STATUS = {
    "queued": "IN_PROGRESS",
    "running": "IN_PROGRESS",
    "complete": "COMPLETE",
    "error": "ERROR",
    "cancelled": "ERROR",
}


@dataclass(frozen=True)
class JobKind:
    """A registered kind of job.

    ``run`` does the work and returns the job's ``results``; ``validate``
    checks a submission (raising :class:`InputError` naming the field) and
    returns the normalised parameters; ``on_abandon`` cleans up after a worker
    died while running a job of this kind (it gets the store, the settings and
    the job document).
    """

    name: str
    run: Callable[[JobContext], dict[str, Any]]
    validate: Callable[[Any, Settings, str | None, dict[str, Any]], dict[str, Any]] | None = None
    needs_dataset: bool = True
    on_abandon: Callable[[Any, Settings, Doc], None] | None = None


_REGISTRY: dict[str, JobKind] = {}


def register_kind(kind: JobKind) -> JobKind:
    """Register (or replace) the function run for jobs of ``kind.name``; return it."""
    _REGISTRY[kind.name] = kind
    return kind


def _kind_key(name: str) -> str:
    return name.strip().lower().replace("-", "").replace("_", "")


def canonical_kind(name: Any) -> str:
    """Return the registered spelling of job kind ``name``, matched in any case
    (``spring`` and ``Spring`` are ``SPRING``, ``t-sne`` is ``TSNE``).

    Raises :class:`InputError` (field ``kind``) listing the known kinds.
    """
    _load_builtin_kinds()
    if isinstance(name, str):
        if name in _REGISTRY:
            return name
        for registered in _REGISTRY:
            if _kind_key(registered) == _kind_key(name):
                return registered
    known = ", ".join(sorted(_REGISTRY)) or "none"
    raise InputError(f"unknown job kind {name!r}; use one of: {known} (any case)", field="kind")


def get_kind(name: str) -> JobKind:
    """Return the registered kind ``name`` (any case); raise :class:`InputError` listing the known ones."""
    return _REGISTRY[canonical_kind(name)]


def registered_kinds() -> list[str]:
    """Return the names of the registered job kinds."""
    _load_builtin_kinds()
    return sorted(_REGISTRY)


def _load_builtin_kinds() -> None:
    # The pipeline registers the real kinds when imported; importing it here keeps
    # the worker, the API and the CLI from having to remember to do so.
    from ..pipeline import kinds  # noqa: F401


def now() -> dt.datetime:
    """Return the current UTC time as a naive datetime, whole seconds (the store's form)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def new_job_document(
    kind: str,
    *,
    dataset: Doc | None = None,
    parameters: dict[str, Any] | None = None,
    link: str | None = None,
) -> Doc:
    """Return a fresh ``queued`` job document (not stored) with the old fields filled in."""
    doc: Doc = {
        "_id": str(uuid.uuid4()),
        "kind": kind,
        "state": "queued",
        "status": OLD_STATUS["queued"],
        "progress": 0.0,
        "message": "queued",
        "parameters": parameters or {},
        "results": {},
        "attempts": 0,
        "createdAt": now(),
    }
    if dataset is not None:
        doc["associatedDataset"] = {"dataset": dataset["_id"], "etag": dataset.get("_etag", "")}
    if link:
        doc["link"] = link
    return doc


def validate_submission(
    store: Any,
    settings: Settings,
    kind: str,
    *,
    dataset_id: str | None = None,
    parameters: dict[str, Any] | None = None,
) -> tuple[Doc | None, dict[str, Any]]:
    """Check a submission; return the dataset document (or None) and normalised parameters.

    Raises :class:`InputError` naming the field at fault (``kind``,
    ``dataset`` or ``parameters.<name>``). ``kind`` may be in any case.
    """
    kind = canonical_kind(kind)
    job_kind = get_kind(kind)
    if not isinstance(parameters, dict | None):
        raise InputError("parameters must be an object of name: value pairs", field="parameters")
    params = dict(parameters or {})
    dataset = None
    if dataset_id is not None:
        dataset = get_doc(store, "dataset", dataset_id)
        if dataset is None:
            raise InputError(f"dataset {dataset_id!r} does not exist", field="dataset")
    elif job_kind.needs_dataset:
        raise InputError(f"a {kind} job needs a dataset id", field="dataset")
    if job_kind.validate is not None:
        params = job_kind.validate(store, settings, dataset_id, params)
    return dataset, params


def submit_job(
    store: Any,
    settings: Settings,
    kind: str,
    *,
    dataset_id: str | None = None,
    parameters: dict[str, Any] | None = None,
    link: str | None = None,
) -> Doc:
    """Validate, store a ``queued`` job and hand it to the executor; return the stored job.

    With ``Settings.broker_url`` the job id is also sent to Celery (task
    ``bioblocks.run_job``); otherwise the local workers find it by polling.
    ``kind`` may be in any case; the job records its canonical spelling.
    """
    kind = canonical_kind(kind)
    dataset, params = validate_submission(
        store, settings, kind, dataset_id=dataset_id, parameters=parameters
    )
    doc = insert_doc(store, "job",
                     new_job_document(kind, dataset=dataset, parameters=params, link=link))
    log.info("queued %s job %s", kind, doc["_id"])
    dispatch(settings, doc["_id"])
    return doc


def dispatch(settings: Settings, job_id: str) -> None:
    """Tell the Celery executor about a queued job (no-op for the local executor).

    A broker that cannot be reached is logged, not raised: the job is stored
    and the recovery sweep of the workers re-sends queued jobs.
    """
    if settings.broker_url:
        from ._celery import send_run_job

        try:
            send_run_job(settings, job_id)
        except Exception:  # the job stays queued; the workers' sweep sends it again
            log.warning("could not send job %s to the broker; it stays queued", job_id,
                        exc_info=True)


def scratch_dir(settings: Settings, job_id: str) -> Path:
    """Return a job's private staging root ``<data_dir>/tmp/jobs/<job_id>`` (not created).

    Job functions stage their outputs below it (``atomic_dir(..., data_dir=scratch)``
    puts its staging folders in ``<scratch>/tmp``), so the crash recovery can
    remove exactly what a dead job left behind.
    """
    return settings.resolved_data_dir / "tmp" / "jobs" / job_id
