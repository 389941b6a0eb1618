from __future__ import annotations

import numpy as np
import pytest
from sklearn.neighbors import NearestNeighbors

from bioblocks.analysis._neighbors import knn_edges, knn_indices
from bioblocks.errors import AnalysisInputError


def test_exact_knn_matches_sklearn_and_excludes_self() -> None:
    points = np.random.default_rng(0).normal(size=(500, 8))
    got = knn_indices(points, k=5)
    want = NearestNeighbors(n_neighbors=5).fit(points).kneighbors(return_distance=False)
    np.testing.assert_array_equal(got, want)
    assert not np.any(got == np.arange(500)[:, None])


def test_edges_are_unique_sorted_pairs() -> None:
    neighbors = np.array([[1, 2], [0, 2], [0, 1], [2, 0]])
    edges = knn_edges(neighbors)
    np.testing.assert_array_equal(edges, [[0, 1], [0, 2], [0, 3], [1, 2], [2, 3]])


def test_too_few_points_for_k() -> None:
    with pytest.raises(AnalysisInputError, match="n_neighbors"):
        knn_indices(np.zeros((3, 2)), k=3)


def test_exact_knn_distances_and_ties() -> None:
    from bioblocks.analysis._neighbors import exact_knn

    rng = np.random.default_rng(1)
    points = rng.normal(size=(400, 6))
    points[10] = points[20]  # a duplicate: distance 0, each the other's first neighbour
    ind, dist = exact_knn(points, 7)
    want_dist, want_ind = NearestNeighbors(n_neighbors=7).fit(points).kneighbors()
    np.testing.assert_allclose(dist, want_dist, atol=1e-6)
    assert ind[10, 0] == 20 and ind[20, 0] == 10 and dist[10, 0] < 1e-6
    same = (ind == want_ind).all(axis=1)
    assert same.sum() >= 398  # only the duplicate's rows may order a tie differently
