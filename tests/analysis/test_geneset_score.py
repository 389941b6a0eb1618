"""Gene-set scores on the SPRING analysis of the HPC data, against numpy on the analysis's
own normalised matrix (read through the expression store, not the HDF5 files)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bioblocks.analysis import ExpressionStore
from bioblocks.analysis.genesets import STD_OFFSET, geneset_score, zscore_mean
from bioblocks.errors import InputError


def test_geneset_score_is_the_mean_viewer_zscore(hpc_spring) -> None:
    subplot = hpc_spring.folder / "HPC"
    store = ExpressionStore.open(hpc_spring.folder)
    genes = store.genes()
    cells = np.load(subplot / "cell_filter.npy")
    stats = json.loads((subplot / "color_stats.json").read_text())
    matrix = store.matrix()[cells].tocsc()
    chosen = [genes[i] for i in np.argsort(-np.asarray(matrix.sum(0)).ravel())[:5]]
    result = geneset_score(hpc_spring.folder, subplot, [*chosen, "NotAGene", chosen[0]])
    assert result.genes == chosen and result.unknown == ["NotAGene"]
    cols = [genes.index(g) for g in chosen]
    x = matrix[:, cols].toarray().astype(np.float64)
    mean = np.array([stats[g][0] for g in chosen])
    std = np.array([stats[g][1] for g in chosen])
    want = ((x - mean) / (std + 0.02)).mean(axis=1)
    assert result.scores.shape == (cells.size,)
    np.testing.assert_allclose(result.scores, want, rtol=1e-6, atol=1e-6)
    # the stats are the subplot's: the scores of each gene centre on zero
    np.testing.assert_allclose(x.mean(0), mean, rtol=1e-3, atol=1e-3)


def test_zscore_mean_kernel() -> None:
    values = np.array([[1.0, 4.0], [3.0, 0.0]])
    got = zscore_mean(values, np.array([2.0, 2.0]), np.array([1.0, 2.0]))
    want = [((1 - 2) / (1 + STD_OFFSET) + (4 - 2) / (2 + STD_OFFSET)) / 2,
            ((3 - 2) / (1 + STD_OFFSET) + (0 - 2) / (2 + STD_OFFSET)) / 2]
    np.testing.assert_allclose(got, want)


def test_no_known_gene_is_an_input_error_naming_genes(hpc_spring) -> None:
    with pytest.raises(InputError) as caught:
        geneset_score(hpc_spring.folder, hpc_spring.folder / "HPC", ["Nope", "Nada"])
    assert caught.value.field == "genes" and "Nope, Nada" in caught.value.message
