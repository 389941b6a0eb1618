"""An analysis as an AnnData file: ``.h5ad``, or an AnnData-Zarr store delivered as a zip.

:func:`export_analysis` writes the cells of a SPRING analysis (a t-SNE or UMAP analysis
stands for the SPRING analysis it embeds) as scanpy, cellxgene and Vitessce read them:

* ``X``: the normalised values (float32 CSR; spec §2: each cell's counts scaled to the
  mean total count of the analysed cells), ``layers["counts"]``: the dataset's counts of
  those cells; a view-only dataset (an ``.h5ad`` without counts) has its values in ``X``
  and no ``counts`` layer;
* ``obs`` (index: the cells' barcodes): the dataset's per-cell metadata, every categorical
  track of ``categorical_coloring_data.json`` (clusters, labels) as a pandas categorical
  with its colours in ``uns["<track>_colors"]`` (categories in the order of the ``obs``
  column the track was made from, clusters in numeric order), the continuous tracks of
  ``color_data_gene_sets.csv`` as float columns (a metadata column of the same name keeps
  its exact values; ``Uniform``, the viewer's all-zero track, is left out);
* ``var`` (index: gene names): the dataset's genes (``gene_ids`` when known) and
  ``highly_variable``, the genes SPRING selected for its PCA;
* ``obsm``: ``X_pca`` (SPRING's z-scored PCA), ``X_spring`` (``coordinates.txt``) and
  ``X_tsne``/``X_umap`` of every complete t-SNE/UMAP analysis built on it
  (``parameters.springAnalysis``), later ones of a kind as ``X_tsne_2``, …; a layout
  imported with an ``.h5ad`` keeps its own key (``X_draw_graph_fa`` …; an imported
  ``X_pca`` is ``X_pca`` whole), and an imported one without PCA has no ``X_pca``;
* ``uns``: ``spring``, ``tsne``, ``umap`` (scanpy's places) with each analysis's id, name,
  seed, ``params`` and ``run_info``, and ``bioblocks`` (dataset, analyses, version).

Everything is read through the folder readers (:mod:`bioblocks.analysis.spring_folder`)
and the canonical matrix readers (:mod:`bioblocks.ingest`). The matrices are written
block by block of :data:`BLOCK_ROWS` cells (anndata's ``write_elem`` then
``sparse_dataset(...).append``), so an export holds one block of the matrix, never a
second whole copy. A file is staged under another name and renamed into place: a failed
export leaves nothing. :func:`cached_export` keeps one export per format and state of the
analyses in the SPRING analysis's ``exports/`` folder (the HTTP endpoint serves it).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import time
import warnings
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import ConflictError, InputError, NotFoundError
from ..progress import Progress, null_progress
from ..storage import analysis_dir, ensure_free_space, matrix_path, staging_path
from ..store import Doc, Store, find_docs, get_doc
from .operations import spring_subplot

if TYPE_CHECKING:
    from ..config import Settings

log = logging.getLogger(__name__)

#: The export formats: ``.h5ad`` (HDF5) and ``zarr`` (an AnnData-Zarr store, zipped).
FORMATS = ("h5ad", "zarr")
#: File name suffix of each format.
SUFFIXES = {"h5ad": ".h5ad", "zarr": ".zarr.zip"}
#: Cells read, normalised and written per block (bounds the matrix held in memory).
BLOCK_ROWS = 10_000
#: Folder of :func:`cached_export`'s files, inside the SPRING analysis's folder.
EXPORTS_FOLDER = "exports"
#: Values per chunk of the zarr store's sparse arrays (~4 MB of float32).
ZARR_CHUNK = 1_000_000
#: The continuous track the SPRING viewer colours nothing with (all zeros): not exported.
_UNIFORM = "Uniform"
#: The ``obsm``/``uns`` key (scanpy's) of each embedding's process type.
_EMBEDDING_KEYS = {"TSNE": "tsne", "UMAP": "umap"}


def check_format(value: object) -> str:
    """Return the export format ``value`` names (``h5ad`` or ``zarr``, any case).

    Raises :class:`~bioblocks.errors.InputError` (field ``format``) naming the formats.
    """
    text = str(value).strip().lower().lstrip(".")
    if text not in FORMATS:
        raise InputError(
            f"unknown export format {value!r}; use one of: {', '.join(FORMATS)}", field="format"
        )
    return text


@dataclass(frozen=True, kw_only=True)
class Family:
    """A SPRING analysis, its dataset and the complete t-SNE/UMAP analyses built on it."""

    dataset: Doc
    spring: Doc
    #: The t-SNE and UMAP analyses of the SPRING analysis's cells, oldest first.
    embeddings: list[Doc]

    def fingerprint(self, fmt: str) -> str:
        """Return a short hash of the format and of every document's id and etag: it
        changes when an analysis of the family is added, removed or changed."""
        parts = [fmt, _version()] + [
            f"{d['_id']}:{d.get('_etag', '')}" for d in (self.dataset, self.spring, *self.embeddings)
        ]
        return hashlib.sha1("\n".join(parts).encode()).hexdigest()[:16]

    def file_name(self, fmt: str) -> str:
        """Return a download name: the SPRING analysis's name made file-safe, with the
        format's suffix (``HPC - 5K.h5ad`` → ``HPC_-_5K.h5ad``)."""
        name = str(self.spring.get("name") or self.dataset.get("name") or self.spring["_id"])
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "analysis"
        return safe[:100] + SUFFIXES[fmt]


def _version() -> str:
    from .. import __version__

    return __version__


def analysis_family(store: Store, analysis_id: str) -> Family:
    """Return the :class:`Family` of ``analysis_id`` (a SPRING analysis, or a t-SNE/UMAP
    analysis: then that of the SPRING analysis it embeds).

    Raises :class:`~bioblocks.errors.NotFoundError` for an unknown analysis, one of another
    process type, or one not linked to a dataset.
    """
    doc = get_doc(store, "analysis", analysis_id)
    if doc is None:
        raise NotFoundError(f"Analysis {analysis_id!r} does not exist.")
    if doc.get("processType") in _EMBEDDING_KEYS:
        spring_id = (doc.get("parameters") or {}).get("springAnalysis")
        spring = get_doc(store, "analysis", str(spring_id)) if spring_id else None
        if spring is None:
            raise NotFoundError(
                f"Analysis {analysis_id!r} names no existing SPRING analysis "
                "(parameters.springAnalysis), so its cells are unknown."
            )
        doc = spring
    if doc.get("processType") != "SPRING":
        raise NotFoundError(
            f"Analysis {doc['_id']!r} is a {doc.get('processType')} analysis; only SPRING, "
            "t-SNE and UMAP analyses can be exported."
        )
    dataset_id = doc.get("dataset")
    dataset = get_doc(store, "dataset", str(dataset_id)) if dataset_id else None
    if dataset is None:
        owners = find_docs(store, "dataset", {"analyses": doc["_id"]}, limit=1)
        dataset = owners[0] if owners else None
    if dataset is None:
        raise NotFoundError(f"Analysis {doc['_id']!r} is not linked to a dataset.")
    derived = [
        d for d in find_docs(store, "analysis", {"parameters.springAnalysis": doc["_id"]})
        if d.get("processType") in _EMBEDDING_KEYS and d.get("status", "COMPLETE") == "COMPLETE"
    ]
    derived.sort(key=lambda d: (str(d.get("_created", "")), str(d["_id"])))
    return Family(dataset=dataset, spring=doc, embeddings=derived)


@dataclass(frozen=True, kw_only=True)
class ExportSummary:
    """What :func:`export_analysis` wrote."""

    path: Path
    format: str
    cells: int
    genes: int
    #: ``obsm`` keys written, in order.
    embeddings: list[str]
    #: ``obs`` columns written, in order.
    obs_columns: list[str]
    #: The counts are in ``layers["counts"]`` (False for a view-only dataset).
    counts: bool
    seconds: float
    #: t-SNE/UMAP analyses left out, each with the reason.
    skipped: dict[str, str] = field(default_factory=dict)


# ---- the parts of the AnnData ------------------------------------------------------------


def _plain(value: object) -> Any:
    """``value`` as anndata writes it into ``uns``: None dropped (from dicts), lists of
    scalars as arrays, other lists as JSON text."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        if all(isinstance(v, str) for v in value):
            return np.array([str(v) for v in value], dtype=object)
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            return np.asarray(value, dtype=np.float64 if any(isinstance(v, float) for v in value)
                              else np.int64)
        return json.dumps(value, default=str)
    if isinstance(value, (bool, int, float, str, np.generic)):
        return value
    return str(value)


def _column_name(name: str) -> str:
    """An ``obs`` column name anndata can write (no ``/``)."""
    return name.replace("/", "_")


def _categorical(
    track: Mapping[str, object], n_cells: int, name: str, column: pd.Series | None
) -> tuple[pd.Categorical, list[str]]:
    """A categorical track as a pandas categorical and one colour per category.

    The categories keep the order of the dataset's categorical ``obs`` column the track
    was made from (``column``, when it holds the same labels); integer labels (clusters)
    are in numeric order; others in the track's colour order.
    """
    labels = [str(v) for v in track.get("label_list") or []]  # type: ignore[attr-defined]
    if len(labels) != n_cells:
        raise ConflictError(
            f"categorical_coloring_data.json's track {name!r} has {len(labels)} labels for "
            f"{n_cells} cells; rerun the analysis"
        )
    colors = {str(k): str(v) for k, v in dict(track.get("label_colors") or {}).items()}  # type: ignore[call-overload]
    present = set(labels)
    if (column is not None and isinstance(column.dtype, pd.CategoricalDtype)
            and column.astype(str).tolist() == labels):
        order = [str(c) for c in column.cat.categories]
    elif all(re.fullmatch(r"-?\d{1,18}", label) for label in present):
        order = sorted(present, key=int)
    else:
        order = list(colors)
    categories = [label for label in order if label in present]
    categories += sorted(present.difference(categories))
    return (pd.Categorical(labels, categories=categories),
            [colors.get(label, "#808080") for label in categories])


def _layout_key(spring: Doc) -> str | None:
    """The ``obsm`` key of a SPRING analysis's layout: ``X_spring``, or for an imported one
    the key it came from (None for an imported ``X_pca``, which ``X_pca`` holds whole)."""
    parameters = spring.get("parameters") or {}
    key = parameters.get("embedding") if spring.get("imported") else None
    if key is None:
        return "X_spring"
    return None if key == "X_pca" else str(key)


def _has_pca(spring: Doc) -> bool:
    """Whether the analysis's ``intermediates.npz`` holds a PCA (an imported layout holds
    one only when its file had ``X_pca``: ``parameters.pcs`` > 0)."""
    return not spring.get("imported") or bool((spring.get("parameters") or {}).get("pcs"))


@dataclass(kw_only=True)
class _Parts:
    """Everything of the AnnData but its two matrices."""

    obs: pd.DataFrame
    var: pd.DataFrame
    obsm: dict[str, np.ndarray]
    uns: dict[str, Any]
    cell_rows: np.ndarray
    counts_path: Path
    #: Cells of the dataset's whole matrix.
    n_matrix_cells: int
    totals: np.ndarray | None
    skipped: dict[str, str]


def _analysis_uns(doc: Doc, run_info: object) -> dict[str, Any]:
    parameters = dict(doc.get("parameters") or {})
    return _plain({
        "analysis": str(doc["_id"]), "name": doc.get("name"), "processType": doc.get("processType"),
        "seed": doc.get("seed", parameters.get("seed")), "params": parameters,
        "run_info": run_info, "imported": bool(doc.get("imported")),
    })


def _read_json(path: Path) -> object:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _parts(settings: Settings, family: Family) -> _Parts:
    from ..analysis import spring_folder as sf
    from ..ingest import read_canonical_tables, read_viewer_parts

    data_dir = settings.resolved_data_dir
    dataset, spring = family.dataset, family.spring
    folder = analysis_dir(data_dir, dataset["_id"], spring["_id"])
    subplot = spring_subplot(settings, spring, dataset)
    if not (subplot / sf.RUN_INFO).is_file():
        raise NotFoundError(f"Analysis {spring['_id']!r} has no files yet (is it still running?).")
    counts_path = matrix_path(data_dir, dataset["_id"])
    if not counts_path.is_file():
        raise NotFoundError(
            f"Dataset {dataset['_id']!r} has no matrix; import one with `bioblocks dataset import`."
        )
    cell_rows = sf.read_cell_filter(subplot)
    n_cells = int(cell_rows.size)
    obs_all, var_all = read_canonical_tables(counts_path)
    if cell_rows.size and cell_rows.max() >= len(obs_all):
        raise ConflictError(
            f"analysis {spring['_id']} refers to cells beyond the dataset's {len(obs_all)}; "
            "it was made on another matrix: rerun it"
        )
    genes = sf.read_genes(folder)
    if genes != [str(g) for g in var_all.index]:
        raise ConflictError(
            f"the genes of analysis {spring['_id']} differ from the dataset's matrix; rerun it"
        )

    obs = obs_all.iloc[cell_rows].copy()
    obs.index = obs.index.astype(str)
    if not obs.index.is_unique:
        log.warning("the cells' barcodes repeat; made unique with -1, -2, … suffixes")
        import anndata

        obs.index = anndata.utils.make_index_unique(pd.Index(obs.index))
    barcodes = list(obs.index)
    uns: dict[str, Any] = {}
    for name, track in sf.read_categorical(subplot).items():
        column = _column_name(name)
        values, colors = _categorical(track, n_cells, name, obs.get(column))
        obs[column] = values
        uns[f"{column}_colors"] = np.array(colors, dtype=object)
    for name, values in sf.read_color_tracks(subplot, n_cells).items():
        column = _column_name(name)
        if name != _UNIFORM and column not in obs.columns:
            obs[column] = values
    for column in obs.columns:  # text columns as categoricals (anndata's own conversion)
        if obs[column].dtype == object:
            obs[column] = pd.Categorical(obs[column].astype(str))

    var = var_all.copy()
    var.index = var.index.astype(str)
    hvg = np.zeros(len(var), dtype=bool)
    hvg[sf.read_gene_filter(subplot)] = True
    var["highly_variable"] = hvg

    obsm: dict[str, np.ndarray] = {}
    if _has_pca(spring):
        obsm["X_pca"] = np.ascontiguousarray(sf.read_pca(subplot)[0], dtype=np.float64)
    layout = _layout_key(spring)
    if layout is not None:
        obsm[layout] = sf.read_coordinates(subplot)
    uns["spring"] = _analysis_uns(spring, _read_json(subplot / sf.RUN_INFO))
    skipped: dict[str, str] = {}
    counters: dict[str, int] = {}
    for doc in family.embeddings:
        process = str(doc["processType"])
        efolder = analysis_dir(data_dir, dataset["_id"], doc["_id"])
        try:
            xy = sf.read_embedding(efolder, sf.LAYOUTS[process])
        except NotFoundError as exc:
            skipped[str(doc["_id"])] = str(exc)
            continue
        cells = sf.read_cells(efolder)
        if xy.shape[0] != n_cells or (cells is not None and cells != barcodes):
            skipped[str(doc["_id"])] = (
                f"its {xy.shape[0]} rows are not the {n_cells} cells of the SPRING analysis"
            )
            continue
        counters[process] = counters.get(process, 0) + 1
        base = _EMBEDDING_KEYS[process]
        key = base if counters[process] == 1 else f"{base}_{counters[process]}"
        obsm[f"X_{key}"] = xy
        uns[key] = _analysis_uns(doc, _read_json(efolder / sf.RUN_INFO))
    for analysis_id, reason in skipped.items():
        log.warning("analysis %s not exported: %s", analysis_id, reason)

    view_only = read_viewer_parts(counts_path).view_only
    totals = None
    if not view_only:
        totals = sf.read_total_counts(folder)
        if totals.size != len(obs_all):
            raise ConflictError(
                f"total_counts.txt of analysis {spring['_id']} has {totals.size} cells, the "
                f"dataset's matrix {len(obs_all)}; rerun the analysis"
            )
    uns["bioblocks"] = _plain({
        "dataset": str(dataset["_id"]), "dataset_name": dataset.get("name"),
        "analyses": [str(spring["_id"])] + [str(d["_id"]) for d in family.embeddings
                                            if str(d["_id"]) not in skipped],
        "view_only": view_only, "version": _version(),
        "exported": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    })
    return _Parts(obs=obs, var=var, obsm=obsm, uns=uns, cell_rows=cell_rows,
                  counts_path=counts_path, n_matrix_cells=len(obs_all), totals=totals,
                  skipped=skipped)


def _blocks(
    parts: _Parts, block_rows: int
) -> Iterator[tuple[sp.csr_matrix, sp.csr_matrix | None]]:
    """Yield ``(X, counts)`` per block of cells: float32 CSR blocks, counts None when the
    dataset is view-only (``X`` then holds its values as they are)."""
    from ..ingest import read_canonical_rows

    rows = parts.cell_rows
    # spec §2: every cell scaled to the mean total count of the analysed cells
    target = float(np.mean(parts.totals[rows])) if parts.totals is not None and rows.size else 0.0
    for start in range(0, max(rows.size, 1), block_rows):
        block = rows[start : start + block_rows]
        counts = read_canonical_rows(parts.counts_path, block)
        if parts.totals is None:
            yield counts.astype(np.float32), None
            continue
        totals = parts.totals[block]
        scale = np.zeros(block.size)
        np.divide(target, totals, out=scale, where=totals > 0)
        values = counts.data * np.repeat(scale, np.diff(counts.indptr))
        norm = sp.csr_matrix((values.astype(np.float32), counts.indices.copy(), counts.indptr.copy()),
                             shape=counts.shape)
        yield norm, counts


# ---- writing -----------------------------------------------------------------------------


def _skeleton(parts: _Parts) -> Any:
    import anndata

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return anndata.AnnData(obs=parts.obs, var=parts.var, obsm=parts.obsm, uns=parts.uns)


def _write_matrices(
    root: Any, parts: _Parts, *, block_rows: int, progress: Progress, dataset_kwargs: dict[str, Any]
) -> bool:
    """Write ``X`` and ``layers/counts`` into the group ``root`` block by block; return
    whether the counts were written."""
    from anndata.io import sparse_dataset, write_elem

    n = max(int(parts.cell_rows.size), 1)
    wrote_counts = False
    for k, (norm, counts) in enumerate(_blocks(parts, block_rows)):
        if k == 0:
            write_elem(root, "X", norm, dataset_kwargs=dataset_kwargs)
            if counts is not None:
                write_elem(root["layers"], "counts", counts, dataset_kwargs=dataset_kwargs)
                wrote_counts = True
        else:
            sparse_dataset(root["X"]).append(norm)
            if counts is not None:
                sparse_dataset(root["layers"]["counts"]).append(counts)
        done = min((k + 1) * block_rows, n)
        progress(0.1 + 0.85 * done / n, f"export: {done:,} of {n:,} cells written")
    return wrote_counts


def _write_h5ad(staged: Path, parts: _Parts, *, block_rows: int, progress: Progress) -> bool:
    import h5py

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _skeleton(parts).write_h5ad(staged)
    with h5py.File(staged, "a") as f:
        return _write_matrices(f, parts, block_rows=block_rows, progress=progress,
                               dataset_kwargs={})


def _zip_tree(tree: Path, target: Path) -> None:
    """Zip the files of ``tree`` (paths relative to it, uncompressed: zarr's chunks are
    compressed already, and a stored zip can be read in place)."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for path in sorted(tree.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(tree).as_posix())


def write_zarr_store(store_dir: Path, parts: _Parts, *, block_rows: int, progress: Progress) -> bool:
    """Write the AnnData-Zarr store (zarr format 2, consolidated metadata) into the new
    folder ``store_dir``; return whether the counts were written."""
    import zarr
    from anndata.io import write_elem

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        group = zarr.open_group(str(store_dir), mode="w", zarr_format=2)
        write_elem(group, "/", _skeleton(parts))
        group.attrs.update({"encoding-type": "anndata", "encoding-version": "0.1.0"})
        wrote = _write_matrices(group, parts, block_rows=block_rows, progress=progress,
                                dataset_kwargs={"chunks": (ZARR_CHUNK,)})
        zarr.consolidate_metadata(str(store_dir))
    return wrote


def _size_bound(parts: _Parts) -> int:
    """An upper bound of an export's bytes: the canonical matrix's share of these cells, for
    ``X`` and the counts (float32/int32 values with int32 indices, as the matrix), while the
    zarr store and its zip exist side by side; plus 64 MiB for the tables and embeddings."""
    whole = parts.counts_path.stat().st_size
    share = whole * parts.cell_rows.size / max(parts.n_matrix_cells, 1)
    return int(2 * 2 * share + sum(a.nbytes for a in parts.obsm.values()) + 64 * 1024**2)


def export_analysis(
    store: Store,
    settings: Settings,
    analysis_id: str,
    path: Path,
    *,
    format: str = "h5ad",
    block_rows: int = BLOCK_ROWS,
    progress: Progress = null_progress,
) -> ExportSummary:
    """Write the AnnData of ``analysis_id``'s cells (see the module) to ``path``.

    ``format`` is ``h5ad`` or ``zarr`` (a zip of the AnnData-Zarr store). The file is
    staged beside ``path`` and renamed into place (an existing file is replaced). Returns
    an :class:`ExportSummary`. Raises NotFoundError for an unknown analysis or missing
    files, ConflictError when its files disagree with the dataset's matrix, InputError
    (``format``) for an unknown format, StorageFullError (before writing) when the disk
    lacks room for it.
    """
    fmt = check_format(format)
    t0 = time.perf_counter()
    path = Path(path)
    progress(0.0, "export: reading the analysis")
    family = analysis_family(store, analysis_id)
    parts = _parts(settings, family)
    path.parent.mkdir(parents=True, exist_ok=True)
    ensure_free_space(path.parent, _size_bound(parts), what=path.name)
    staged = path.with_name(f".{path.name}.{os.getpid()}.partial")
    tree = path.with_name(f".{path.name}.{os.getpid()}.zarr")
    try:
        if fmt == "h5ad":
            counts = _write_h5ad(staged, parts, block_rows=block_rows, progress=progress)
        else:
            counts = write_zarr_store(tree, parts, block_rows=block_rows, progress=progress)
            progress(0.96, "export: zipping the zarr store")
            _zip_tree(tree, staged)
        os.replace(staged, path)
    finally:
        staged.unlink(missing_ok=True)
        shutil.rmtree(tree, ignore_errors=True)
    seconds = time.perf_counter() - t0
    progress(1.0, f"export: {path.name} written")
    log.info("exported analysis %s (%d cells) to %s in %.1f s", family.spring["_id"],
             parts.cell_rows.size, path, seconds)
    return ExportSummary(
        path=path, format=fmt, cells=int(parts.cell_rows.size), genes=len(parts.var),
        embeddings=list(parts.obsm), obs_columns=[str(c) for c in parts.obs.columns],
        counts=counts, seconds=seconds, skipped=parts.skipped,
    )


def cached_export(
    store: Store, settings: Settings, analysis_id: str, *, format: str = "h5ad"
) -> tuple[Path, str]:
    """Return ``(path, download name)`` of the export of ``analysis_id`` in ``format``,
    written on first use into the SPRING analysis's ``exports/`` folder and kept while no
    analysis of its family changes (the file name holds :meth:`Family.fingerprint`; older
    exports of that format are removed). Raises as :func:`export_analysis`."""
    fmt = check_format(format)
    family = analysis_family(store, analysis_id)
    folder = analysis_dir(settings.resolved_data_dir, family.dataset["_id"], family.spring["_id"])
    if not folder.is_dir():
        raise NotFoundError(f"Analysis {family.spring['_id']!r} has no files yet (is it still running?).")
    suffix = SUFFIXES[fmt]
    target = folder / EXPORTS_FOLDER / f"{family.fingerprint(fmt)}{suffix}"
    if not target.is_file():
        staged = staging_path(settings.resolved_data_dir, "export", suffix=".partial")
        try:
            export_analysis(store, settings, analysis_id, staged, format=fmt)
            target.parent.mkdir(exist_ok=True)
            os.replace(staged, target)
        finally:
            staged.unlink(missing_ok=True)
        for old in target.parent.glob(f"*{suffix}"):
            if old != target:
                old.unlink(missing_ok=True)
    return target, family.file_name(fmt)


__all__ = [
    "BLOCK_ROWS", "FORMATS", "ExportSummary", "Family", "analysis_family", "cached_export",
    "check_format", "export_analysis",
]
