"""Writers of every file of an analysis folder, in the exact formats of spec §10 and §11.

The analysis folder holds the main (normalised) matrix for gene look-ups; its subplot
folder (:func:`~bioblocks.analysis.spring_folder.subplot_dir`) holds what the SPRING viewer
reads. Text files are ASCII with LF line endings.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from bioblocks.analysis._expression import ExpressionStore
from bioblocks.analysis.spring_folder import _names as N
from bioblocks.analysis.spring_folder._hdf5 import write_grouped_datasets
from bioblocks.errors import AnalysisInputError

#: Rows formatted per block when writing CSV files (bounds the text held in memory).
_BLOCK_ROWS = 100_000

# ---- small text helpers ------------------------------------------------------------------


def write_rows(path: Path, matrix: np.ndarray, fmt: str) -> None:
    """Write ``matrix`` comma separated, one row per line, each value with ``fmt``
    (``pca.csv``, ``tsne_matrix.csv``, ``tsne_output.csv``, ``umap_output.csv``)."""
    rows = np.atleast_2d(np.asarray(matrix, dtype=np.float64))
    line = ",".join([fmt] * rows.shape[1]) + "\n"
    with open(path, "w", encoding="ascii", newline="\n") as handle:
        for start in range(0, rows.shape[0], _BLOCK_ROWS):
            handle.write("".join(line % tuple(r) for r in rows[start : start + _BLOCK_ROWS].tolist()))


def _write_text(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)


def write_json(path: Path, obj: object) -> None:
    """Write ``obj`` as JSON, indent 4, keys sorted (``color_stats.json``,
    ``categorical_coloring_data.json``, ``run_info.json``)."""
    _write_text(path, json.dumps(obj, indent=4, sort_keys=True))


# ---- subplot files -----------------------------------------------------------------------


def write_coordinates(path: Path, coordinates: np.ndarray) -> None:
    """Write ``coordinates.txt``: ``%i,%.5f,%.5f`` per cell, no header."""
    xy = np.asarray(coordinates, dtype=np.float64)
    idx = np.arange(xy.shape[0])
    _write_text(
        path,
        "".join(
            f"{i},{x:.5f},{y:.5f}\n" for i, (x, y) in zip(idx.tolist(), xy.tolist(), strict=True)
        ),
    )


def write_edges(path: Path, edges: np.ndarray) -> None:
    """Write ``edges.csv``: ``i;j`` per edge, no header."""
    _write_text(path, "".join(f"{i};{j}\n" for i, j in np.asarray(edges).tolist()))


def write_graph(path: Path, n_nodes: int, edges: np.ndarray) -> None:
    """Write ``graph_data.json`` (nodes and links, indent 4), streamed for large graphs."""
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write('{\n    "nodes": [')
        for start in range(0, n_nodes, 100_000):
            stop = min(start + 100_000, n_nodes)
            handle.write(
                ",".join(
                    f'\n        {{\n            "name": {i},\n            "number": {i}\n        }}'
                    for i in range(start, stop)
                )
                + ("," if stop < n_nodes else "")
            )
        handle.write("\n    ],\n" if n_nodes else "],\n")
        handle.write('    "links": [')
        pairs = np.asarray(edges).tolist()
        for start in range(0, len(pairs), 100_000):
            chunk = pairs[start : start + 100_000]
            handle.write(
                ",".join(
                    f'\n        {{\n            "source": {i},\n            "target": {j},\n'
                    f'            "distance": 0\n        }}'
                    for i, j in chunk
                )
                + ("," if start + 100_000 < len(pairs) else "")
            )
        handle.write("\n    ]\n}" if pairs else "]\n}")


def write_color_tracks(path: Path, tracks: Mapping[str, np.ndarray]) -> None:
    """Write ``color_data_gene_sets.csv``: ``name,v1,…`` (``%.3f``) per track, sorted by
    name, lines joined by newlines with no trailing newline."""
    lines = []
    for name in sorted(tracks):
        values = np.asarray(tracks[name], dtype=np.float64).tolist()
        lines.append(name + "," + ",".join([f"{v:.3f}" for v in values]))
    _write_text(path, "\n".join(lines))


def write_genes(path: Path, gene_names: Sequence[str]) -> None:
    """Write ``genes.txt``: one gene name per line."""
    _write_text(path, "".join(f"{g}\n" for g in gene_names))


def write_cell_filter(folder: Path, cell_filter: np.ndarray) -> None:
    """Write ``cell_filter.npy`` (int64) and ``cell_filter.txt`` (``%i`` per line)."""
    cells = np.asarray(cell_filter, dtype=np.int64)
    np.save(folder / N.CELL_FILTER, cells)
    _write_text(folder / N.CELL_FILTER_TEXT, "".join(f"{i}\n" for i in cells.tolist()))


def write_cells(folder: Path, cells: Sequence[str]) -> None:
    """Write ``cells.txt`` into ``folder`` (a t-SNE/UMAP result): the id of the cell of each
    result row, one per line, UTF-8."""
    names = [str(c) for c in cells]
    bad = next((c for c in names if "\n" in c or "\r" in c), None)
    if bad is not None:
        raise AnalysisInputError(
            f"cell id {bad!r} holds a line break, and cells.txt holds one id per line; "
            "rename the cell in the dataset's matrix",
            field="cells",
        )
    _write_text(folder / N.CELLS, "".join(f"{c}\n" for c in names))


def write_embedding(
    folder: Path,
    process: str,
    coordinates: np.ndarray,
    *,
    run_info: Mapping[str, object],
    cells: Sequence[str] | None = None,
    matrix: np.ndarray | None = None,
    fmt: str = "%.6f",
) -> list[Path]:
    """Write a t-SNE or UMAP result into ``folder`` (created if missing); return the paths
    written, in this order.

    ``process`` ``"TSNE"`` writes ``tsne_output.csv`` (the ``(n_cells, 2)`` coordinates,
    each value with ``fmt``) and ``tsne_matrix.csv`` (``matrix``, its input, ``%.3f``),
    ``"UMAP"`` ``umap_output.csv``; then ``run_info.json`` and, when ``cells`` are given,
    ``cells.txt``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    tsne = process == "TSNE"
    files = [folder / (N.TSNE_OUTPUT if tsne else N.UMAP_OUTPUT)]
    write_rows(files[0], coordinates, fmt)
    if tsne:
        files.append(folder / N.TSNE_MATRIX)
        write_rows(files[-1], coordinates if matrix is None else matrix, "%.3f")
    files.append(folder / N.RUN_INFO)
    write_json(files[-1], dict(run_info))
    if cells is not None:
        write_cells(folder, cells)
        files.append(folder / N.CELLS)
    return files


def write_mutability(folder: Path) -> None:
    """Write an empty ``mutability.txt`` into the subplot ``folder``: read-only for the viewer."""
    _write_text(folder / N.MUTABILITY_FILE, "")


def write_subplot(
    folder: Path,
    *,
    gene_names: Sequence[str],
    cell_filter: np.ndarray,
    coordinates: np.ndarray,
    edges: np.ndarray,
    epca: np.ndarray,
    gene_filter: np.ndarray,
    total_counts: np.ndarray,
    louvain: np.ndarray,
    categorical: Mapping[str, Mapping[str, object]],
    tracks: Mapping[str, np.ndarray],
    stats: Mapping[str, Sequence[float]],
    run_info: Mapping[str, object],
) -> None:
    """Write every file of a SPRING subplot folder (spec §10) into ``folder`` (created),
    with an empty ``mutability.txt`` (the viewer then offers no editing)."""
    folder.mkdir(parents=True, exist_ok=True)
    write_mutability(folder)
    n = len(cell_filter)
    write_coordinates(folder / N.COORDINATES, coordinates)
    write_edges(folder / N.EDGES, edges)
    write_graph(folder / N.GRAPH, n, edges)
    write_json(folder / N.CATEGORICAL, categorical)
    write_color_tracks(folder / N.COLOR_TRACKS, tracks)
    write_json(folder / N.COLOR_STATS, {k: list(v) for k, v in stats.items()})
    write_rows(folder / N.PCA, epca, "%.3f")
    write_genes(folder / N.GENES, gene_names)
    write_cell_filter(folder, cell_filter)
    np.save(folder / N.LOUVAIN, np.asarray(louvain, dtype=np.int64))
    np.savez_compressed(
        folder / N.INTERMEDIATES,
        Epca=np.asarray(epca),
        gene_filter=np.asarray(gene_filter, dtype=np.int64),
        total_counts=np.asarray(total_counts, dtype=np.float64),
    )
    write_json(folder / N.RUN_INFO, dict(run_info))


# ---- main (analysis-level) files ---------------------------------------------------------


def _write_sparse_hdf5(
    path: Path, matrix: sp.csr_matrix | sp.csc_matrix, names: Sequence[str], index_group: str,
    stop: threading.Event | None,
) -> None:
    """Write one dataset per major-axis entry of ``matrix`` (indices sorted in place) in
    ``counts`` (float32 nonzero values) and in ``index_group`` (int32 minor indices,
    ascending); root attrs ``ncells``, ``ngenes``."""
    matrix.sort_indices()
    write_grouped_datasets(
        path,
        names=names,
        indptr=matrix.indptr,
        groups={
            "counts": matrix.data.astype(np.float32, copy=False),
            index_group: matrix.indices.astype(np.int32, copy=False),
        },
        attrs={"ncells": matrix.shape[0], "ngenes": matrix.shape[1]},
        stop=stop,
    )


def write_main_rows(
    folder: Path, norm: sp.csr_matrix, *, stop: threading.Event | None = None
) -> None:
    """Write the main matrix's per-cell file into ``folder``: ``counts_norm_sparse_cells.hdf5``,
    ``counts/<row>`` and ``gene_ix/<row>`` (the row's gene indices)."""
    rows = sp.csr_matrix(norm)
    _write_sparse_hdf5(folder / N.CELLS_HDF5, rows, [str(i) for i in range(rows.shape[0])],
                       "gene_ix", stop)


def remove_main_rows(folder: Path) -> None:
    """Remove what :func:`write_main_rows` wrote (after a failed analysis)."""
    (folder / N.CELLS_HDF5).unlink(missing_ok=True)


def write_main_columns(
    folder: Path,
    *,
    csc: sp.csc_matrix,
    gene_names: Sequence[str],
    total_counts: np.ndarray,
    stop: threading.Event | None = None,
) -> None:
    """Write the analysis-level files read gene by gene, from the main matrix in CSC form.

    Writes ``counts_norm.npz`` (cells × genes CSC, ``scipy.sparse.save_npz``), the
    :class:`~bioblocks.analysis.ExpressionStore` files, ``genes.txt``, ``total_counts.txt``
    (``%.18e`` per cell) and ``counts_norm_sparse_genes.hdf5`` (``counts/<gene>``,
    ``cell_ix/<gene>``: the gene's cell indices); setting ``stop`` (from another thread)
    aborts the HDF5 writing with ``Cancelled``. ``csc`` is not copied.
    """
    csc.sort_indices()
    sp.save_npz(folder / N.COUNTS_NORM, csc, compressed=False)
    ExpressionStore.write(folder, csc, gene_names)
    write_genes(folder / N.GENES, gene_names)
    _write_text(
        folder / N.TOTAL_COUNTS,
        "".join(f"{t:.18e}\n" for t in np.asarray(total_counts, dtype=np.float64).tolist()),
    )
    _write_sparse_hdf5(folder / N.GENES_HDF5, csc, [str(g) for g in gene_names], "cell_ix", stop)
