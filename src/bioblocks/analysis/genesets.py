"""Gene-set scores: one value per cell, the mean z-score of the set's genes.

The z-score is the SPRING viewer's (its enrichment script, spec
``spring-viewer-contract.md`` §2.2, :func:`bioblocks.analysis.spring_folder.gene_zscores`):
``(x - mean_g) / (std_g + 0.02)`` with ``x`` the cell's normalised expression of gene
``g`` and ``mean_g``, ``std_g`` the gene's entry in the subplot's ``color_stats.json``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bioblocks.analysis.spring_folder import (
    gene_values,
    read_cell_filter,
    read_color_stats,
    read_genes,
)
from bioblocks.errors import InputError

log = logging.getLogger(__name__)

#: Added to a gene's standard deviation before dividing (the viewer's constant).
STD_OFFSET = 0.02


@dataclass(frozen=True)
class GenesetScore:
    """The score of each subplot cell (float64), the genes used and those not found."""

    scores: np.ndarray
    genes: list[str]
    unknown: list[str]


def zscore_mean(values: np.ndarray, means: np.ndarray, stds: np.ndarray) -> np.ndarray:
    """Return the mean over genes (columns of ``values``, cells × genes) of
    ``(values - means) / (stds + STD_OFFSET)``: one score per cell."""
    z = (np.asarray(values, dtype=np.float64) - means) / (stds + STD_OFFSET)
    return z.mean(axis=1)


def geneset_score(folder: Path, subplot: Path, genes: Sequence[str]) -> GenesetScore:
    """Score every cell of a SPRING subplot by the gene set ``genes``.

    Parameters
    ----------
    folder, subplot
        The analysis folder (``genes.txt``, ``counts_norm_sparse_genes.hdf5``) and its
        subplot folder (``color_stats.json``, ``cell_filter.npy``).
    genes
        Gene names as in ``genes.txt`` (exact; repeats counted once).

    Returns
    -------
    GenesetScore
        ``scores``: per subplot cell, in the order of its coordinates, the mean z-score of
        the known genes; ``unknown``: the names not in the analysis.

    Raises
    ------
    InputError
        (field ``genes``) when no gene of the set is in the analysis.
    """
    wanted = list(dict.fromkeys(genes))
    names = set(read_genes(folder))
    stats = read_color_stats(subplot)
    known = [g for g in wanted if g in names and g in stats]
    unknown = [g for g in wanted if g not in known]
    if not known:
        raise InputError(
            "none of the genes is in this analysis: " + ", ".join(unknown[:20])
            + (" ..." if len(unknown) > 20 else "") + "; give names as in its genes.txt",
            field="genes",
        )
    cells = read_cell_filter(subplot)
    values = np.column_stack([gene_values(folder, g, cells) for g in known])
    means = np.array([stats[g][0] for g in known], dtype=np.float64)
    stds = np.array([stats[g][1] for g in known], dtype=np.float64)
    log.info("gene-set score: %d genes (%d unknown) over %d cells", len(known), len(unknown),
             cells.size)
    return GenesetScore(zscore_mean(values, means, stds), known, unknown)
