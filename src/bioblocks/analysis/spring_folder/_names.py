"""The names of an analysis folder's files (spec §10 and §11) and of its subplot folder.

The subplot folder is named by :func:`subplot_name` (the dataset name, as the old portal
builds its URLs ``…/analyses/<aid>/<dataset name>/``), the name is recorded in the
analysis's ``parameters["subplot"]``, and every reader finds the folder through
:func:`subplot_dir`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

# ---- the subplot folder (what the SPRING viewer reads) ------------------------------------
COORDINATES = "coordinates.txt"
EDGES = "edges.csv"
GRAPH = "graph_data.json"
CATEGORICAL = "categorical_coloring_data.json"
COLOR_TRACKS = "color_data_gene_sets.csv"
COLOR_STATS = "color_stats.json"
PCA = "pca.csv"
GENES = "genes.txt"
CELL_FILTER = "cell_filter.npy"
CELL_FILTER_TEXT = "cell_filter.txt"
LOUVAIN = "louvain_clusters.npy"
INTERMEDIATES = "intermediates.npz"
RUN_INFO = "run_info.json"
#: Written empty in every subplot: the SPRING viewer is read-only when this file exists
#: (a 404 would make it offer clustering and saving, whose endpoints this server lacks).
MUTABILITY_FILE = "mutability.txt"

# ---- the analysis folder: the main (normalised) matrix, and t-SNE/UMAP results ------------
COUNTS_NORM = "counts_norm.npz"
TOTAL_COUNTS = "total_counts.txt"
GENES_HDF5 = "counts_norm_sparse_genes.hdf5"
CELLS_HDF5 = "counts_norm_sparse_cells.hdf5"
PREVIEW = "preview.png"
TSNE_OUTPUT = "tsne_output.csv"
TSNE_MATRIX = "tsne_matrix.csv"
UMAP_OUTPUT = "umap_output.csv"
#: Beside a t-SNE/UMAP result: the id (barcode) of the cell of each of its rows, one per line.
CELLS = "cells.txt"

#: The files offered for download, by process type: (subplot files, analysis-folder files).
DOWNLOADS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "SPRING": (
        (COORDINATES, EDGES, CATEGORICAL, COLOR_TRACKS, COLOR_STATS, PCA, CELL_FILTER_TEXT,
         RUN_INFO, GRAPH),
        (GENES, COUNTS_NORM, TOTAL_COUNTS, PREVIEW),
    ),
    "TSNE": ((), (TSNE_OUTPUT, TSNE_MATRIX, CELLS, PREVIEW)),
    "UMAP": ((), (UMAP_OUTPUT, CELLS, PREVIEW)),
}

#: The file holding the 2-D layout, by process type.
LAYOUTS = {"SPRING": COORDINATES, "TSNE": TSNE_OUTPUT, "UMAP": UMAP_OUTPUT}

#: Key of an analysis's ``parameters`` that records its subplot folder's name.
SUBPLOT_PARAMETER = "subplot"

#: Most characters (and UTF-8 bytes) of a subplot folder name; file systems allow 255 bytes.
_MAX_CHARS = 200
_MAX_BYTES = 240

# Characters that cannot stand in one path segment: slashes and control characters.
_UNSAFE = re.compile(r"[/\\\x00-\x1f\x7f]+")


def subplot_name(dataset_name: str) -> str:
    """Return the subplot folder name of a SPRING analysis of the dataset ``dataset_name``.

    Spec §10: the folder is named after the dataset, exactly (spaces and all), so the old
    portal's ``…/analyses/<aid>/<dataset name>/`` URLs find it. What a single path segment
    cannot hold is replaced: each run of slashes, backslashes and control characters becomes
    ``_``; surrounding spaces are stripped; the name is cut to 200 characters and 240 UTF-8
    bytes; ``""``, ``"."`` and ``".."`` become ``"analysis"``. Such names differ from the
    dataset name, so only clients that read ``parameters["subplot"]`` find them.
    """
    cleaned = _UNSAFE.sub("_", str(dataset_name)).strip()[:_MAX_CHARS]
    while len(cleaned.encode("utf-8")) > _MAX_BYTES:
        cleaned = cleaned[:-1]
    cleaned = cleaned.strip()
    return cleaned if cleaned not in ("", ".", "..") else "analysis"


def subplot_dir(
    analysis_folder: Path, parameters: Mapping[str, object] | None, dataset_name: str
) -> Path:
    """Return the subplot folder of the SPRING analysis stored in ``analysis_folder``.

    The name is the one recorded in ``parameters["subplot"]``; analyses that record none
    (made by hand, or before the name was recorded) use ``subplot_name(dataset_name)``, as
    spec §10 says. A recorded name that is not a safe folder name (a document edited to
    ``"../x"``) is ignored the same way, so the result always lies inside
    ``analysis_folder``. The folder may not exist.
    """
    recorded = (parameters or {}).get(SUBPLOT_PARAMETER)
    if isinstance(recorded, str) and recorded and subplot_name(recorded) == recorded:
        return Path(analysis_folder) / recorded
    return Path(analysis_folder) / subplot_name(dataset_name)
