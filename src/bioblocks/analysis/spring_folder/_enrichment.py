"""The SPRING viewer's enrichment z-scores: the genes most enriched in a selection of cells."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from bioblocks.analysis.spring_folder._read import (
    _never,
    mean_expression,
    read_cell_filter,
    read_color_stats,
    read_genes,
)
from bioblocks.errors import ConflictError

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
