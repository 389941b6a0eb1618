"""An analysis folder as differential expression sees it: the normalised matrix of the
subplot's cells in coordinate order, ranked once, with its genes and categorical tracks.

Cell ``i`` is the ``i``-th row of ``coordinates.txt`` (and of the t-SNE/UMAP outputs made
from the analysis); it is main-matrix row ``cell_filter.npy[i]`` of the expression store.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bioblocks.analysis._expression import ExpressionStore
from bioblocks.analysis.diffexp import RankedMatrix, rank_matrix
from bioblocks.analysis.spring_folder import read_categorical, read_cell_filter
from bioblocks.errors import ConflictError


@dataclass(frozen=True)
class ExploreMatrix:
    """What :func:`open_explore_matrix` read: ``ranked`` has one row per subplot cell."""

    ranked: RankedMatrix
    genes: list[str]
    tracks: dict[str, np.ndarray]

    @property
    def n_cells(self) -> int:
        """Cells of the analysis (rows of its coordinates)."""
        return self.ranked.n_cells


def subplot_cells(subplot: Path) -> int:
    """Return the number of cells of the subplot (reads ``cell_filter.npy`` only)."""
    return int(read_cell_filter(subplot).size)


def read_tracks(subplot: Path) -> dict[str, np.ndarray]:
    """Return the categorical tracks of ``categorical_coloring_data.json``: name → one label
    (str) per subplot cell.

    Raises
    ------
    ConflictError
        When a track's ``label_list`` does not have one label per cell.
    """
    n = subplot_cells(subplot)
    tracks = {}
    for name, track in read_categorical(subplot).items():
        labels = np.asarray([str(v) for v in track.get("label_list", [])])
        if labels.size != n:
            raise ConflictError(
                f"categorical track {name!r} has {labels.size} labels for {n} cells"
            )
        tracks[str(name)] = labels
    return tracks


def open_explore_matrix(folder: Path, subplot: Path) -> ExploreMatrix:
    """Read the expression store of ``folder`` restricted to the cells of ``subplot`` (in
    coordinate order) and rank it (:func:`~bioblocks.analysis.diffexp.rank_matrix`).

    Raises
    ------
    NotFoundError
        When the folder has no expression store or the subplot no ``cell_filter.npy``.
    ConflictError
        When ``cell_filter.npy`` names rows the store does not have.
    """
    store = ExpressionStore.open(folder)
    cells = read_cell_filter(subplot)
    if cells.size and cells.max() >= store.n_cells:
        raise ConflictError(
            f"cell_filter.npy names row {int(cells.max())} of a {store.n_cells}-cell store"
        )
    matrix = store.matrix()
    if not np.array_equal(cells, np.arange(store.n_cells)):
        matrix = matrix[cells]
    return ExploreMatrix(rank_matrix(matrix), store.genes(), read_tracks(subplot))


__all__ = ["ExploreMatrix", "open_explore_matrix", "read_tracks", "subplot_cells"]
