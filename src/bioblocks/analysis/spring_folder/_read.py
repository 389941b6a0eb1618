"""Readers of an analysis folder's files (spec §10): what the SPRING viewer's scripts (with
its enrichment z-scores, :func:`gene_zscores`), the page's API and t-SNE/UMAP read.

A missing file raises :class:`~bioblocks.errors.NotFoundError`; files that contradict each
other raise :class:`~bioblocks.errors.ConflictError`. The long reads call ``check`` between
chunks of :data:`WORK_CHUNK` datasets; it may raise :class:`~bioblocks.errors.Cancelled`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from bioblocks.analysis.spring_folder import _names as N
from bioblocks.errors import AnalysisInputError, ConflictError, NotFoundError

log = logging.getLogger(__name__)

#: Rows (or genes) read from the HDF5 files between two calls of ``check``.
WORK_CHUNK = 256


def _never() -> None:
    """The default ``check``: never cancels."""


def _file(folder: Path, name: str) -> Path:
    path = Path(folder) / name
    if not path.is_file():
        raise NotFoundError(f"Folder {Path(folder).name!r} has no {name}.")
    return path


def read_genes(folder: Path) -> list[str]:
    """Return the gene names of ``genes.txt`` in ``folder`` (analysis or subplot), in order."""
    return _file(folder, N.GENES).read_text(encoding="utf-8").splitlines()


def read_cell_filter(subplot: Path) -> np.ndarray:
    """Return ``cell_filter.npy``: the main-matrix row of each subplot cell (int64)."""
    cells = np.load(_file(subplot, N.CELL_FILTER), allow_pickle=False)
    cells = np.asarray(cells, dtype=np.int64).ravel()
    if cells.size and cells.min() < 0:
        raise ConflictError("cell_filter.npy holds negative cell indices.")
    return cells


def read_color_stats(subplot: Path) -> dict[str, list[float]]:
    """Return ``color_stats.json``: name → ``[mean, std, min, max, p]``."""
    return json.loads(_file(subplot, N.COLOR_STATS).read_text(encoding="utf-8"))


def read_categorical(subplot: Path) -> dict[str, dict[str, Any]]:
    """Return ``categorical_coloring_data.json``: track → ``label_colors``, ``label_list``."""
    return json.loads(_file(subplot, N.CATEGORICAL).read_text(encoding="utf-8"))


def read_coordinates(subplot: Path) -> np.ndarray:
    """Return ``coordinates.txt`` as an ``(n_cells, 2)`` float64 array (5 decimals)."""
    xy = np.loadtxt(_file(subplot, N.COORDINATES), delimiter=",", usecols=(1, 2), ndmin=2)
    return xy.reshape(-1, 2)


def read_pca(subplot: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Return the z-scored PCA (``Epca`` of ``intermediates.npz``, one row per subplot
    cell, float64) and the Louvain labels (``louvain_clusters.npy``, None without it).

    Raises :class:`~bioblocks.errors.AnalysisInputError` (field ``springAnalysis``) when
    ``intermediates.npz`` is missing: t-SNE and UMAP need it as input.
    """
    intermediates = Path(subplot) / N.INTERMEDIATES
    if not intermediates.is_file():
        raise AnalysisInputError(
            f"{subplot} holds no SPRING subplot with intermediates.npz; rerun that SPRING "
            "analysis (or run `bioblocks db upgrade` if it was made by an older version)",
            field="springAnalysis",
        )
    with np.load(intermediates) as data:
        pca = np.asarray(data["Epca"], dtype=np.float64)
    clusters = Path(subplot) / N.LOUVAIN
    labels = np.load(clusters, allow_pickle=False) if clusters.is_file() else None
    return pca, labels


def read_gene_filter(subplot: Path) -> np.ndarray:
    """Return ``gene_filter`` of ``intermediates.npz``: the indices (into ``genes.txt``) of
    the genes SPRING selected for its PCA (int64, ascending)."""
    with np.load(_file(subplot, N.INTERMEDIATES)) as data:
        return np.asarray(data["gene_filter"], dtype=np.int64).ravel()


def read_total_counts(folder: Path) -> np.ndarray:
    """Return ``total_counts.txt`` of the analysis ``folder``: the total count of every
    main-matrix row (float64), the totals SPRING normalised by."""
    return np.loadtxt(_file(folder, N.TOTAL_COUNTS), dtype=np.float64, ndmin=1).ravel()


def read_color_tracks(subplot: Path, n_cells: int) -> dict[str, np.ndarray]:
    """Return ``color_data_gene_sets.csv``: continuous track name → its ``n_cells`` float64
    values (``%.3f``, as written), in the file's (sorted) order. The values are the last
    ``n_cells`` fields of a line, so a name may hold commas."""
    text = _file(subplot, N.COLOR_TRACKS).read_text(encoding="utf-8")
    tracks: dict[str, np.ndarray] = {}
    for line in text.splitlines():
        parts = line.split(",")
        if len(parts) < n_cells + 1:
            raise ConflictError(
                f"{N.COLOR_TRACKS} has a line of {len(parts) - 1} values for {n_cells} cells."
            )
        name = ",".join(parts[: len(parts) - n_cells])
        tracks[name] = np.array(parts[len(parts) - n_cells :], dtype=np.float64)
    return tracks


def read_embedding(folder: Path, name: str) -> np.ndarray:
    """Return a t-SNE/UMAP result of ``folder`` (``name``: ``tsne_output.csv`` or
    ``umap_output.csv``) as an ``(n_cells, 2)`` float64 array, one row per line."""
    xy = np.loadtxt(_file(folder, name), delimiter=",", dtype=np.float64, ndmin=2)
    if xy.size and xy.shape[1] != 2:
        raise ConflictError(f"{name} has {xy.shape[1]} columns; it holds x,y per cell.")
    return xy.reshape(-1, 2)


def read_cells(folder: Path) -> list[str] | None:
    """Return ``cells.txt`` of a t-SNE/UMAP ``folder`` (the cell id of each result row), or
    None when the folder has none (results written before the file existed)."""
    path = Path(folder) / N.CELLS
    return path.read_text(encoding="utf-8").splitlines() if path.is_file() else None


def _dataset(group: h5py.Group | None, name: str) -> np.ndarray | None:
    """The 1-D dataset ``name`` of ``group`` (None for a missing or unsafe name)."""
    if group is None or not name or "/" in name or name.startswith("."):
        return None
    item = group.get(name)
    return np.asarray(item[()]).ravel() if isinstance(item, h5py.Dataset) else None


def gene_values(folder: Path, gene: str, cells: np.ndarray) -> np.ndarray:
    """Return the normalised expression of ``gene`` in the main-matrix rows ``cells``.

    Reads ``counts_norm_sparse_genes.hdf5`` in the analysis ``folder``; returns float64,
    one value per entry of ``cells``. Raises NotFoundError for a gene not in that file.
    """
    with h5py.File(_file(folder, N.GENES_HDF5), "r") as hf:
        counts = _dataset(hf.get("counts"), gene)
        cell_ix = _dataset(hf.get("cell_ix"), gene)
        ncells = int(hf.attrs["ncells"])
    if counts is None or cell_ix is None:
        raise NotFoundError(f"Gene {gene!r} is not in this dataset.")
    cells = np.asarray(cells, dtype=np.int64)
    if cells.size and (cells.min() < 0 or cells.max() >= ncells):
        raise ConflictError(f"cell_filter.npy refers to cells outside {N.GENES_HDF5}.")
    values = np.zeros(ncells, dtype=np.float64)
    values[np.asarray(cell_ix, dtype=np.int64)] = counts
    return values[cells]


def _means_by_cells(
    hf: h5py.File, selections: list[np.ndarray], n_genes: int, check: Callable[[], None]
) -> list[np.ndarray]:
    """Per-gene mean over each selection of main-matrix rows: two datasets read per row of
    ``counts_norm_sparse_cells.hdf5``."""
    counts, gene_ix = hf["counts"], hf["gene_ix"]
    out = []
    for rows in selections:
        total = np.zeros(n_genes, dtype=np.float64)
        for start in range(0, rows.size, WORK_CHUNK):
            check()
            chunk = rows[start : start + WORK_CHUNK].tolist()
            ix = [np.asarray(gene_ix[str(r)][()], dtype=np.int64).ravel() for r in chunk]
            values = [np.asarray(counts[str(r)][()], dtype=np.float64).ravel() for r in chunk]
            flat_ix, flat_values = np.concatenate(ix), np.concatenate(values)
            if flat_ix.size != flat_values.size or (
                flat_ix.size and (flat_ix.min() < 0 or flat_ix.max() >= n_genes)
            ):
                raise ConflictError(f"{N.CELLS_HDF5} has malformed rows.")
            total += np.bincount(flat_ix, weights=flat_values, minlength=n_genes)
        out.append(total / max(rows.size, 1))
    return out


def _means_by_genes(
    path: Path, genes: Sequence[str], selections: list[np.ndarray], check: Callable[[], None]
) -> list[np.ndarray] | None:
    """Per-gene mean over each selection: two datasets read per gene of
    ``counts_norm_sparse_genes.hdf5``, whatever the selections' size (None when a gene is
    not in that file)."""
    with h5py.File(path, "r") as hf:
        ncells = int(hf.attrs["ncells"])
        counts, cell_ix = hf.get("counts"), hf.get("cell_ix")
        weights = np.zeros((ncells, len(selections)), dtype=np.float64)
        for k, rows in enumerate(selections):
            if rows.size and rows.max() >= ncells:
                raise ConflictError(f"cell_filter.npy refers to cells outside {N.GENES_HDF5}.")
            weights[:, k] = np.bincount(rows, minlength=ncells)
        totals = np.zeros((len(genes), len(selections)), dtype=np.float64)
        for g, gene in enumerate(genes):
            if g % WORK_CHUNK == 0:
                check()
            values, ix = _dataset(counts, gene), _dataset(cell_ix, gene)
            if values is None or ix is None:
                return None
            ix = ix.astype(np.int64)
            if ix.size != values.size or (ix.size and (ix.min() < 0 or ix.max() >= ncells)):
                raise ConflictError(f"{N.GENES_HDF5} is malformed for {gene!r}.")
            totals[g] = values.astype(np.float64) @ weights[ix]
    return [totals[:, k] / max(rows.size, 1) for k, rows in enumerate(selections)]


def mean_expression(
    folder: Path,
    genes: Sequence[str],
    selections: list[np.ndarray],
    *,
    check: Callable[[], None] = _never,
) -> list[np.ndarray]:
    """Return the mean normalised expression of every gene over each selection.

    ``genes`` are the analysis's genes in matrix order (``genes.txt``), each selection an
    array of main-matrix rows (each counted once per occurrence). Small selections are read
    row by row from ``counts_norm_sparse_cells.hdf5``; once they hold more rows than there
    are genes, ``counts_norm_sparse_genes.hdf5`` is read gene by gene instead, so one call
    reads at most about ``2 × min(rows, genes)`` datasets. Returns one float64 array of
    ``len(genes)`` per selection.
    """
    total_rows = sum(int(rows.size) for rows in selections)
    genes_path = Path(folder) / N.GENES_HDF5
    if total_rows > len(genes) and genes_path.is_file():
        means = _means_by_genes(genes_path, genes, selections, check)
        if means is not None:
            return means
        log.info("%s cannot serve the means; reading cells instead", genes_path)
    with h5py.File(_file(folder, N.CELLS_HDF5), "r") as hf:
        if int(hf.attrs["ngenes"]) != len(genes):
            raise ConflictError(f"genes.txt and {N.CELLS_HDF5} disagree.")
        try:
            return _means_by_cells(hf, selections, len(genes), check)
        except KeyError as exc:
            raise ConflictError(f"cell_filter.npy refers to cells missing from {N.CELLS_HDF5}.") from exc


#: Most genes returned by :func:`gene_zscores` (as the viewer's original script).
ZSCORE_TOP_GENES = 1000


def gene_zscores(
    folder: Path,
    subplot: Path,
    selected: np.ndarray,
    compared: np.ndarray | None = None,
    *,
    top: int = ZSCORE_TOP_GENES,
    check: Callable[[], None] = _never,
) -> tuple[list[str], np.ndarray]:
    """Score every gene's enrichment in the subplot cells ``selected``.

    Parameters
    ----------
    folder, subplot
        The analysis folder (main matrix, ``genes.txt``) and its subplot folder
        (``color_stats.json``, ``cell_filter.npy``).
    selected, compared
        Subplot-cell indices, each counted once (deduplicate them first).
    top
        Most genes returned.
    check
        Called between chunks of reading; may raise :class:`~bioblocks.errors.Cancelled`.

    Returns
    -------
    names, scores
        The ``top`` best genes and their scores, best first (stable for ties). The score
        is ``(mean_selected - mean) / (std + 0.02)`` with ``mean`` and ``std`` the gene's
        ``color_stats.json`` entry, minus the same for ``compared`` when given (the
        viewer's ``get_gene_zscores`` script).
    """
    genes = read_genes(folder)
    stats = read_color_stats(subplot)
    cell_filter = read_cell_filter(subplot)
    try:
        means = np.array([stats[g][0] for g in genes], dtype=np.float64)
        stds = np.array([stats[g][1] for g in genes], dtype=np.float64)
    except (KeyError, IndexError, TypeError) as exc:
        raise ConflictError(f"color_stats.json has no valid entry for gene {exc}.") from exc
    selections = [cell_filter[selected]]
    if compared is not None:
        selections.append(cell_filter[compared])
    averages = mean_expression(folder, genes, selections, check=check)
    scores = (averages[0] - means) / (stds + 0.02)
    if compared is not None:
        scores -= (averages[1] - means) / (stds + 0.02)
    order = np.argsort(-scores, kind="stable")[:top]
    return [genes[i] for i in order.tolist()], scores[order]
