"""Fixtures of the analysis tests: small clustered count matrices."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp


def clustered_counts(
    *, n_per_cluster: int = 60, n_clusters: int = 3, n_genes: int = 300, seed: int = 0
) -> tuple[sp.csr_matrix, list[str]]:
    """Poisson counts of ``n_clusters`` groups; every group over-expresses its own genes.

    Gene 0 is a mitochondrial gene (``mt-Co1``); the rest are ``G1``, ``G2``, ….
    """
    rng = np.random.default_rng(seed)
    base = rng.gamma(0.3, 1.0, size=n_genes)
    rows = []
    for c in range(n_clusters):
        mean = base.copy()
        marker = slice(10 + 30 * c, 40 + 30 * c)
        mean[marker] *= 12
        rows.append(rng.poisson(mean, size=(n_per_cluster, n_genes)))
    counts = np.vstack(rows).astype(np.float64)
    counts[:, 0] = rng.poisson(2.0, size=counts.shape[0])
    genes = ["mt-Co1"] + [f"G{i}" for i in range(1, n_genes)]
    return sp.csr_matrix(counts), genes


@pytest.fixture(scope="session")
def make_counts():
    """Factory of small clustered Poisson matrices (see :func:`clustered_counts`)."""
    return clustered_counts
