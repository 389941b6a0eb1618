"""The operations behind commands, API endpoints and jobs: import, fetch, analyse, delete.

Each operation changes files and documents so that they become visible
together, and leaves both exactly as before when it fails:

* files are staged in a private folder and renamed into place in one step
  (:func:`bioblocks.storage.atomic_dir`); the documents are written right
  after, and a failed document write removes the renamed folder again;
* a dataset's ``analyses`` list is extended with a compare-and-swap retry
  loop, so concurrent analyses of one dataset never lose each other's ids;
* a process killed between the rename and the document write leaves at most
  an analysis folder without a document, which :func:`remove_orphan_analyses`
  (run by the job recovery) deletes.

``scratch`` arguments name the staging root (a job's private
``tmp/jobs/<job id>``); by default the data directory's own ``tmp/`` is used.
The functions know nothing of HTTP; they take the store and the settings.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import AnalysisInputError, InputError, NotFoundError
from ..progress import Progress, null_progress, scaled
from ..resources import UUID_RE
from ..resources.analysis import PROCESS_TYPES
from ..resources.dataset import SPECIES
from ..resources.job import ACTIVE_STATES
from ..storage import (
    analysis_dir,
    atomic_dir,
    dataset_dir,
    matrix_dir,
    matrix_path,
    staging_path,
)
from ..store import Doc, Store, find_docs, get_doc, insert_doc, require_doc, update_with_retry
from .folders import folders_of

if TYPE_CHECKING:
    from ..analysis._params import Params
    from ..config import Settings
    from ..sources.hca import AzulClient, Project

log = logging.getLogger(__name__)

ORPHAN_MIN_AGE_SECONDS = 60.0


# ---- helpers -------------------------------------------------------------------------------


def _staging_root(settings: Settings, scratch: Path | None) -> Path:
    if scratch is None:
        return settings.resolved_data_dir
    scratch.mkdir(parents=True, exist_ok=True)
    return scratch


def _relative(settings: Settings, path: Path) -> str:
    return path.relative_to(settings.resolved_data_dir).as_posix()


def _check_new_id(new_id: str, *, field: str = "id") -> str:
    if not UUID_RE.fullmatch(new_id):
        raise InputError(
            f"{new_id!r} is not an id; use a lower-case UUID such as "
            f"{uuid.uuid4()} (or leave it out to get a new one)",
            field=field,
        )
    return new_id


def append_analysis(store: Store, dataset_id: str, analysis_id: str) -> Doc:
    """Append ``analysis_id`` to the dataset's ``analyses`` (compare-and-swap, retried); return it."""

    def change(doc: Doc) -> Doc | None:
        analyses = list(doc.get("analyses") or [])
        if analysis_id in analyses:
            return None
        return {"analyses": [*analyses, analysis_id]}

    updated = update_with_retry(store, "dataset", dataset_id, change)
    return updated if updated is not None else require_doc(store, "dataset", dataset_id)


def _remove_analysis_from_dataset(store: Store, dataset_id: str, analysis_id: str) -> None:
    def change(doc: Doc) -> Doc | None:
        analyses = list(doc.get("analyses") or [])
        if analysis_id not in analyses:
            return None
        return {"analyses": [a for a in analyses if a != analysis_id]}

    try:
        update_with_retry(store, "dataset", dataset_id, change)
    except NotFoundError:
        pass


# ---- datasets ------------------------------------------------------------------------------


def import_dataset(
    store: Store,
    settings: Settings,
    sources: Sequence[Path],
    *,
    name: str | None = None,
    species: str | None = None,
    dataset_id: str | None = None,
    labels: Sequence[str] | None = None,
    extra_fields: dict[str, Any] | None = None,
    progress: Progress = null_progress,
    scratch: Path | None = None,
) -> Doc:
    """Import matrix file(s) into a new or existing dataset; return the dataset document.

    ``sources`` are one or more matrix files (several are combined, each
    cell labelled by ``labels`` or the file name in the ``library`` column).
    The canonical matrix is written to ``datasets/<id>/matrix/`` through a
    staging folder; the dataset gets ``matrixLocation`` (the path below the
    files root) and ``matrixInfo``. ``name`` is required for a new dataset.
    An ``.h5ad`` without counts is imported view-only (``viewOnly: true``:
    SPRING, t-SNE and UMAP refuse it); the embeddings of a single ``.h5ad``
    become analyses marked ``imported`` (:mod:`bioblocks.pipeline.imported`),
    its CELLxGENE Discover columns dataset facets (``cell_types`` …), and what
    it holds that is not imported is listed in ``matrixInfo.notImported``.
    Raises :class:`bioblocks.errors.IngestError` (bad file, naming it) or
    :class:`InputError` (bad name/species/id); then nothing has changed.
    """
    from ..ingest import ImportLimits, import_matrix

    if species is not None and species not in SPECIES:
        raise InputError(f"unknown species {species!r}; use one of: {', '.join(SPECIES)}",
                         field="species")
    existing = get_doc(store, "dataset", dataset_id) if dataset_id else None
    if existing is None:
        if not name:
            raise InputError("a new dataset needs a name (--name)", field="name")
        dataset_id = _check_new_id(dataset_id) if dataset_id else str(uuid.uuid4())
    if name is not None and not (1 <= len(name) <= 128):
        raise InputError("the dataset name must be 1 to 128 characters long", field="name")
    assert dataset_id is not None
    paths = [Path(p) for p in sources]
    if not paths:
        raise InputError("give at least one matrix file to import", field="sources")
    final = matrix_dir(settings.resolved_data_dir, dataset_id)
    progress(0.0, "importing the matrix")
    fields: Doc = dict(extra_fields or {})
    doc: Doc | None = None
    embeddings_possible = len(paths) == 1
    try:
        with atomic_dir(final, data_dir=_staging_root(settings, scratch), replace=True) as staging:
            summary = import_matrix(
                paths,
                staging,
                labels=list(labels) if labels else None,
                limits=ImportLimits.from_settings(settings),
                keep_original=settings.keep_original_upload,
                allow_view_only=True,
                progress=scaled(progress, 0.0, 0.8 if embeddings_possible else 0.95),
            )
            fields.update(_h5ad_fields(summary, existing))
            fields["matrixLocation"] = _relative(
                settings, matrix_path(settings.resolved_data_dir, dataset_id))
            fields["matrixInfo"] = summary.to_matrix_info()
            if summary.obs_columns:
                fields["cellMetadata"] = list(summary.obs_columns)
            if name is not None:
                fields["name"] = name
            if species is not None:
                fields["species"] = species
            if existing is not None:
                # Written before the new matrix replaces the old one: if this write
                # fails, the staging folder is dropped and both stay as they were.
                doc = update_with_retry(store, "dataset", dataset_id, lambda _doc: fields)
    except BaseException:
        if doc is not None and existing is not None:  # the rename failed after the write
            update_with_retry(store, "dataset", dataset_id, lambda _doc: {
                k: existing[k] for k in fields if k in existing})
        raise
    if existing is None:
        try:
            doc = insert_doc(store, "dataset", {"_id": dataset_id, "analyses": [], **fields})
        except BaseException:
            shutil.rmtree(dataset_dir(settings.resolved_data_dir, dataset_id), ignore_errors=True)
            raise
    assert doc is not None
    if summary.embeddings:
        try:
            doc = _add_imported_analyses(store, settings, doc, source=paths[0].name,
                                         progress=scaled(progress, 0.8, 0.99), scratch=scratch)
        except BaseException:
            if existing is None:  # all or nothing: the new dataset goes again
                store.delete("dataset", dataset_id)
                shutil.rmtree(dataset_dir(settings.resolved_data_dir, dataset_id),
                              ignore_errors=True)
            raise
    progress(1.0, "imported")
    log.info("dataset %s: imported %s", dataset_id, ", ".join(p.name for p in paths))
    return doc


def _h5ad_fields(summary: Any, existing: Doc | None) -> Doc:
    """Return the dataset fields an ``.h5ad`` import sets besides ``matrixInfo``: ``viewOnly``
    (written when true, or to clear an earlier true) and the CELLxGENE facets
    (``cell_types``, ``tissues``, ``diseases``, ``assays``, ``ontology_term_ids``)."""
    fields: Doc = dict(summary.facets)
    if summary.view_only or (existing or {}).get("viewOnly"):
        fields["viewOnly"] = bool(summary.view_only)
    return fields


def _add_imported_analyses(
    store: Store, settings: Settings, dataset: Doc, *, source: str, progress: Progress,
    scratch: Path | None,
) -> Doc:
    """Write and register the analyses of the dataset's imported embeddings
    (:mod:`bioblocks.pipeline.imported`); return the dataset document.

    The folders are written first, then the documents inserted and appended to the
    dataset's ``analyses`` in one update; on failure every folder and document of this
    call is removed again.
    """
    from .imported import write_imported_analyses

    written = write_imported_analyses(settings, dataset, source=source, progress=progress,
                                      scratch=scratch)
    inserted: list[str] = []
    try:
        for item in written:
            insert_doc(store, "analysis", {"_id": item.analysis_id, **item.document})
            inserted.append(item.analysis_id)

        def change(doc: Doc) -> Doc | None:
            analyses = list(doc.get("analyses") or [])
            return {"analyses": [*analyses, *(a for a in inserted if a not in analyses)]}

        updated = update_with_retry(store, "dataset", dataset["_id"], change)
    except BaseException:
        for analysis_id in inserted:
            store.delete("analysis", analysis_id)
        for item in written:
            shutil.rmtree(item.folder, ignore_errors=True)
        raise
    return updated if updated is not None else require_doc(store, "dataset", dataset["_id"])


def fetch_dataset_matrix(
    store: Store,
    settings: Settings,
    dataset_id: str,
    *,
    progress: Progress = null_progress,
    scratch: Path | None = None,
) -> Doc:
    """Download the dataset's ``matrixLocation`` (an http(s) URL) and import it; return the dataset.

    Raises :class:`InputError` when the location is not a URL.
    """
    from ..ingest import ImportLimits, fetch_url

    dataset = require_doc(store, "dataset", dataset_id)
    url = str(dataset.get("matrixLocation") or "")
    if not re.match(r"^https?://", url):
        raise InputError(
            f"dataset {dataset_id} has no http(s) matrixLocation to fetch (it is {url!r}); "
            "set matrixLocation to the matrix URL, or import a file with `bioblocks dataset import`",
            field="matrixLocation",
        )
    root = _staging_root(settings, scratch)
    download = staging_path(root, "fetch")
    download.mkdir()
    try:
        target = fetch_url(url, download, progress=scaled(progress, 0.0, 0.5),
                           limits=ImportLimits.from_settings(settings))
        return import_dataset(
            store, settings, [target], dataset_id=dataset_id,
            progress=scaled(progress, 0.5, 1.0), scratch=scratch,
        )
    finally:
        shutil.rmtree(download, ignore_errors=True)


def import_hca_project(
    settings: Settings,
    project: str | Project,
    *,
    store: Store | None = None,
    file_name: str | None = None,
    client: AzulClient | None = None,
    progress: Progress = null_progress,
    scratch: Path | None = None,
) -> Doc:
    """Import an HCA project's matrix as a dataset (created, or updated when already imported).

    ``project`` is a project UUID, a short name or a
    :class:`bioblocks.sources.hca.Project`; the catalog is
    ``Settings.hca_catalog`` (or the service's default). The dataset is found
    by its ``hca.projectId``; when it already holds the same file version
    nothing is downloaded. ``store`` defaults to the settings' store.
    Returns ``{"dataset": <document>, "skipped": bool, "warnings": [...]}``.
    """
    from ..sources.hca import AzulClient, prepare_import

    own_store = store is None
    if store is None:
        from ..store import open_store

        store = open_store(settings)
    own_client = client is None
    azul = client or AzulClient.from_settings(settings)
    root = _staging_root(settings, scratch)
    download = staging_path(root, "hca")
    download.mkdir()
    try:
        progress(0.0, "looking up the HCA project")
        found = project if not isinstance(project, str) else azul.find_project(project)
        existing = find_docs(store, "dataset", {"hca.projectId": found.project_id}, limit=1)
        prepared = prepare_import(
            azul, found, file_name=file_name, dest_dir=download,
            progress=scaled(progress, 0.0, 0.6),
            existing_hca=existing[0].get("hca") if existing else None,
            max_bytes=settings.hca_max_download_bytes,
        )
        if prepared.skipped:
            progress(1.0, "already imported")
            return {"dataset": existing[0], "skipped": True, "warnings": list(prepared.warnings)}
        fields = prepared.dataset_fields()
        assert prepared.path is not None
        doc = import_dataset(
            store, settings, [prepared.path],
            name=fields.pop("name"),
            species=fields.pop("species", None),
            dataset_id=existing[0]["_id"] if existing else None,
            extra_fields=fields,
            progress=scaled(progress, 0.6, 1.0),
            scratch=scratch,
        )
        return {"dataset": doc, "skipped": False, "warnings": list(prepared.warnings)}
    finally:
        shutil.rmtree(download, ignore_errors=True)
        if own_client:
            azul.close()
        if own_store:
            store.close()


def delete_dataset_files(
    store: Store, settings: Settings, dataset_id: str, *, analysis_ids: Sequence[str] = ()
) -> list[str]:
    """Delete a dataset's files and its analyses; return the ids of the analysis documents deleted.

    What happens to analyses: an analysis belongs to one dataset (its files
    live under the dataset's folder), so deleting a dataset deletes every
    analysis document whose ``dataset`` is it or that its ``analyses`` list
    names, and removes ``datasets/<id>/`` as a whole (moved aside in one
    rename, then removed). Jobs about the dataset are kept as a record;
    queued or running ones are cancelled. Call it when the dataset document
    is deleted (the API does so on ``DELETE /dataset/<id>``), passing the
    deleted document's ``analyses`` as ``analysis_ids`` if it is already gone.
    """
    from ..jobs import cancel_job

    dataset = get_doc(store, "dataset", dataset_id)
    ids = set(analysis_ids) | (set(dataset.get("analyses") or []) if dataset else set())
    ids |= {a["_id"] for a in find_docs(store, "analysis", {"dataset": dataset_id})}
    for analysis_id in sorted(ids):
        store.delete("analysis", analysis_id)
    for job in find_docs(store, "job", {"associatedDataset.dataset": dataset_id,
                                        "state": {"$in": list(ACTIVE_STATES)}}):
        try:
            cancel_job(store, job["_id"])
        except InputError:
            pass
    folder = dataset_dir(settings.resolved_data_dir, dataset_id)
    if folder.exists():
        aside = staging_path(settings.resolved_data_dir, f"deleted-{dataset_id}")
        os.replace(folder, aside)
        shutil.rmtree(aside, ignore_errors=True)
    log.info("dataset %s: removed its files and %d analyses", dataset_id, len(ids))
    return sorted(ids)


def remove_orphan_analyses(
    store: Store, settings: Settings, dataset_id: str, *, min_age: float = ORPHAN_MIN_AGE_SECONDS
) -> list[str]:
    """Remove analysis folders of ``dataset_id`` that have no analysis document; return their ids.

    Only folders older than ``min_age`` seconds are touched, so an analysis
    between its rename and its document write is left alone.
    """
    root = dataset_dir(settings.resolved_data_dir, dataset_id) / "analyses"
    if not root.is_dir():
        return []
    removed = []
    for folder in root.iterdir():
        if not folder.is_dir() or get_doc(store, "analysis", folder.name) is not None:
            continue
        if time.time() - folder.stat().st_mtime < min_age:
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder.name)
        log.warning("dataset %s: removed orphan analysis folder %s", dataset_id, folder.name)
    return removed


# ---- analyses ------------------------------------------------------------------------------


def _load_matrix(
    settings: Settings, dataset: Doc
) -> tuple[Any, np.ndarray, np.ndarray, Any]:
    """Return the dataset's ``(counts, gene_names, barcodes, obs)`` with float32 counts."""
    from ..ingest import read_canonical

    path = matrix_path(settings.resolved_data_dir, dataset["_id"])
    if not path.is_file():
        raise AnalysisInputError(
            f"dataset {dataset['_id']} has no imported matrix; import one with "
            "`bioblocks dataset import` or fetch it with `bioblocks dataset fetch`",
            field="dataset",
        )
    # float32 values (exact for integer counts below 2**24): half the memory of float64,
    # and what run_spring normalises in place for large matrices
    return read_canonical(path, dtype=np.float32)


def whole_spring_analysis(store: Store, dataset: Doc) -> Doc | None:
    """Return the dataset's SPRING analysis of all its cells (the newest one), or None.

    A computed one is preferred; an imported layout (:mod:`.imported`) only serves when it
    holds the file's PCA (``parameters.pcs`` > 0), the input t-SNE and UMAP start from.
    """
    cells = (dataset.get("matrixInfo") or {}).get("cells")
    spring = [
        a for a in find_docs(store, "analysis", {"dataset": dataset["_id"], "processType": "SPRING"})
        if a.get("subsample") in (None, cells)
        and (not a.get("imported") or (a.get("parameters") or {}).get("pcs"))
    ]
    spring.sort(key=lambda a: (not a.get("imported"), str(a.get("_created") or "")))
    return spring[-1] if spring else None


def refuse_view_only(dataset: Doc, process: str) -> None:
    """Raise :class:`AnalysisInputError` when ``dataset`` is view-only (its file held no
    counts): ``process`` (SPRING, or t-SNE/UMAP without an imported PCA) needs counts."""
    if not dataset.get("viewOnly"):
        return
    raise AnalysisInputError(
        f"dataset {dataset['_id']} is view-only: its file held no counts (X is scaled or "
        f"normalised, with no layers['counts'] or integral raw.X), and {process} needs raw "
        "counts; import a file with counts (layers['counts'] or raw.X) to analyse it"
        + ("" if process == "SPRING" else ", or one with X_pca to run it on that PCA"),
        field="dataset",
    )


def _register(
    store: Store, settings: Settings, dataset: Doc, analysis_id: str, document: Doc
) -> Doc:
    """Insert the analysis document and link it from the dataset; undo both on failure."""
    folder = analysis_dir(settings.resolved_data_dir, dataset["_id"], analysis_id)
    inserted = False
    try:
        doc = insert_doc(store, "analysis", {"_id": analysis_id, **document})
        inserted = True
        append_analysis(store, dataset["_id"], analysis_id)
        return doc
    except BaseException:
        if inserted:
            _remove_analysis_from_dataset(store, dataset["_id"], analysis_id)
            store.delete("analysis", analysis_id)
        shutil.rmtree(folder, ignore_errors=True)
        raise


DEFAULT_SEED = 0
RANDOM_SEED = "random"

#: The ``process`` of :func:`validate_params` whose ``params`` map processes to theirs.
PIPELINE = "pipeline"

#: What an embedding takes beside its method's parameters: the SPRING analysis it embeds.
_EMBEDDING_OTHERS = ("springAnalysis",)


def canonical_process(process: Any, *, field: str = "process") -> str:
    """Return the canonical spelling (``SPRING``, ``TSNE``, ``UMAP``) of ``process``.

    Any case is accepted, and ``t-SNE``. Raises :class:`AnalysisInputError`
    naming ``field`` for anything else.
    """
    key = str(process).strip().upper().replace("-", "") if isinstance(process, str) else None
    if key not in PROCESS_TYPES:
        raise AnalysisInputError(
            f"unknown process {process!r}; use one of: {', '.join(PROCESS_TYPES)} (any case)",
            field=field,
        )
    return key


def _model(process: str) -> type[Params]:
    """The parameter model of a canonical process."""
    from ..analysis import SpringParams, TsneParams, UmapParams

    return {"SPRING": SpringParams, "TSNE": TsneParams, "UMAP": UmapParams}[process]


def _draw_seed() -> int:
    drawn = int(np.random.default_rng().integers(0, 2**31 - 1))
    log.info("drew the random seed %d", drawn)
    return drawn


def validate_params(
    process: Any, params: Any, *, dataset: Doc | None = None, field: str = ""
) -> tuple[str, dict[str, Any]]:
    """Check an analysis's parameters before any matrix is read; return them checked.

    ``process`` is ``SPRING``, ``TSNE`` or ``UMAP`` (any case, and ``t-SNE``), whose
    parameters are checked by its model (:class:`~bioblocks.analysis.SpringParams`,
    :class:`~bioblocks.analysis.TsneParams`, :class:`~bioblocks.analysis.UmapParams`:
    names, types, ranges; a SPRING ``subsample`` is one of them, an embedding's
    ``springAnalysis`` is passed through). With a ``dataset`` document, its
    ``matrixInfo.cells`` (or a smaller ``subsample``) bounds the cells analysed: what
    too few cells cannot take is refused now. Returns the canonical process and the
    parameters given, parsed (``"20"`` is 20), with ``seed`` resolved: 0 when not given,
    a drawn one for ``"random"``.

    ``process`` may also be ``"pipeline"``: ``params`` then maps processes to their
    parameters (``{"spring": {...}, "tsne": {...}}``), each checked so and returned under
    its canonical name, seeds as given (every job resolves its own).

    Raises :class:`AnalysisInputError` naming ``<field>.<name>`` (``field``: the
    caller's prefix, e.g. ``parameters``); nothing is read or written.
    """
    if process == PIPELINE:
        return PIPELINE, _pipeline_params(params, field=field or "params")
    process = canonical_process(process)
    return process, _checked_params(process, params, dataset=dataset, field=field, resolve=True)


def _pipeline_params(params: Any, *, field: str) -> dict[str, Any]:
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise AnalysisInputError("must be an object: process -> parameters", field=field)
    checked: dict[str, Any] = {}
    for key, values in params.items():
        process = canonical_process(key, field=f"{field}.{key}")
        checked[process] = _checked_params(process, values, dataset=None,
                                           field=f"{field}.{process}", resolve=False)
    return checked


def _checked_params(
    process: str, params: Any, *, dataset: Doc | None, field: str, resolve: bool
) -> dict[str, Any]:
    """The parameters given, parsed and checked; with ``resolve`` the seed resolved."""
    if not isinstance(params, dict | None):
        raise AnalysisInputError("parameters must be an object of name: value pairs",
                                 field=field or "parameters")
    given = dict(params or {})
    seed = given.get("seed")
    drawn = isinstance(seed, str) and seed.strip().lower() == RANDOM_SEED
    others = _EMBEDDING_OTHERS if process != "SPRING" else ()
    try:
        model = _model(process).from_dict(
            {**given, "seed": DEFAULT_SEED if seed is None or drawn else seed}, others=others)
        cells = (dataset or {}).get("matrixInfo", {}).get("cells")
        if isinstance(cells, int) and cells > 0:
            subsample = getattr(model, "subsample", None)
            model.for_cells(min(cells, subsample or cells))
    except InputError as exc:
        hint = f"; or {RANDOM_SEED!r} to draw one" if exc.field == "seed" else ""
        name = ".".join(part for part in (field, exc.field) if part)
        raise AnalysisInputError(exc.message + hint, field=name or None) from None
    values = model.to_dict()
    checked = {name: values.get(name, value) for name, value in given.items()}
    if resolve:
        checked["seed"] = _draw_seed() if drawn else model.seed
    elif drawn:
        checked["seed"] = RANDOM_SEED
    return checked


def run_analysis(
    store: Store,
    settings: Settings,
    dataset_id: str,
    *,
    process: str,
    subsample: int | None = None,
    params: dict[str, Any] | None = None,
    progress: Progress = null_progress,
    scratch: Path | None = None,
    analysis_id: str | None = None,
) -> Doc:
    """Run a SPRING, t-SNE or UMAP analysis of a dataset; return the new analysis document.

    SPRING runs on the dataset's matrix (all cells, or ``subsample`` cells
    drawn uniformly without replacement with the run's seed); t-SNE and UMAP
    run on the PCA of a SPRING analysis's normalised matrix — the one named
    by ``params["springAnalysis"]``, else the dataset's whole-data SPRING
    analysis. The folder ``datasets/<dataset>/analyses/<analysis>/`` is
    written atomically (with ``preview.png``; a SPRING analysis's subplot is
    ``<dataset name>/``, spec §10), then the ``analysis`` document
    (``parameters`` include the seed, and for SPRING the subplot folder's
    name as ``subplot``) is created and appended to the dataset's ``analyses``. ``analysis_id`` fixes the new analysis's id (a
    job records it first, so a crash can be cleaned up exactly). Raises
    :class:`AnalysisInputError` for bad parameters or data (checked by
    :func:`validate_params` before anything is read); nothing is left behind then.
    """
    process = canonical_process(process)
    dataset = require_doc(store, "dataset", dataset_id)
    if process == "SPRING":
        refuse_view_only(dataset, process)
    if subsample is not None:
        params = {**(params or {}), "subsample": subsample}
    process, params = validate_params(process, params, dataset=dataset)
    new_id = _check_new_id(analysis_id, field="analysis_id") if analysis_id else str(uuid.uuid4())
    seed = params.pop("seed")
    subsample = params.pop("subsample", None)
    if process == "SPRING":
        return _run_spring(store, settings, dataset, subsample=subsample, params=params, seed=seed,
                           progress=progress, scratch=scratch, analysis_id=new_id)
    return _run_embedding(store, settings, dataset, process=process, params=params, seed=seed,
                          progress=progress, scratch=scratch, analysis_id=new_id)


def _preview(coordinates: Any, labels: Any, path: Path) -> None:
    from ..analysis.preview import write_preview

    write_preview(np.asarray(coordinates), None if labels is None else np.asarray(labels), path)


def spring_subplot(settings: Settings, spring: Doc, dataset: Doc) -> Path:
    """Return the subplot folder of the SPRING analysis ``spring`` of ``dataset``.

    The folder named by the analysis's ``parameters["subplot"]`` (else by the dataset's
    name, spec §10), found by :func:`bioblocks.pipeline.folders.folders_of`; it may not exist.
    """
    return folders_of(settings.resolved_data_dir, spring, dataset)[1]


def spring_pca(subplot: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Return the PCA and cluster labels of a SPRING subplot folder (t-SNE/UMAP input):
    :func:`bioblocks.analysis.spring_folder.read_pca`, loaded on first use."""
    from ..analysis.spring_folder import read_pca

    return read_pca(subplot)


def spring_cells(settings: Settings, dataset: Doc, subplot: Path) -> list[str] | None:
    """Return the ids (barcodes) of a SPRING subplot's cells, in its order: the canonical
    matrix's ``obs_names`` at ``cell_filter.npy``; None when the dataset has no matrix or
    the two disagree (an analysis of an older matrix)."""
    from ..analysis.spring_folder import read_cell_filter
    from ..ingest import read_canonical_tables

    path = matrix_path(settings.resolved_data_dir, dataset["_id"])
    if not path.is_file():
        return None
    barcodes = np.asarray(read_canonical_tables(path)[0].index.astype(str))
    rows = read_cell_filter(subplot)
    if rows.size and rows.max() >= barcodes.size:
        log.warning("%s: cell_filter.npy names rows beyond the matrix's %d cells", subplot,
                    barcodes.size)
        return None
    return barcodes[rows].tolist()


def _run_spring(
    store: Store, settings: Settings, dataset: Doc, *, subsample: int | None,
    params: dict[str, Any], seed: int, progress: Progress, scratch: Path | None,
    analysis_id: str,
) -> Doc:
    from ..analysis import (
        SUBPLOT_PARAMETER,
        SpringParams,
        run_spring,
        subplot_name,
        subsample_name,
        subsample_plan,
    )
    from ..analysis.markers import write_analysis_markers

    progress(0.0, "loading the matrix")
    counts, gene_names, _barcodes, obs = _load_matrix(settings, dataset)
    n_cells = counts.shape[0]
    size = n_cells if subsample is None or subsample >= n_cells else subsample
    spring_params = SpringParams.from_dict(
        {**params, "seed": seed, "subsample": size if size < n_cells else None}
    )
    dataset_name = str(dataset.get("name") or dataset["_id"])
    names = dict(subsample_plan(dataset_name, n_cells))
    name = names.get(size) or subsample_name(dataset_name, size)
    subplot = subplot_name(dataset_name)  # spec §10: the folder is named after the dataset
    final = analysis_dir(settings.resolved_data_dir, dataset["_id"], analysis_id)
    with atomic_dir(final, data_dir=_staging_root(settings, scratch)) as staging:
        result = run_spring(
            counts, list(gene_names), out_dir=staging, dataset_name=subplot,
            params=spring_params, cell_metadata=obs, progress=scaled(progress, 0.05, 0.95),
            consume_counts=True,
        )
        labels = next(iter(result.clusters.values()), None)
        _preview(result.coordinates, labels, staging / "preview.png")
        progress(0.96, "computing marker genes")
        write_analysis_markers(staging, staging / subplot)  # markers.json, markers.csv
    doc = _register(store, settings, dataset, analysis_id, {
        "name": name[:128],
        "processType": "SPRING",
        "parameters": {**spring_params.to_dict(), "seed": seed, "subsample": size,
                       SUBPLOT_PARAMETER: subplot},
        "dataset": dataset["_id"],
        "subsample": size,
        "seed": seed,
        "status": "COMPLETE",
        "preview": _relative(settings, final / "preview.png"),
    })
    progress(1.0, "SPRING analysis registered")
    return doc


def _run_embedding(
    store: Store, settings: Settings, dataset: Doc, *, process: str, params: dict[str, Any],
    seed: int, progress: Progress, scratch: Path | None, analysis_id: str,
) -> Doc:
    spring_id = params.pop("springAnalysis", None)
    if spring_id is not None:
        spring = get_doc(store, "analysis", str(spring_id))
        if (spring is None or spring.get("processType") != "SPRING"
                or spring.get("dataset") not in (None, dataset["_id"])):
            raise AnalysisInputError(
                f"springAnalysis {spring_id!r} is not a SPRING analysis of dataset {dataset['_id']}",
                field="springAnalysis",
            )
    else:
        spring = whole_spring_analysis(store, dataset)
        if spring is None:
            refuse_view_only(dataset, process)
            raise AnalysisInputError(
                f"dataset {dataset['_id']} has no SPRING analysis of all its cells; run "
                f"`bioblocks analyze {dataset['_id']} --process SPRING` first, or name one "
                "with --param springAnalysis=<id>",
                field="springAnalysis",
            )
    if spring.get("imported") and not (spring.get("parameters") or {}).get("pcs"):
        refuse_view_only(dataset, process)
        raise AnalysisInputError(
            f"analysis {spring['_id']} is an imported layout without a PCA (its file had no "
            f"X_pca), and {process} starts from one; run SPRING on the dataset first and "
            "name that analysis (--param springAnalysis=<id>)",
            field="springAnalysis",
        )
    progress(0.0, "loading the SPRING analysis's PCA")
    subplot = spring_subplot(settings, spring, dataset)
    pca, labels = spring_pca(subplot)
    cells = spring_cells(settings, dataset, subplot)
    from ..analysis.embeddings import TsneParams, UmapParams, run_tsne, run_umap

    values = {**params, "seed": seed}
    final = analysis_dir(settings.resolved_data_dir, dataset["_id"], analysis_id)
    with atomic_dir(final, data_dir=_staging_root(settings, scratch)) as staging:
        step = scaled(progress, 0.05, 0.95)
        source = str(spring["_id"])
        result = (run_tsne(pca, out_dir=staging, params=TsneParams.from_dict(values),
                           progress=step, cells=cells, spring_analysis=source)
                  if process == "TSNE" else
                  run_umap(pca, out_dir=staging, params=UmapParams.from_dict(values),
                           progress=step, cells=cells, spring_analysis=source))
        _preview(result.coordinates, labels, staging / "preview.png")
    label = "t-SNE" if process == "TSNE" else "UMAP"
    doc = _register(store, settings, dataset, analysis_id, {
        "name": f"{spring.get('name') or dataset.get('name')} - {label}"[:128],
        "processType": process,
        "parameters": {**result.parameters, "seed": seed, "springAnalysis": spring["_id"]},
        "dataset": dataset["_id"],
        "subsample": spring.get("subsample"),
        "seed": seed,
        "status": "COMPLETE",
        "preview": _relative(settings, final / "preview.png"),
    })
    progress(1.0, f"{label} analysis registered")
    return doc


def analysis_exists(store: Store, dataset_id: str, process: str, *, subsample: int | None = None) -> bool:
    """Return whether the dataset already has a computed ``process`` analysis (of
    ``subsample`` cells); analyses imported with an ``.h5ad`` do not count."""
    where: dict[str, Any] = {"dataset": dataset_id, "processType": process}
    if subsample is not None:
        where["subsample"] = subsample
    return any(not a.get("imported") for a in find_docs(store, "analysis", where))


__all__ = [
    "DEFAULT_SEED",
    "analysis_exists",
    "append_analysis",
    "canonical_process",
    "delete_dataset_files",
    "fetch_dataset_matrix",
    "import_dataset",
    "import_hca_project",
    "refuse_view_only",
    "remove_orphan_analyses",
    "run_analysis",
    "spring_subplot",
    "validate_params",
    "whole_spring_analysis",
]
