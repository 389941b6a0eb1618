"""The job kinds: what runs for ``import``, ``fetch-matrix``, ``SPRING``, ``TSNE``, ``UMAP``,
``hca-sync``, ``pipeline`` and ``diffexp`` jobs, and how their submissions are checked.

The composition roots hand them to :mod:`bioblocks.jobs` with
``install_kinds(register_kinds)`` (:func:`register_kinds`).

Parameters per kind (``POST /job`` body ``parameters``):

=============  ===========================================================================
kind           parameters
=============  ===========================================================================
import         ``sources`` (paths below the data directory, e.g. ``uploads/a.mtx.gz``),
               ``name`` (for a new dataset), ``species``, ``labels``; dataset optional
fetch-matrix   none; the dataset's ``matrixLocation`` is an http(s) URL
SPRING         ``subsample`` (cells), ``seed``, and SPRING parameters (spec §9 names)
TSNE, UMAP     ``seed``, ``springAnalysis`` (id; default: the whole-data SPRING analysis)
               and the method's parameters
hca-sync       ``project`` (uuid or short name) and ``file``; without ``project``:
               ``species``, ``organ``, ``format``, ``maxCells``, ``limit`` select projects
pipeline       ``steps``, ``datasets``, ``limit``, ``params`` (see :func:`run_pipeline`)
diffexp        ``analysis`` (id) and the body of ``POST /analysis/{id}/diffexp``: ``groups``,
               ``method``, ``top`` (:mod:`bioblocks.pipeline.diffexp`); any size; the
               results are that route's answer (non-finite numbers as null)
=============  ===========================================================================

Kinds are matched in any case (``spring`` is ``SPRING``). An analysis's
parameters are checked on submission, before any matrix is read
(:func:`~bioblocks.pipeline.operations.validate_params`); ``seed`` is 0
unless given, and ``"random"`` draws one, recorded in the job's parameters so a
retry uses the same.
"""

from __future__ import annotations

import math
import shutil
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..errors import AnalysisInputError, InputError, NotFoundError
from ..jobs import JobContext, JobKind
from ..resources.analysis import PROCESS_TYPES
from ..storage import PathOutsideDataDir, analysis_dir, dataset_dir, safe_resolve
from ..store import Doc, Store
from . import operations

if TYPE_CHECKING:
    from ..config import Settings



def _dataset_id(ctx: JobContext) -> str:
    dataset_id = ctx.dataset_id
    if dataset_id is None:
        raise InputError("this job needs a dataset", field="dataset")
    return dataset_id


# ---- import ------------------------------------------------------------------------------


def _validate_import(store: Store, settings: Settings, dataset_id: str | None, params: Doc) -> Doc:
    sources = params.get("sources")
    if isinstance(sources, str):
        sources = [sources]
    if not sources or not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
        raise InputError("give `sources`: a list of matrix paths below the data directory",
                         field="parameters.sources")
    for source in sources:
        try:
            path = safe_resolve(settings.resolved_data_dir, source)
        except PathOutsideDataDir as exc:
            raise InputError(f"{source!r}: {exc}", field="parameters.sources") from None
        if not path.exists():
            raise InputError(f"{source!r} does not exist below the data directory",
                             field="parameters.sources")
    if dataset_id is None:
        if not params.get("name"):
            raise InputError("a new dataset needs a `name`", field="parameters.name")
        params.setdefault("datasetId", str(uuid.uuid4()))
    unknown = set(params) - {"sources", "name", "species", "labels", "datasetId"}
    if unknown:
        raise InputError(f"unknown parameters {sorted(unknown)}", field="parameters")
    return {**params, "sources": sources}


def _run_import(ctx: JobContext) -> Doc:
    params = ctx.parameters
    paths = [safe_resolve(ctx.settings.resolved_data_dir, s) for s in params["sources"]]
    doc = operations.import_dataset(
        ctx.store, ctx.settings, paths,
        name=params.get("name"), species=params.get("species"),
        dataset_id=ctx.dataset_id or params.get("datasetId"), labels=params.get("labels"),
        progress=ctx.progress, scratch=ctx.scratch,
    )
    # what an .h5ad brought and left behind, as the CLI prints it
    info = doc.get("matrixInfo") or {}
    result: Doc = {"dataset": doc["_id"]}
    for key in ("embeddings", "notImported", "dropped", "renamed"):
        if info.get(key):
            result[key] = info[key]
    if doc.get("viewOnly"):
        result["viewOnly"] = True
    return result


def _abandon_import(store: Store, settings: Settings, job: Doc) -> None:
    # A new dataset whose folder was renamed into place but whose document was never written.
    new_id = (job.get("parameters") or {}).get("datasetId")
    if new_id and store.get("dataset", new_id) is None:
        shutil.rmtree(dataset_dir(settings.resolved_data_dir, new_id), ignore_errors=True)


# ---- fetch-matrix ----------------------------------------------------------------------------


def _run_fetch(ctx: JobContext) -> Doc:
    doc = operations.fetch_dataset_matrix(ctx.store, ctx.settings, _dataset_id(ctx),
                                          progress=ctx.progress, scratch=ctx.scratch)
    return {"dataset": doc["_id"]}


# ---- analyses --------------------------------------------------------------------------------


def _validate_analysis(process: str):  # noqa: ANN202 - a factory of validators
    def validate(store: Store, settings: Settings, dataset_id: str | None, params: Doc) -> Doc:
        dataset = store.get("dataset", dataset_id) if dataset_id else None
        if process == "SPRING" and dataset is not None:
            operations.refuse_view_only(dataset, process)
        _process, params = operations.validate_params(process, params, dataset=dataset,
                                                      field="parameters")
        if process != "SPRING":
            spring_id = params.get("springAnalysis")
            if spring_id is not None:
                spring = store.get("analysis", str(spring_id))
                if spring is None or spring.get("processType") != "SPRING":
                    raise InputError(f"{spring_id!r} is not a SPRING analysis",
                                     field="parameters.springAnalysis")
        return params

    return validate


def _run_analysis_kind(process: str):  # noqa: ANN202 - a factory of job functions
    def run(ctx: JobContext) -> Doc:
        params = ctx.parameters
        subsample = params.pop("subsample", None) if process == "SPRING" else None
        # The new analysis's id is recorded before any file is written, so the crash
        # recovery removes exactly this analysis's folder if its document never appeared.
        analysis_id = str(uuid.uuid4())
        ctx.store.patch("job", ctx.job_id, {"results": {"pendingAnalysis": analysis_id}})
        doc = operations.run_analysis(
            ctx.store, ctx.settings, _dataset_id(ctx), process=process, subsample=subsample,
            params=params, progress=ctx.progress, scratch=ctx.scratch, analysis_id=analysis_id,
        )
        return {"analysis": doc["_id"], "dataset": doc.get("dataset")}

    return run


def _abandon_analysis(store: Store, settings: Settings, job: Doc) -> None:
    # The analysis folder may have been renamed into place just before the worker died,
    # without its document: remove it (and any older orphans of the dataset).
    dataset_id = (job.get("associatedDataset") or {}).get("dataset")
    pending = (job.get("results") or {}).get("pendingAnalysis")
    if dataset_id and pending and store.get("analysis", pending) is None:
        shutil.rmtree(analysis_dir(settings.resolved_data_dir, dataset_id, pending),
                      ignore_errors=True)
    if dataset_id:
        operations.remove_orphan_analyses(store, settings, dataset_id)


# ---- hca-sync and pipeline -------------------------------------------------------------------


def _validate_hca(store: Store, settings: Settings, dataset_id: str | None, params: Doc) -> Doc:
    unknown = set(params) - {"project", "file", "species", "organ", "format", "maxCells", "limit"}
    if unknown:
        raise InputError(f"unknown parameters {sorted(unknown)}", field="parameters")
    return params


def _run_hca(ctx: JobContext) -> Doc:
    params = ctx.parameters
    if params.get("project"):
        outcome = operations.import_hca_project(
            ctx.settings, str(params["project"]), store=ctx.store, file_name=params.get("file"),
            progress=ctx.progress, scratch=ctx.scratch,
        )
        return {"dataset": outcome["dataset"]["_id"], "skipped": outcome["skipped"],
                "warnings": outcome["warnings"]}
    from .steps import run_pipeline

    reports = run_pipeline(ctx.store, ctx.settings, steps=["hca-sync"], limit=params.get("limit"),
                           hca_filter=params, run_here=True, progress=ctx.progress)
    return {"steps": [r.to_dict() for r in reports]}


def _validate_pipeline(store: Store, settings: Settings, dataset_id: str | None, params: Doc) -> Doc:
    from .steps import STEPS

    unknown = set(params) - {"steps", "datasets", "limit", "params", "hca"}
    if unknown:
        raise InputError(f"unknown parameters {sorted(unknown)}", field="parameters")
    steps = params.get("steps") or list(STEPS)
    bad = [s for s in steps if s not in STEPS]
    if bad:
        raise InputError(f"unknown steps {bad}; use {', '.join(STEPS)}", field="parameters.steps")
    _kind, checked = operations.validate_params(operations.PIPELINE, params.get("params"),
                                                field="parameters.params")
    return {**params, "steps": steps, **({"params": checked} if "params" in params else {})}


def _run_pipeline(ctx: JobContext) -> Doc:
    from .steps import run_pipeline

    params = ctx.parameters
    reports = run_pipeline(
        ctx.store, ctx.settings, steps=params.get("steps"), datasets=params.get("datasets"),
        limit=params.get("limit"), params=params.get("params"), hca_filter=params.get("hca"),
        run_here=True, progress=ctx.progress,
    )
    failed = sum(r.failed for r in reports)
    if failed and all(r.done == 0 for r in reports):
        raise AnalysisInputError(f"every pipeline job failed ({failed}); see their job documents")
    return {"steps": [r.to_dict() for r in reports]}


# ---- diffexp -----------------------------------------------------------------------------

_DIFFEXP_KEYS = frozenset({"analysis"})


def _validate_diffexp(store: Store, settings: Settings, dataset_id: str | None,
                      params: Doc) -> Doc:  # fmt: skip
    from .diffexp import GroupsError, analysis_folders, check_request

    analysis = params.get("analysis")
    if not isinstance(analysis, str) or not analysis:
        raise InputError("give `analysis`: the id of the analysis to test",
                         field="parameters.analysis")  # fmt: skip
    try:
        check_request(params, extra_keys=_DIFFEXP_KEYS)
        analysis_folders(store, settings.resolved_data_dir, analysis)
    except GroupsError as exc:
        raise InputError(exc.message, field=f"parameters.{exc.field}") from None
    except NotFoundError as exc:
        raise InputError(str(exc), field="parameters.analysis") from None
    return params


def _finite(value: object) -> object:
    """The answer with every NaN or infinity as None (job documents are JSON)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _run_diffexp(ctx: JobContext) -> Doc:
    from ..analysis.explore import open_explore_matrix
    from .diffexp import analysis_folders, answer, check_request, group_masks

    params = ctx.parameters
    spec_a, spec_b, method, top = check_request(params, extra_keys=_DIFFEXP_KEYS)
    ctx.progress(0.0, "reading and ranking the normalised matrix")
    folder, subplot = analysis_folders(ctx.store, ctx.settings.resolved_data_dir,
                                       params["analysis"])  # fmt: skip
    data = open_explore_matrix(folder, subplot)
    ctx.progress(0.9, f"testing {len(data.genes):,} genes ({method})")
    masks = group_masks(spec_a, spec_b, method, data.n_cells, data.tracks)
    result = answer(data, params["analysis"], masks, method, top)
    return _finite(result)  # type: ignore[return-value]


def register_kinds(register: Callable[[JobKind], object]) -> None:
    """Call ``register`` with each job kind (a :data:`bioblocks.jobs.KindInstaller`).

    Writes nothing itself; ``bioblocks.jobs.install_kinds(register_kinds)`` fills the
    registry of the jobs package with them.
    """
    for kind in (
        JobKind("import", _run_import, _validate_import, needs_dataset=False,
                on_abandon=_abandon_import),
        JobKind("fetch-matrix", _run_fetch),
        *(
            JobKind(p, _run_analysis_kind(p), _validate_analysis(p), on_abandon=_abandon_analysis)
            for p in PROCESS_TYPES
        ),
        JobKind("hca-sync", _run_hca, _validate_hca, needs_dataset=False),
        JobKind("pipeline", _run_pipeline, _validate_pipeline, needs_dataset=False),
        JobKind("diffexp", _run_diffexp, _validate_diffexp, needs_dataset=False),
    ):
        register(kind)
