"""The pipeline: the old cron job's process steps, as idempotent steps that queue jobs.

Steps, in order (``STEPS``):

``hca-sync``
    one ``hca-sync`` job per HCA project matching the filter
    (``Settings.hca_sync`` or the run's ``hca_filter``; none: nothing) whose
    chosen matrix is not yet imported at the same file version;
``fetch-matrices``
    one ``fetch-matrix`` job per dataset whose ``matrixLocation`` is an
    http(s) URL and that has no imported matrix yet;
``spring``
    one ``SPRING`` job per dataset and spec §9 subsample size that has no
    SPRING analysis of that size;
``tsne``, ``umap``
    one job per dataset with a whole-data SPRING analysis and no t-SNE (UMAP)
    analysis.

A unit that already has its result, or a queued/running job for it, is
skipped. Each unit is its own job, so a failed dataset does not stop the
others. :func:`run_pipeline` queues a step's jobs, runs those no other worker
has claimed in the calling process (so the pipeline works with or without
running workers), waits for the step to finish, then starts the next one, and
returns one :class:`StepReport` per step.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import InputError
from ..jobs import execute, submit_job, worker_name
from ..progress import Progress, null_progress, scaled
from ..resources.job import ACTIVE_STATES
from ..store import Doc, Store, find_docs, get_doc
from . import operations

if TYPE_CHECKING:
    from ..config import Settings

log = logging.getLogger(__name__)

STEPS = ("hca-sync", "fetch-matrices", "spring", "tsne", "umap")


@dataclass(frozen=True)
class Unit:
    """One job a step wants: its kind, dataset, parameters, and a label for people."""

    kind: str
    label: str
    dataset: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass
class StepReport:
    """What one step did: jobs ``done``, units ``skipped`` (nothing to do), jobs ``failed``.

    ``planned`` counts the units it queued (or would queue, in a dry run);
    ``errors`` holds ``"<label>: <reason>"`` per failed job; ``seconds`` the
    step's duration.
    """

    step: str
    planned: int = 0
    done: int = 0
    skipped: int = 0
    failed: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    jobs: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The report as a JSON-able dict."""
        return asdict(self)


def subsample_sizes(n_cells: int) -> list[int]:
    """Return the spec §9 SPRING subsample sizes of a dataset of ``n_cells`` cells."""
    from ..analysis import subsample_sizes as sizes

    return list(sizes(n_cells))


def _datasets(store: Store, dataset_ids: Sequence[str] | None) -> list[Doc]:
    if dataset_ids:
        found = []
        for dataset_id in dataset_ids:
            doc = get_doc(store, "dataset", dataset_id)
            if doc is None:
                raise InputError(f"dataset {dataset_id!r} does not exist", field="dataset")
            found.append(doc)
        return found
    return find_docs(store, "dataset", {}, sort=[("_created", 1)])


def _active(store: Store, kind: str, dataset_id: str | None) -> list[Doc]:
    where: dict[str, Any] = {"kind": kind, "state": {"$in": list(ACTIVE_STATES)}}
    if dataset_id is not None:
        where["associatedDataset.dataset"] = dataset_id
    return find_docs(store, "job", where)


def _cells(dataset: Doc) -> int | None:
    cells = (dataset.get("matrixInfo") or {}).get("cells")
    return int(cells) if cells else None


def plan_step(
    store: Store,
    settings: Settings,
    step: str,
    *,
    datasets: Sequence[str] | None = None,
    params: dict[str, dict[str, Any]] | None = None,
    hca_filter: dict[str, Any] | None = None,
) -> tuple[list[Unit], int]:
    """Return the units ``step`` would queue now and the number it skips as already done."""
    params = params or {}
    units: list[Unit] = []
    skipped = 0
    if step == "hca-sync":
        chosen = hca_filter or dict(settings.hca_sync)
        if not chosen:
            log.info("hca-sync: no filter configured (BIOBLOCKS_HCA_SYNC); nothing to import")
            return [], 0
        return _plan_hca(store, settings, chosen)
    if step not in STEPS:
        raise InputError(f"unknown step {step!r}; use {', '.join(STEPS)}", field="steps")
    for dataset in _datasets(store, datasets):
        dataset_id = dataset["_id"]
        name = str(dataset.get("name") or dataset_id)
        cells = _cells(dataset)
        if step == "fetch-matrices":
            location = str(dataset.get("matrixLocation") or "")
            if not re.match(r"^https?://", location) or cells:
                skipped += 1
            elif _active(store, "fetch-matrix", dataset_id):
                skipped += 1
            else:
                units.append(Unit("fetch-matrix", f"{name}: fetch matrix", dataset_id))
        elif step == "spring":
            if not cells or dataset.get("viewOnly"):  # a view-only matrix holds no counts
                skipped += 1
                continue
            active = {(j.get("parameters") or {}).get("subsample") for j in _active(store, "SPRING", dataset_id)}
            for size in subsample_sizes(cells):
                if operations.analysis_exists(store, dataset_id, "SPRING", subsample=size) or size in active:
                    skipped += 1
                    continue
                parameters = {**params.get("SPRING", {}), "subsample": size}
                units.append(Unit("SPRING", f"{name}: SPRING {size} cells", dataset_id, parameters))
        else:
            process = step.upper()
            if (
                not cells
                or operations.whole_spring_analysis(store, dataset) is None
                or operations.analysis_exists(store, dataset_id, process)
                or _active(store, process, dataset_id)
            ):
                skipped += 1
                continue
            units.append(Unit(process, f"{name}: {process}", dataset_id, dict(params.get(process, {}))))
    return units, skipped


def _plan_hca(store: Store, settings: Settings, hca_filter: dict[str, Any]) -> tuple[list[Unit], int]:
    from ..sources.hca import AzulClient, matching_matrices, projects, same_version

    units: list[Unit] = []
    skipped = 0
    max_cells = hca_filter.get("maxCells")
    active = {(j.get("parameters") or {}).get("project") for j in _active(store, "hca-sync", None)}
    with AzulClient.from_settings(settings) as client:
        for project in projects(client, species=hca_filter.get("species"),
                                organ=hca_filter.get("organ"), fmt=hca_filter.get("format")):
            matrices = matching_matrices(project, species=hca_filter.get("species"),
                                         organ=hca_filter.get("organ"), fmt=hca_filter.get("format"))
            chosen = matrices[0]
            if max_cells and (chosen.cell_count or project.estimated_cells or 0) > int(max_cells):
                skipped += 1
                continue
            existing = find_docs(store, "dataset", {"hca.projectId": project.project_id}, limit=1)
            if (existing and same_version(existing[0].get("hca"), project, chosen)) or (
                project.project_id in active
            ):
                skipped += 1
                continue
            units.append(Unit("hca-sync", f"HCA {project.short_name}", None,
                              {"project": project.project_id, "file": chosen.name}))
    return units, skipped


def _run_units(
    store: Store, settings: Settings, units: list[Unit], report: StepReport, progress: Progress,
    *, timeout: float | None, run_here: bool,
) -> None:
    jobs: list[tuple[Unit, str]] = []
    for unit in units:
        try:
            job = submit_job(store, settings, unit.kind, dataset_id=unit.dataset,
                             parameters=unit.parameters)
        except InputError as exc:
            report.failed += 1
            report.errors.append(f"{unit.label}: {exc}")
            continue
        jobs.append((unit, job["_id"]))
        report.jobs.append(job["_id"])
    if run_here:  # run what no worker has claimed yet, in this process; then wait for the rest
        me = worker_name()
        for index, (_unit, job_id) in enumerate(jobs):
            progress(index / max(len(jobs), 1), f"{report.step}: job {index + 1} of {len(jobs)}")
            execute(store, settings, job_id, worker=me)
    deadline = None if timeout is None else time.monotonic() + timeout
    pending = {job_id: unit for unit, job_id in jobs}
    while pending:
        for job_id in list(pending):
            doc = get_doc(store, "job", job_id) or {"state": "error", "error": "job vanished"}
            state = doc.get("state")
            if state == "complete":
                report.done += 1
            elif state in ("error", "cancelled"):
                report.failed += 1
                report.errors.append(f"{pending[job_id].label}: {doc.get('error') or state}")
            else:
                continue
            del pending[job_id]
        if not pending:
            break
        if deadline is not None and time.monotonic() > deadline:
            for job_id, unit in pending.items():
                report.failed += 1
                report.errors.append(f"{unit.label}: still running after {timeout} s (job {job_id})")
            break
        progress(1 - len(pending) / max(len(jobs), 1), f"{report.step}: waiting for {len(pending)} jobs")
        time.sleep(0.5)


def run_pipeline(
    store: Store,
    settings: Settings,
    *,
    steps: Sequence[str] | None = None,
    datasets: Sequence[str] | None = None,
    limit: int | None = None,
    dry_run: bool = False,
    params: dict[str, dict[str, Any]] | None = None,
    hca_filter: dict[str, Any] | None = None,
    step_timeout: float | None = None,
    run_here: bool | None = None,
    progress: Progress = null_progress,
) -> list[StepReport]:
    """Run the pipeline ``steps`` (default all, in ``STEPS`` order); return a report per step.

    ``datasets`` restricts the dataset steps to those ids; ``limit`` caps the
    jobs queued per step; ``params`` maps a process (``SPRING``, ``TSNE``,
    ``UMAP``) to parameters for its jobs; ``hca_filter`` holds ``species``,
    ``organ``, ``format``, ``maxCells`` for ``hca-sync``. With ``dry_run``
    nothing is queued: ``planned`` says what would be. ``run_here`` (default:
    when no broker is configured) makes this process run the step's jobs that no
    worker has claimed yet; otherwise it only waits for the workers.
    ``step_timeout`` bounds the wait per step (unfinished jobs count as failed).
    """
    chosen = list(steps or STEPS)
    unknown = [s for s in chosen if s not in STEPS]
    if unknown:
        raise InputError(f"unknown steps {unknown}; use {', '.join(STEPS)}", field="steps")
    # checked before any step reads or fetches
    _kind, params = operations.validate_params(operations.PIPELINE, params)
    ordered = [s for s in STEPS if s in chosen]
    reports: list[StepReport] = []
    for index, step in enumerate(ordered):
        started = time.monotonic()
        report = StepReport(step)
        step_progress = scaled(progress, index / len(ordered), (index + 1) / len(ordered))
        step_progress(0.0, f"{step}: planning")
        try:
            units, report.skipped = plan_step(store, settings, step, datasets=datasets,
                                              params=params, hca_filter=hca_filter)
        except InputError:
            raise  # the caller's options are wrong: say so instead of reporting a failed step
        except Exception as exc:  # a step that cannot even plan (HCA down) does not stop the rest
            log.exception("pipeline step %s failed to plan", step)
            report.failed += 1
            report.errors.append(f"{step}: {type(exc).__name__}: {exc}")
            units = []
        if limit is not None:
            units = units[: max(0, int(limit))]
        report.planned = len(units)
        if not dry_run and units:
            _run_units(store, settings, units, report, step_progress, timeout=step_timeout,
                       run_here=not settings.broker_url if run_here is None else run_here)
        report.seconds = time.monotonic() - started
        log.info("pipeline step %s: %d done, %d skipped, %d failed (%.1f s)", step, report.done,
                 report.skipped, report.failed, report.seconds)
        reports.append(report)
    progress(1.0, "pipeline finished")
    return reports
