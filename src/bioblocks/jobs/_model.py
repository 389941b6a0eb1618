"""Job documents: the job-kind protocol, the registry of job functions, and submission.

A job is a document of the ``job`` collection. Its life::

    queued ──claim──▶ running ──▶ complete
       │                 │  └────▶ error       (the job function raised; or the worker
       │                 │                      died ``job_max_attempts`` times)
       │                 └──worker died──▶ queued   (retried, ``attempts`` counts)
       └──────────PATCH state=cancelled──────▶ cancelled (also from running)

The old fields stay in step for old readers: ``status`` is ``IN_PROGRESS``
while queued or running, ``COMPLETE`` on success, ``ERROR`` on error or
cancellation; ``associatedDataset`` is ``{"dataset": id, "etag": etag}``. The kinds' names,
the states and the old statuses are defined once, in :mod:`bioblocks.resources.job`.

*Kinds are handed in.* This package knows no job kind: a program's composition
root (the CLI, :func:`bioblocks.api.create_app`, the Celery worker) calls
:func:`install_kinds` with the function that registers them
(:func:`bioblocks.pipeline.kinds.register_kinds`). The executors hand the
installers run in their process to the worker processes they spawn.
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
from ..resources.job import OLD_STATUS
from ..store import Doc, Store, get_doc, insert_doc

if TYPE_CHECKING:
    from ..config import Settings
    from ._runner import JobContext

log = logging.getLogger(__name__)


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
    validate: Callable[[Store, Settings, str | None, dict[str, Any]], dict[str, Any]] | None = None
    needs_dataset: bool = True
    on_abandon: Callable[[Store, Settings, Doc], None] | None = None


#: A function that registers job kinds: it gets :func:`register_kind` and calls it per kind.
#: It must be a module-level function (spawned worker processes import it by name).
KindInstaller = Callable[[Callable[[JobKind], JobKind]], None]

_REGISTRY: dict[str, JobKind] = {}
_INSTALLERS: list[KindInstaller] = []


def register_kind(kind: JobKind) -> JobKind:
    """Register (or replace) the function run for jobs of ``kind.name``; return it."""
    _REGISTRY[kind.name] = kind
    return kind


def install_kinds(installer: KindInstaller) -> None:
    """Register the kinds of ``installer`` here and in the job workers this process starts later.

    Writes the registry of this process; the local and Celery executors run
    the same installers in each worker process they spawn (:func:`kind_installers`).
    An installer already installed here is not run again (a root built twice in one
    process, such as ``create_app`` in tests, keeps kinds registered since).
    """
    if installer in _INSTALLERS:
        return
    installer(register_kind)
    _INSTALLERS.append(installer)


def kind_installers() -> tuple[KindInstaller, ...]:
    """Return the installers :func:`install_kinds` ran in this process, in order."""
    return tuple(_INSTALLERS)


def require_kinds() -> None:
    """Return if any job kind is registered; raise RuntimeError saying how to register them.

    The executors call it before they claim a job, so a process wired without
    kinds fails at once instead of failing every job as of an unknown kind.
    """
    if not _REGISTRY:
        raise RuntimeError(
            "no job kinds are registered in this process: the program's composition root must "
            "call bioblocks.jobs.install_kinds(bioblocks.pipeline.kinds.register_kinds)"
        )


def _kind_key(name: str) -> str:
    return name.strip().lower().replace("-", "").replace("_", "")


def canonical_kind(name: Any) -> str:
    """Return the registered spelling of job kind ``name``, matched in any case
    (``spring`` and ``Spring`` are ``SPRING``, ``t-sne`` is ``TSNE``).

    Raises :class:`InputError` (field ``kind``) listing the known kinds.
    """
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
    return sorted(_REGISTRY)


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
    store: Store,
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
    store: Store,
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
