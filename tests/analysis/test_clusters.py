from __future__ import annotations

import itertools

import numpy as np

from bioblocks.analysis._clusters import leiden_clusters, louvain_clusters


def _two_cliques() -> np.ndarray:
    a = list(itertools.combinations(range(6), 2))
    b = list(itertools.combinations(range(6, 10), 2))
    return np.array(a + b + [(0, 6)])


def test_two_cliques_give_two_clusters_numbered_by_size() -> None:
    edges = _two_cliques()
    for labels in (leiden_clusters(edges, 10, seed=1), louvain_clusters(edges, 10, seed=1)):
        np.testing.assert_array_equal(labels, [0] * 6 + [1] * 4)


def test_same_seed_same_labels() -> None:
    rng = np.random.default_rng(0)
    edges = rng.integers(0, 300, size=(900, 2))
    np.testing.assert_array_equal(
        leiden_clusters(edges, 300, seed=4), leiden_clusters(edges, 300, seed=4)
    )
    np.testing.assert_array_equal(
        louvain_clusters(edges, 300, seed=4), louvain_clusters(edges, 300, seed=4)
    )
