"""Format detection, :func:`import_matrix` and the canonical ``matrix.h5ad``.

The canonical matrix of a dataset is ``matrix.h5ad``: cells × genes CSR
(``int32`` counts when every value is an integer, else ``float32``),
``var_names`` unique gene names, ``var['gene_ids']`` when the input has ids,
``obs_names`` cell barcodes, ``obs`` per-cell metadata with a ``library``
column, ``uns['source_format']``. Written without compression (the import is
I/O-bound; anndata, scanpy and h5py read it as is).

From an ``.h5ad`` it also keeps what a viewer can use: the embeddings as
``obsm["X_*"]`` (float64), the track colours as ``uns["<column>_colors"]``, and
``uns['view_only'] = True`` when the file held no counts (``X`` then holds the
file's values as they are: scaled or log-normalised, possibly negative).
"""

from __future__ import annotations

import logging
import shutil
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import IngestError
from ..progress import Progress, null_progress, scaled
from ..storage import ensure_free_space, is_disk_full, storage_full
from . import _anndata
from ._archive import extract_zip, single_top_folder
from ._checks import check_csr
from ._dense import read_dense
from ._hdf5 import hdf5_kind, read_10x_h5, read_h5ad, read_loom
from ._library import Library, check_library
from ._mtx import read_mtx
from ._streams import GZIP_MAGIC, Budget, GuardedStream, ImportLimits

log = logging.getLogger(__name__)

CANONICAL_NAME = "matrix.h5ad"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
TEXT_SUFFIXES = (".tsv", ".csv", ".txt")
FORMATS_HELP = (
    ".mtx/.mtx.gz (+ genes/features and cells/barcodes files beside it), HCA .zip, "
    "10x folder or .h5, .h5ad, .loom, dense .tsv/.csv (optionally .gz)"
)


@dataclass(frozen=True, kw_only=True)
class MatrixSummary:
    """What an import wrote: sizes, the input format and the per-cell metadata columns."""

    cells: int
    genes: int
    nonzeros: int
    source_format: str
    obs_columns: list[str] = field(default_factory=list)
    libraries: list[str] = field(default_factory=list)
    renamed: list[dict[str, str]] = field(default_factory=list)
    dropped: list[dict[str, str]] = field(default_factory=list)
    counts_source: str | None = None
    view_only: bool = False
    embeddings: list[str] = field(default_factory=list)
    not_imported: list[dict[str, str]] = field(default_factory=list)
    facets: dict[str, list[str]] = field(default_factory=dict)

    def to_matrix_info(self) -> dict[str, object]:
        """Return the dataset's ``matrixInfo``.

        ``rowCount`` is the number of genes and ``colCount`` the number of
        cells, as the old server recorded them from HCA/10x Matrix Market files
        (rows = genes); ``cells``/``genes`` say it without ambiguity.
        ``renamed`` (``{"column", "as", "reason"}``) and ``dropped``
        (``{"column", "file", "reason"}``) list the per-cell columns the import
        did not keep as they were; present only when not empty. For an ``.h5ad``:
        ``countsSource`` (``layers/counts`` or ``raw/X``; absent for ``X`` and view-only),
        ``embeddings`` (the ``obsm`` keys kept) and ``notImported``
        (``{"element", "file", "reason"}``: every other part of the file), when not empty.
        """
        info: dict[str, object] = {
            "rowCount": self.genes,
            "colCount": self.cells,
            "cells": self.cells,
            "genes": self.genes,
            "nonzeros": self.nonzeros,
            "sourceFormat": self.source_format,
        }
        if self.renamed:
            info["renamed"] = [dict(r) for r in self.renamed]
        if self.dropped:
            info["dropped"] = [dict(d) for d in self.dropped]
        if self.counts_source not in (None, "X") and self.source_format == "h5ad":
            info["countsSource"] = self.counts_source
        if self.embeddings:
            info["embeddings"] = list(self.embeddings)
        if self.not_imported:
            info["notImported"] = [dict(n) for n in self.not_imported]
        return info


def _head(path: Path, n: int = 512) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(n)


def _gunzip_head(path: Path, *, budget: Budget) -> bytes:
    probe = Budget(limits=budget.limits)
    with open(path, "rb") as raw, GuardedStream(raw, name=path.name, budget=probe, gzip=True) as s:
        return s.read(512) or b""


def detect_format(path: Path, *, budget: Budget) -> str:
    """Return the input format of ``path`` from its content (and suffix for text).

    One of ``mtx``, ``mtx.gz``, ``zip``, ``10x_dir``, ``10x_h5``, ``h5ad``,
    ``loom``, ``tsv``, ``tsv.gz``, ``csv``, ``csv.gz``. Raises
    :class:`IngestError` for anything else.
    """
    name = path.name
    if path.is_dir():
        return "10x_dir"
    if not path.is_file():
        raise IngestError("file not found", field=name)
    head = _head(path)
    if not head:
        raise IngestError("the file is empty", field=name)
    if head.startswith(ZIP_MAGICS):
        return "zip"
    if head.startswith(HDF5_MAGIC):
        kind = hdf5_kind(path)
        if kind is None:
            raise IngestError(
                "an HDF5 file that is neither a 10x .h5, an .h5ad nor a .loom", field=name
            )
        return kind
    gz = head.startswith(GZIP_MAGIC)
    text = _gunzip_head(path, budget=budget) if gz else head
    suffix = ".gz" if gz else ""
    if text.startswith(b"%%MatrixMarket"):
        return "mtx" + suffix
    plain = name.removesuffix(".gz").lower()
    first_line = text.split(b"\n", 1)[0]
    if plain.endswith(TEXT_SUFFIXES) or b"\t" in first_line or b"," in first_line:
        try:
            first_line.decode("utf-8")
        except UnicodeDecodeError:
            if len(first_line) < len(text):
                raise IngestError("not valid UTF-8 text; save it as UTF-8", field=name) from None
        kind = "csv" if plain.endswith(".csv") or b"\t" not in first_line else "tsv"
        return kind + suffix
    raise IngestError(f"unknown matrix format; expected {FORMATS_HELP}", field=name)


def _read_folder(
    folder: Path, *, budget: Budget, label: str, progress: Progress, allow_view_only: bool = False
) -> Library:
    """Read the matrix inside a folder (10x output or an extracted HCA zip)."""
    mtx = sorted(p for p in folder.iterdir() if p.name.endswith((".mtx", ".mtx.gz")))
    if len(mtx) == 1:
        return read_mtx(mtx[0], budget=budget, source_format="10x_dir", progress=progress)
    if len(mtx) > 1:
        raise IngestError(
            f"{len(mtx)} Matrix Market files in one folder; import them as separate libraries",
            field=label,
        )
    others = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")]
    if len(others) == 1:
        return _read_file(others[0], budget=budget, work=None, progress=progress,
                          allow_view_only=allow_view_only)
    raise IngestError(f"no matrix found in the folder; expected {FORMATS_HELP}", field=label)


def _read_file(
    path: Path, *, budget: Budget, work: Path | None, progress: Progress,
    allow_view_only: bool = False,
) -> Library:
    kind = detect_format(path, budget=budget)
    log.info("reading %s as %s", path.name, kind)
    if kind in ("mtx", "mtx.gz"):
        return read_mtx(path, budget=budget, source_format=kind, progress=progress)
    if kind == "10x_dir":
        return _read_folder(path, budget=budget, label=path.name, progress=progress,
                            allow_view_only=allow_view_only)
    if kind in ("tsv", "tsv.gz", "csv", "csv.gz"):
        return read_dense(path, budget=budget, source_format=kind, progress=progress)
    if kind == "10x_h5":
        return read_10x_h5(path, budget=budget, progress=progress)
    if kind == "h5ad":
        return read_h5ad(path, budget=budget, progress=progress, allow_view_only=allow_view_only)
    if kind == "loom":
        return read_loom(path, budget=budget, progress=progress)
    if work is None:
        raise IngestError("a zip archive inside an archive is not supported", field=path.name)
    work.mkdir(parents=True)
    extract_zip(path, work, budget=budget, progress=scaled(progress, 0.0, 0.2))
    try:
        lib = _read_folder(
            single_top_folder(work),
            budget=budget,
            label=path.name,
            progress=scaled(progress, 0.2, 1.0),
            allow_view_only=allow_view_only,
        )
    except IngestError as exc:
        if exc.field and exc.field != path.name:
            exc.field = f"{path.name}:{exc.field}"
        raise
    lib.source_format = "zip"
    lib.name = f"{path.name}:{lib.name}"
    return lib


def default_label(path: Path) -> str:
    """Return a library label from a file name: ``P9A.counts.tsv.gz`` → ``P9A``."""
    return path.name.split(".")[0] or path.name


def _free_name(base: str, taken: set[str]) -> str:
    """Return ``base``, or ``base_1``, ``base_2``… whichever is not in ``taken``."""
    name, k = base, 0
    while name in taken:
        k += 1
        name = f"{base}_{k}"
    return name


def _combine(
    libs: list[Library], labels: list[str]
) -> tuple[sp.csr_matrix, pd.DataFrame, pd.DataFrame, list[dict[str, str]]]:
    """Concatenate libraries (genes aligned by name) into X, obs and var.

    Every per-cell column of the inputs is kept. The file labels go into
    ``library`` unless an input has its own ``library`` column: then that
    column is kept (cells of inputs without one get their file label), and with
    several inputs the file labels go into a free name (``library_file``).
    Likewise the barcodes of several inputs go into ``barcode`` or a free name.
    Returns ``(X, obs, var, renamed)``; ``renamed`` lists what went elsewhere.
    """
    first = libs[0]
    genes = first.gene_names
    mats = [first.X]
    for lib in libs[1:]:
        if len(lib.gene_names) == len(genes) and np.array_equal(lib.gene_names, genes):
            mats.append(lib.X)
            continue
        position = pd.Index(lib.gene_names).get_indexer(genes)
        missing = int((position < 0).sum())
        extra = len(set(lib.gene_names.tolist()) - set(genes.tolist()))
        if missing or extra:
            raise IngestError(
                f"its genes differ from {first.name}'s ({missing:,} missing, {extra:,} extra); "
                "libraries of one dataset must share their gene list",
                field=lib.name,
            )
        mats.append(lib.X[:, position].tocsr())
    X = mats[0] if len(mats) == 1 else sp.vstack(mats, format="csr")
    taken = {str(c) for lib in libs if lib.obs is not None for c in lib.obs.columns}
    renamed: list[dict[str, str]] = []
    own_library = "library" in taken
    label_column: str | None = "library"
    if own_library:
        label_column = _free_name("library_file", taken) if len(libs) > 1 else None
        taken.add(label_column or "library")
        if label_column is not None:
            renamed.append({"column": "library", "as": label_column,
                            "reason": "the file labels; an input has its own library column"})
    barcode_column = "barcode"
    if len(libs) > 1 and "barcode" in taken:
        barcode_column = _free_name("barcode_file", taken)
        renamed.append({"column": "barcode", "as": barcode_column,
                        "reason": "the cell barcodes; an input has its own barcode column"})
    frames = []
    for lib, label in zip(libs, labels, strict=True):
        frame = lib.obs.copy() if lib.obs is not None else pd.DataFrame(index=range(lib.X.shape[0]))
        frame = frame.reset_index(drop=True)
        frame.columns = [str(c) for c in frame.columns]
        assert lib.barcodes is not None
        if len(libs) > 1:
            frame[barcode_column] = lib.barcodes
            frame.index = [f"{label}_{b}" for b in lib.barcodes.tolist()]
        else:
            frame.index = lib.barcodes.tolist()
        if label_column is not None:
            frame[label_column] = label
        if own_library and "library" not in frame.columns:
            frame["library"] = label
        frames.append(frame)
    obs = pd.concat(frames, axis=0) if len(frames) > 1 else frames[0]
    obs.index = obs.index.astype(str)
    if not obs.index.is_unique:
        dup = obs.index[obs.index.duplicated()][0]
        raise IngestError(f"duplicate cell name {dup!r} across libraries", field=libs[-1].name)
    if label_column is not None:
        obs[label_column] = pd.Categorical(
            obs[label_column], categories=list(dict.fromkeys(labels))
        )
    if own_library and not isinstance(obs["library"].dtype, pd.CategoricalDtype):
        obs["library"] = pd.Categorical(obs["library"].astype(str))
    for column in obs.columns:
        if obs[column].dtype == object:
            obs[column] = obs[column].astype(str)
    var = pd.DataFrame(index=pd.Index(genes.tolist(), dtype=str))
    if first.gene_ids is not None:
        var["gene_ids"] = first.gene_ids.astype(str)
    return X, obs, var, renamed


def canonical_bytes(X: sp.csr_matrix, *, obs: pd.DataFrame, var: pd.DataFrame) -> int:
    """Return an upper bound of the size of the canonical ``.h5ad`` of ``X``, ``obs``, ``var``.

    X is written uncompressed (its three arrays as they are); a table takes at
    most its in-memory size (Python strings weigh more than HDF5's); 1 MiB
    covers the file's own structure.
    """
    arrays = X.data.nbytes + X.indices.nbytes + X.indptr.nbytes
    tables = sum(int(t.memory_usage(index=True, deep=True).sum()) for t in (obs, var))
    return int(arrays + tables + 1024**2)


def write_canonical(
    path: Path,
    X: sp.csr_matrix,
    *,
    obs: pd.DataFrame,
    var: pd.DataFrame,
    source_format: str,
    obsm: dict[str, np.ndarray] | None = None,
    colors: dict[str, list[str]] | None = None,
    view_only: bool = False,
) -> None:
    """Write the canonical ``.h5ad`` (uncompressed) to ``path``; ``X``'s structure is checked first.

    ``obsm`` (embeddings), ``colors`` (obs column → colour per category, written as
    ``uns["<column>_colors"]``) and ``view_only`` are what an ``.h5ad`` input brings.

    So is the free space, for :func:`canonical_bytes`: libhdf5 must not meet a
    full disk (it may crash the process afterwards). Raises
    :class:`bioblocks.errors.StorageFullError` (nothing left at ``path``).
    """
    import anndata

    check_csr(X, name=path.name)
    ensure_free_space(path.parent, canonical_bytes(X, obs=obs, var=var), what=path.name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            uns: dict[str, object] = {"source_format": source_format}
            uns.update({f"{column}_colors": np.array(c, dtype=object)
                        for column, c in (colors or {}).items()})
            if view_only:
                uns["view_only"] = True
            adata = anndata.AnnData(X=X, obs=obs, var=var, uns=uns, obsm=dict(obsm or {}))
            adata.write_h5ad(path)
    except Exception as exc:
        if not is_disk_full(exc):
            raise
        path.unlink(missing_ok=True)
        raise storage_full(path.parent) from exc


def _tree_bytes(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def _check_view_only(libs: list[Library]) -> bool:
    """Return whether the import is view-only (one input without counts); raise
    :class:`IngestError` when such an input is combined with others."""
    flat = [lib for lib in libs if lib.view_only]
    if flat and len(libs) > 1:
        raise IngestError(
            "holds no counts (X has negative or fractional values, and there is no "
            "layers['counts'] or integral raw.X), so it cannot be combined with other "
            "libraries; import it alone (view-only) or add its counts",
            field=flat[0].name,
        )
    return bool(flat)


def _viewer_parts(
    libs: list[Library],
) -> tuple[dict[str, np.ndarray], dict[str, list[str]], list[dict[str, str]]]:
    """Return the embeddings, colours and not-imported list of the inputs.

    Embeddings and colours are kept for a single input; with several, each file's are
    listed as not imported (they describe only that file's cells).
    """
    notes = [n for lib in libs for n in lib.not_imported]
    if len(libs) == 1:
        return dict(libs[0].obsm), dict(libs[0].colors), notes
    for lib in libs:
        reason = "several inputs combined: it covers the cells of one file only"
        notes.extend({"element": f"obsm/{k}", "file": lib.name, "reason": reason}
                     for k in lib.obsm)
        notes.extend({"element": f"uns/{k}_colors", "file": lib.name, "reason": reason}
                     for k in lib.colors)
    return {}, {}, notes


def import_matrix(
    sources: Sequence[Path],
    dest_dir: Path,
    *,
    labels: Sequence[str] | None = None,
    limits: ImportLimits,
    keep_original: bool = False,
    allow_view_only: bool = False,
    progress: Progress = null_progress,
) -> MatrixSummary:
    """Import one or several libraries into ``dest_dir/matrix.h5ad``.

    Each source is a file or a 10x folder in any supported format. Several
    sources are concatenated (cells of each, in order) with genes aligned by
    name — their gene sets must be equal — and obs names ``<label>_<barcode>``.
    ``obs['library']`` holds each cell's label (default: the file name up to its
    first dot) unless an input has its own ``library`` column, which is kept
    (see :func:`_combine`); renamed and dropped columns are listed in the
    summary. ``dest_dir`` is a staging folder the caller renames into place;
    with ``keep_original`` the inputs are copied to ``dest_dir/original/``.
    An ``.h5ad``'s embeddings and colours are kept (one input only: another
    file's cells have no place in them); ``allow_view_only`` imports an
    ``.h5ad`` without counts view-only (see :func:`~._hdf5.read_h5ad`; alone,
    never combined with other inputs). Returns a :class:`MatrixSummary`. Raises :class:`IngestError` naming the
    file at fault, and :class:`bioblocks.errors.StorageFullError` when the
    disk is full (checked before the canonical file is written); the caller
    then discards ``dest_dir``.
    """
    paths = [Path(s) for s in sources]
    if not paths:
        raise IngestError("no input file given", field="sources")
    names = list(labels) if labels is not None else [default_label(p) for p in paths]
    if len(names) != len(paths):
        raise IngestError(f"{len(names)} labels for {len(paths)} inputs", field="labels")
    if len(set(names)) != len(names):
        raise IngestError(f"library labels must be distinct, got {names}", field="labels")
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    budget = Budget(limits=limits)
    work = dest_dir / ".work"
    libs: list[Library] = []
    try:
        for k, path in enumerate(paths):
            if not path.exists():
                raise IngestError("file not found", field=path.name)
            part = scaled(progress, 0.85 * k / len(paths), 0.85 * (k + 1) / len(paths))
            part(0.0, f"reading {path.name}")
            lib = _read_file(path, budget=budget, work=work / str(k), progress=part,
                             allow_view_only=allow_view_only)
            libs.append(check_library(lib))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    progress(0.86, "combining libraries" if len(libs) > 1 else "checking the matrix")
    formats = list(dict.fromkeys(lib.source_format for lib in libs))
    source_format = "+".join(formats)
    view_only = _check_view_only(libs)
    obsm, colors, not_imported = _viewer_parts(libs)
    counts_source = None if view_only else "+".join(
        dict.fromkeys(lib.counts_source or "X" for lib in libs))
    X, obs, var, renamed = _combine(libs, names)
    dropped = [d for lib in libs for d in lib.dropped]
    del libs
    progress(0.9, f"writing {CANONICAL_NAME}")
    write_canonical(dest_dir / CANONICAL_NAME, X, obs=obs, var=var, source_format=source_format,
                    obsm=obsm, colors=colors, view_only=view_only)
    if keep_original:
        original = dest_dir / "original"
        ensure_free_space(dest_dir, sum(_tree_bytes(p) for p in paths), what="original/")
        original.mkdir()
        for path in paths:
            if path.is_dir():
                shutil.copytree(path, original / path.name)
            else:
                shutil.copy2(path, original / path.name)
    progress(1.0, "imported")
    summary = MatrixSummary(
        cells=int(X.shape[0]),
        genes=int(X.shape[1]),
        nonzeros=int(X.nnz),
        source_format=source_format,
        obs_columns=[str(c) for c in obs.columns],
        libraries=[str(c) for c in obs["library"].cat.categories],
        renamed=renamed,
        dropped=dropped,
        counts_source=counts_source,
        view_only=view_only,
        embeddings=list(obsm),
        not_imported=not_imported,
        facets=_anndata.facets(obs),
    )
    log.info(
        "imported %s cells × %s genes (%s nonzeros) from %s",
        f"{summary.cells:,}",
        f"{summary.genes:,}",
        f"{summary.nonzeros:,}",
        source_format,
    )
    return summary


@dataclass(frozen=True, kw_only=True)
class ViewerParts:
    """The parts of a canonical matrix that an ``.h5ad`` input brought for the viewers."""

    #: ``obsm`` key (``X_umap`` …) → cells × dimensions (float64), in the matrix's cell order.
    embeddings: dict[str, np.ndarray]
    #: obs column → one ``#rrggbb`` colour per category of the column, in category order.
    colors: dict[str, list[str]]
    #: The matrix holds the file's values as they are, not counts.
    view_only: bool


def read_viewer_parts(path: Path) -> ViewerParts:
    """Read the embeddings, colours and view-only flag of a canonical ``matrix.h5ad``
    (empty for inputs other than an ``.h5ad``); returns a :class:`ViewerParts`."""
    from anndata.io import read_elem

    with h5py.File(path, "r") as f:
        obsm = f.get("obsm")
        embeddings = {} if not isinstance(obsm, h5py.Group) else {
            str(k): np.asarray(obsm[k][()], dtype=np.float64) for k in obsm
            if isinstance(obsm[k], h5py.Dataset)}
        uns = f.get("uns")
        colors: dict[str, list[str]] = {}
        view_only = False
        if isinstance(uns, h5py.Group):
            for key in uns:
                if key.endswith("_colors"):
                    values = read_elem(uns[key])
                    colors[key.removesuffix("_colors")] = [str(v) for v in np.asarray(values)]
            view_only = "view_only" in uns and bool(read_elem(uns["view_only"]))
    return ViewerParts(embeddings=embeddings, colors=colors, view_only=view_only)


def read_canonical(
    path: Path, *, dtype: np.dtype | type | None = None
) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray, pd.DataFrame]:
    """Read a canonical ``matrix.h5ad``.

    Returns ``(X, gene_names, barcodes, obs)``: the cells × genes CSR matrix,
    gene names and barcodes as string arrays, and the per-cell metadata
    (index = barcodes). Reads X's arrays directly with h5py; ``dtype`` converts the
    values while reading (HDF5 converts chunk by chunk, so no second copy is held).
    """
    from anndata.io import read_elem

    with h5py.File(path, "r") as f:
        group = f["X"]
        shape = tuple(int(x) for x in group.attrs["shape"])
        X = sp.csr_matrix(
            (
                group["data"][()] if dtype is None else group["data"].astype(dtype)[()],
                group["indices"][()],
                group["indptr"][()],
            ),
            shape=shape,
        )
        var = read_elem(f["var"])
        obs = read_elem(f["obs"])
    genes = np.asarray(var.index.astype(str))
    barcodes = np.asarray(obs.index.astype(str))
    return X, genes, barcodes, obs


def read_canonical_tables(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return ``(obs, var)`` of a canonical ``matrix.h5ad`` without reading its matrix:
    the per-cell metadata (index = barcodes) and the genes (index = gene names, with
    ``gene_ids`` when the input had ids)."""
    from anndata.io import read_elem

    with h5py.File(path, "r") as f:
        return read_elem(f["obs"]), read_elem(f["var"])


#: Most matrix rows one read of :func:`read_canonical_rows` spans (bounds its memory).
ROW_WINDOW = 20_000


def read_canonical_rows(
    path: Path, rows: np.ndarray, *, dtype: np.dtype | type | None = None
) -> sp.csr_matrix:
    """Return the rows ``rows`` (any order, repeats allowed) of a canonical ``matrix.h5ad``'s
    ``X`` as a CSR matrix, in that order, with sorted column indices.

    Reads the file's ``indptr`` and then, for the sorted distinct rows, one contiguous span
    of ``data``/``indices`` per window of at most :data:`ROW_WINDOW` matrix rows, so memory
    stays near the size of the rows asked for (plus the spans' gaps); ``dtype`` converts the
    values while reading. Raises :class:`~bioblocks.errors.IngestError` for a row outside
    the matrix.
    """
    rows = np.asarray(rows, dtype=np.int64).ravel()
    with h5py.File(path, "r") as f:
        group = f["X"]
        n_rows, n_cols = (int(x) for x in group.attrs["shape"])
        outside = rows[(rows < 0) | (rows >= n_rows)]
        if outside.size:
            raise IngestError(
                f"{path.name} has {n_rows} cells; row {int(outside[0])} is outside it "
                "(the analysis was made on another matrix: rerun it)"
            )
        indptr = np.asarray(group["indptr"][()], dtype=np.int64)
        data_ds, indices_ds = group["data"], group["indices"]
        wanted = np.unique(rows)
        parts: list[sp.csr_matrix] = []
        start = 0
        while start < wanted.size:
            lo = int(wanted[start])
            stop = int(np.searchsorted(wanted, lo + ROW_WINDOW, side="left"))
            chunk = wanted[start:stop]
            hi = int(chunk[-1]) + 1
            a, b = int(indptr[lo]), int(indptr[hi])
            values = data_ds[a:b] if dtype is None else data_ds.astype(dtype)[a:b]
            window = sp.csr_matrix(
                (values, indices_ds[a:b], indptr[lo : hi + 1] - a), shape=(hi - lo, n_cols)
            )
            parts.append(window[chunk - lo])
            start = stop
    picked = sp.vstack(parts, format="csr") if parts else sp.csr_matrix((0, n_cols))
    if dtype is not None:
        picked = picked.astype(dtype, copy=False)
    same = rows.size == wanted.size and bool(np.array_equal(rows, wanted))
    out = picked if same else sp.csr_matrix(picked[np.searchsorted(wanted, rows)])
    out.sort_indices()
    return out
