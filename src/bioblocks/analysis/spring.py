"""The SPRING analysis end to end: counts in, a SPRING folder out (spec §2–§10).

:func:`run_spring` filters cells, normalises, selects genes by v-score, computes the
PCA, the kNN graph, the ForceAtlas2 layout, clusters and colour statistics, and writes
every file the SPRING viewer and the portal read. It knows nothing of HTTP or SQL.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar, Self

import numpy as np
import pandas as pd
import scipy.sparse as sp

from bioblocks.analysis import _colors, _genes, _preprocess, spring_folder
from bioblocks.analysis._clusters import leiden_clusters, louvain_clusters
from bioblocks.analysis._neighbors import knn_edges, knn_indices
from bioblocks.analysis._params import Params, number_text
from bioblocks.analysis._pca import zscore_pca
from bioblocks.analysis._subsample import subsample_cells
from bioblocks.analysis.layout import forceatlas2
from bioblocks.errors import AnalysisInputError
from bioblocks.progress import Progress, null_progress, scaled

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SpringParams(Params):
    """Every parameter of a SPRING analysis (spec §9 defaults), validated on creation
    (the rules of :class:`~bioblocks.analysis._params.Params`).

    Attributes
    ----------
    cell_min_counts
        Keep cells with at least this many counts (0: cells with any count).
    gene_min_cells, gene_min_counts
        A selected gene has ``>= gene_min_counts`` normalised expression in
        ``>= gene_min_cells`` cells.
    gene_var_pctl
        v-score percentile a selected gene must reach (``min_vscore_pctl``).
    n_neighbors
        k of the kNN graph.
    n_prin_comps
        Principal components (at most the number of selected genes are used).
    n_force_iter
        ForceAtlas2 iterations.
    seed
        Seed of every random step (subsampling, sparse PCA, approximate kNN, layout,
        clusters).
    subsample
        Analyse this many cells drawn uniformly without replacement from the cells that
        pass the cell filter (None: all of them).
    cell_cycle_genes
        Gene set whose summed z-score excludes correlated genes (spec §3 step 9).
    min_corr
        Pearson correlation from which a gene is excluded.
    exclude_genes
        Gene names never used for the PCA.
    sparse_threshold
        From this many cells on, the sparse PCA and approximate kNN are used.
    leiden_resolution
        Resolution of the Leiden clustering.
    """

    _label: ClassVar[str] = "SPRING"
    _ranges: ClassVar[Mapping[str, tuple[float, float]]] = {
        "cell_min_counts": (0, 1e12),
        "gene_min_cells": (0, 1e9),
        "gene_min_counts": (0, 1e12),
        "gene_var_pctl": (0, 100),
        "n_neighbors": (1, 1000),
        "n_prin_comps": (1, 1000),
        "n_force_iter": (1, 100_000),
        "subsample": (1, 1e12),
        "min_corr": (-1, 1),
        "sparse_threshold": (2, 1e12),
        "leiden_resolution": (1e-6, 1e6),
    }

    cell_min_counts: float = 0
    gene_min_cells: int = 3
    gene_min_counts: float = 3
    gene_var_pctl: float = 85
    n_neighbors: int = 5
    n_prin_comps: int = 30
    n_force_iter: int = 500
    subsample: int | None = None
    cell_cycle_genes: tuple[str, ...] = ()
    min_corr: float = 0.2
    exclude_genes: tuple[str, ...] = ()
    sparse_threshold: int = 100_000
    leiden_resolution: float = 1.0

    def for_cells(self, n_cells: int) -> Self:
        """Return these parameters if ``n_cells`` analysed cells are enough for the kNN
        graph (``max(n_neighbors + 1, 3)``); raise naming ``n_neighbors`` otherwise."""
        needed = max(self.n_neighbors + 1, 3)
        if n_cells < needed:
            raise AnalysisInputError(
                f"{n_cells} cell(s) to analyse, but n_neighbors={self.n_neighbors} needs at "
                f"least {needed}; analyse a larger dataset or lower n_neighbors",
                field="n_neighbors",
            )
        return self


@dataclass
class SpringResult:
    """What :func:`run_spring` computed (the files hold the same values).

    Attributes
    ----------
    cell_filter
        Rows of the input matrix analysed, in subplot order.
    gene_filter
        Columns used for the PCA.
    excluded_genes
        Columns dropped by the cell-cycle correlation and the exclusion list.
    epca
        ``(n_cells, num_pc)`` PCA coordinates (``Epca``).
    edges
        ``(n_edges, 2)`` kNN graph edges, ``i < j``.
    coordinates
        ``(n_cells, 2)`` post-processed layout (as in ``coordinates.txt``).
    clusters
        Track name (``Leiden cluster``, ``Louvain cluster``) → label per cell.
    total_counts
        Raw total counts of the analysed cells.
    timings
        Seconds per stage.
    params
        The parameters used.
    """

    cell_filter: np.ndarray
    gene_filter: np.ndarray
    excluded_genes: np.ndarray
    epca: np.ndarray
    edges: np.ndarray
    coordinates: np.ndarray
    clusters: dict[str, np.ndarray]
    total_counts: np.ndarray
    params: SpringParams
    timings: dict[str, float] = field(default_factory=dict)


def postprocess_layout(positions: np.ndarray) -> np.ndarray:
    """SPRING's post-processing (spec §6): divide by 5, centre each axis on 0 (subtract
    the minimum and half the range), then add 750 to x and 250 to y."""
    pos = np.asarray(positions, dtype=np.float64) / 5.0
    pos = pos - np.min(pos, axis=0) - np.ptp(pos, axis=0) / 2.0
    pos[:, 0] += 750
    pos[:, 1] += 250
    return pos


_FORBIDDEN_GENE_CHARS = ("/", "\t", "\n", "\r")


def _check_gene_names(gene_names: Sequence[str], n_genes: int) -> list[str]:
    names = [str(g) for g in gene_names]
    if len(names) != n_genes:
        raise AnalysisInputError(
            f"{len(names)} gene names for a matrix with {n_genes} columns", field="gene_names"
        )
    for name in names:
        if not name or name in (".", "..") or any(c in name for c in _FORBIDDEN_GENE_CHARS):
            raise AnalysisInputError(
                f"gene name {name!r} cannot be stored (empty, '.', or with '/', tab or "
                "newline); rename it on import",
                field="gene_names",
            )
    if len(set(names)) != len(names):
        seen: set[str] = set()
        dup = next(n for n in names if n in seen or seen.add(n))  # type: ignore[func-returns-value]
        raise AnalysisInputError(
            f"gene name {dup!r} appears more than once; make names unique on import "
            "(NAME__1, NAME__2, …)",
            field="gene_names",
        )
    return names


def _release(counts: sp.spmatrix) -> None:
    """Empty a CSR matrix whose arrays the analysis took over (``consume_counts``)."""
    counts.data = np.zeros(0, dtype=counts.data.dtype)
    counts.indices = np.zeros(0, dtype=counts.indices.dtype)
    counts.indptr = np.zeros(1, dtype=counts.indptr.dtype)
    counts.resize((0, counts.shape[1]))


def _check_dataset_name(name: str) -> None:
    if (
        not name
        or name.strip() != name
        or name in (".", "..")
        or any(c in name for c in ("/", "\\", "\x00", "\n", "\r", "\t"))
        or len(name) > 200
    ):
        raise AnalysisInputError(
            f"{name!r} cannot name the subplot folder: use 1-200 characters without "
            "slashes, control characters or surrounding spaces",
            field="dataset_name",
        )


class _Stages:
    """Times stages and reports progress at their start."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.timings: dict[str, float] = {}
        self._name: str | None = None
        self._start = 0.0

    def start(self, name: str, fraction: float, message: str) -> None:
        self.stop()
        self.progress(fraction, message)
        log.info("SPRING: %s", message)
        self._name, self._start = name, time.perf_counter()

    def stop(self) -> None:
        if self._name is not None:
            self.timings[self._name] = time.perf_counter() - self._start
            self._name = None


def _select_genes(
    sub: sp.csc_matrix, names: list[str], params: SpringParams
) -> tuple[np.ndarray, np.ndarray]:
    """The PCA genes (v-score filter, then the cell-cycle and named exclusions) and the
    selected genes those exclusions removed; raises when no gene is left."""
    gene_filter = _genes.filter_genes(
        sub,
        min_vscore_pctl=params.gene_var_pctl,
        min_counts=params.gene_min_counts,
        min_cells=params.gene_min_cells,
    )
    selected = gene_filter
    if gene_filter.size and params.cell_cycle_genes:
        gene_filter, _ = _genes.remove_correlated_genes(
            sub, names, gene_filter, params.cell_cycle_genes, min_corr=params.min_corr
        )
    if gene_filter.size and params.exclude_genes:
        gene_filter = _genes.exclude_named_genes(names, gene_filter, params.exclude_genes)
    if gene_filter.size == 0:
        raise AnalysisInputError(
            "no gene passes the gene filter; lower gene_min_cells, gene_min_counts or "
            "gene_var_pctl, or exclude fewer genes",
            field="gene_var_pctl",
        )
    excluded = np.setdiff1d(selected, gene_filter)
    return gene_filter, excluded


def run_spring(
    counts: sp.csr_matrix,
    gene_names: Sequence[str],
    *,
    out_dir: Path,
    dataset_name: str,
    params: SpringParams,
    cell_metadata: pd.DataFrame | None = None,
    progress: Progress = null_progress,
    consume_counts: bool = False,
) -> SpringResult:
    """Run SPRING on a count matrix and write its analysis folder.

    Parameters
    ----------
    counts
        Raw counts, cells × genes (any scipy sparse matrix or dense array).
    gene_names
        Unique names of the columns.
    out_dir
        The analysis folder to fill (normally an :func:`~bioblocks.storage.atomic_dir`
        staging folder; created if missing).
    dataset_name
        Name of the subplot folder ``out_dir/<dataset_name>/``.
    params
        The analysis parameters.
    cell_metadata
        Optional per-cell metadata, one row per input cell in matrix order: text,
        categorical and boolean columns become categorical colour tracks (e.g.
        ``library``), numeric columns continuous tracks. A label column with more
        distinct labels than ``_colors.max_track_levels`` allows (1,000, or half the
        cells; e.g. ``barcode``) gets no track; ``run_info.json`` lists it under
        ``Columns_Without_Track`` with its number of labels.
    progress
        Called stage by stage with ``(fraction, message)``; may raise
        :class:`~bioblocks.errors.Cancelled`.
    consume_counts
        Let the analysis take over the arrays of ``counts`` (a CSR matrix) and normalise
        them in place instead of copying them; ``counts`` is left empty (0 rows). Use it
        when the caller loaded the matrix only for this analysis: a million-cell matrix is
        then held once, not twice.

    Notes
    -----
    From ``params.sparse_threshold`` input rows on, the normalised matrix is held (and
    written) in float32 instead of float64, halving its memory; the expression store and
    the HDF5 files are float32 at every size.

    Returns
    -------
    SpringResult
        The arrays computed and the seconds spent per stage.

    Writes
    ------
    ``out_dir``: ``counts_norm.npz``, the expression store, ``genes.txt``,
    ``total_counts.txt``, ``counts_norm_sparse_genes.hdf5``,
    ``counts_norm_sparse_cells.hdf5`` (main matrix: every input row, normalised to the
    mean total of the analysed cells). ``out_dir/<dataset_name>/``: every file of spec
    §10 with an empty ``mutability.txt`` (read-only for the viewer), ``run_info.json``
    recording every parameter, the seed and the folder's name (``Subplot``).

    Raises
    ------
    AnalysisInputError
        Before anything is written, when the input cannot be analysed with these
        parameters (too few cells, no counts, no gene passing the filter, bad names);
        the message names the cause and what to change.
    """
    stages = _Stages(progress)
    stages.start("load", 0.0, "checking the input")
    _check_dataset_name(dataset_name)
    compact = counts.shape[0] >= params.sparse_threshold
    matrix = _preprocess.as_counts_csr(
        counts, dtype=np.float32 if compact else np.float64, own_data=compact and not consume_counts
    )
    if consume_counts and sp.issparse(counts) and counts.format == "csr":
        _release(counts)
    n_rows, n_genes = matrix.shape
    names = _check_gene_names(gene_names, n_genes)
    if n_rows == 0 or n_genes == 0:
        raise AnalysisInputError(
            f"the matrix has {n_rows} cells and {n_genes} genes; SPRING needs both",
            field="counts",
        )
    if cell_metadata is not None and len(cell_metadata) != n_rows:
        raise AnalysisInputError(
            f"{len(cell_metadata)} metadata rows for {n_rows} cells", field="cell_metadata"
        )

    stages.start("normalise", 0.03, "filtering and normalising cells")
    totals = _preprocess.total_counts(matrix)
    kept = _preprocess.filter_cells(totals, min_counts=params.cell_min_counts)
    if kept.size == 0:
        raise AnalysisInputError(
            "no cell passes the cell filter (all cells have zero counts or fewer than "
            f"cell_min_counts={number_text(params.cell_min_counts)}); lower cell_min_counts",
            field="cell_min_counts",
        )
    if params.subsample is not None and params.subsample < kept.size:
        kept = kept[subsample_cells(kept.size, params.subsample, seed=params.seed)]
    n_cells = int(kept.size)
    params.for_cells(n_cells)  # enough cells for the kNN graph
    mito = _preprocess.mito_gene_mask(names)
    mito_frac = (
        _preprocess.mito_fraction(matrix, mito, totals=totals)[kept] if mito.any() else None
    )
    target = float(np.mean(totals[kept]))
    scale = np.zeros(n_rows)
    np.divide(target, totals, out=scale, where=totals > 0)
    # rows of empty cells stay empty; a compact matrix's values are ours to overwrite
    if compact:
        main = _preprocess.scale_rows_inplace(matrix, scale)
    else:
        main = _preprocess.scale_rows(matrix, scale)
    del matrix
    whole = n_cells == n_rows
    # The per-cell file needs the rows; everything else reads columns, so the row form is
    # dropped once that file is written and the columns are built (with consume_counts, a
    # large matrix is then held twice only during the conversion). Should the gene filter
    # reject the input, that file is removed again: a failed analysis leaves nothing.
    out_dir = Path(out_dir)
    created = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        spring_folder.write_main_rows(out_dir, main)
        main_csc = main.tocsc()
        del main
        sub = main_csc if whole else sp.csc_matrix(main_csc[kept])
        stages.start("genes", 0.08, "selecting variable genes")
        gene_filter, excluded = _select_genes(sub, names, params)
    except BaseException:
        spring_folder.remove_main_rows(out_dir)
        if created:
            out_dir.rmdir()
        raise
    sparse_path = n_cells >= params.sparse_threshold

    # The column files (the expression store, the per-gene HDF5 file, ...) are written by
    # a background thread while the rest runs: file writes overlap the nogil numba and
    # BLAS kernels.
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spring-writer")
    stop_writing = threading.Event()
    main_written = pool.submit(
        spring_folder.write_main_columns,
        out_dir,
        csc=main_csc,
        gene_names=names,
        total_counts=totals,
        stop=stop_writing,
    )
    try:
        stages.start("pca", 0.12, "computing principal components")
        epca = zscore_pca(
            sub, gene_filter, n_pcs=params.n_prin_comps, seed=params.seed, sparse=sparse_path
        )

        stages.start("knn", 0.18, "building the kNN graph")
        neighbors = knn_indices(epca, k=params.n_neighbors, exact=not sparse_path, seed=params.seed)
        edges = knn_edges(neighbors)

        stages.start("layout", 0.22, "ForceAtlas2 layout")
        raw = forceatlas2(
            edges,
            n_cells,
            n_iter=params.n_force_iter,
            seed=params.seed,
            scaling_ratio=1.0,
            gravity=0.05,
            barnes_hut_theta=2.0,
            edge_weight_influence=1.0,
            jitter_tolerance=1.0,
            progress=scaled(progress, 0.22, 0.7),
        )
        coordinates = postprocess_layout(raw)

        stages.start("clusters", 0.7, "clustering the kNN graph")
        clusters = {
            "Leiden cluster": leiden_clusters(
                edges, n_cells, resolution=params.leiden_resolution, seed=params.seed
            ),
            "Louvain cluster": louvain_clusters(edges, n_cells, seed=params.seed),
        }

        stages.start("color_stats", 0.75, "computing colour statistics")
        gene_stats = _colors.gene_color_stats(sub)
        metadata = (
            None if cell_metadata is None else cell_metadata.iloc[kept].reset_index(drop=True)
        )
        tracks = _colors.continuous_tracks(
            n_cells, totals=totals[kept], mito_fraction=mito_frac, metadata=metadata
        )
        stats = _colors.color_stats(names, gene_stats, tracks)
        categorical = _colors.categorical_tracks(n_cells, clusters=clusters, metadata=metadata)
        too_many = {} if metadata is None else _colors.label_columns(metadata, n_cells)[1]
        for column, levels in too_many.items():
            log.info(
                "column %r has %d labels for %d cells: kept as per-cell metadata, "
                "not a colour track (at most %d)",
                column, levels, n_cells, _colors.max_track_levels(n_cells),
            )

        stages.start("write", 0.8, "writing the SPRING files")
        run_info = {
            "Date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"),
            "Nodes": n_cells,
            "Filtered_Genes": int(gene_filter.size),
            "Gene_Var_Pctl": params.gene_var_pctl,
            "Min_Cells": params.gene_min_cells,
            "Min_Counts": params.gene_min_counts,
            "Num_Neighbors": params.n_neighbors,
            "Num_PCs": int(epca.shape[1]),
            "Num_Force_Iter": params.n_force_iter,
            "Seed": params.seed,
            "Parameters": params.to_dict(),
            "Excluded_Genes": [names[i] for i in excluded],
            "Sparse_Path": bool(sparse_path),
            "Columns_Without_Track": too_many,
            "Subplot": dataset_name,
        }
        spring_folder.write_subplot(
            out_dir / dataset_name,
            gene_names=names,
            cell_filter=kept,
            coordinates=coordinates,
            edges=edges,
            epca=epca,
            gene_filter=gene_filter,
            total_counts=totals[kept],
            louvain=clusters["Louvain cluster"],
            categorical=categorical,
            tracks=tracks,
            stats=stats,
            run_info=run_info,
        )
        main_written.result()  # re-raises an error of the background writes
    except BaseException:
        stop_writing.set()
        raise
    finally:
        main_written.cancel()
        pool.shutdown(wait=True)  # never leave a thread writing into a folder being removed
    stages.stop()
    progress(1.0, "SPRING finished")
    log.info("SPRING finished: %s", ", ".join(f"{k} {v:.2f}s" for k, v in stages.timings.items()))
    return SpringResult(
        cell_filter=kept,
        gene_filter=gene_filter,
        excluded_genes=excluded,
        epca=epca,
        edges=edges,
        coordinates=coordinates,
        clusters=clusters,
        total_counts=totals[kept],
        params=params,
        timings=dict(stages.timings),
    )
