"""k-nearest-neighbour graph in PCA space (spec §5)."""

from __future__ import annotations

import logging

import numpy as np

from bioblocks.errors import AnalysisInputError

log = logging.getLogger(__name__)

#: Distance entries per block of the exact search (bounds its memory to ~160 MB).
_BLOCK_ENTRIES = 20_000_000


def _exact_knn(points: np.ndarray, k: int) -> np.ndarray:
    """Exact Euclidean kNN by blocked BLAS distances, excluding each point itself."""
    n = points.shape[0]
    x = np.ascontiguousarray(points, dtype=np.float64)
    sq = np.einsum("ij,ij->i", x, x)
    out = np.empty((n, k), dtype=np.int64)
    block = max(1, min(4096, _BLOCK_ENTRIES // n))
    for start in range(0, n, block):
        stop = min(start + block, n)
        # |a - b|^2 without the query's own |a|^2, constant along the row: same ranking
        d = x[start:stop] @ x.T
        d *= -2.0
        d += sq
        rows = np.arange(stop - start)
        d[rows, rows + start] = np.inf  # never a neighbour of itself
        part = np.argpartition(d, k - 1, axis=1)[:, :k]
        order = np.argsort(np.take_along_axis(d, part, axis=1), axis=1, kind="stable")
        out[start:stop] = np.take_along_axis(part, order, axis=1)
    return out


def _approximate_knn(points: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Approximate kNN with pynndescent (seeded), excluding each point itself."""
    from pynndescent import NNDescent

    index = NNDescent(
        np.asarray(points, dtype=np.float32),
        n_neighbors=max(k + 1, 15),  # a wider search graph gives more accurate first k
        metric="euclidean",
        random_state=seed,
        n_jobs=1,
        low_memory=True,
    )
    ind, _ = index.neighbor_graph
    # move the point itself (normally column 0) behind its neighbours, keep the first k
    is_self = ind == np.arange(ind.shape[0])[:, None]
    order = np.argsort(is_self, axis=1, kind="stable")
    return np.take_along_axis(ind, order, axis=1)[:, :k].astype(np.int64)


def knn_indices(points: np.ndarray, *, k: int, exact: bool = True, seed: int = 0) -> np.ndarray:
    """Return the ``k`` nearest neighbours of every point, excluding the point itself.

    Parameters
    ----------
    points
        ``(n, d)`` coordinates (PCA space).
    k
        Neighbours per point; ``1 <= k < n``.
    exact
        Exact brute-force search (blocked BLAS) when True, else pynndescent.
    seed
        Seed of the approximate search.

    Returns
    -------
    numpy.ndarray
        ``(n, k)`` int64 neighbour indices, nearest first.
    """
    n = points.shape[0]
    if k < 1 or k >= n:
        raise AnalysisInputError(
            f"{n} cells cannot have {k} neighbours each; use n_neighbors between 1 and {n - 1}",
            field="n_neighbors",
        )
    return _exact_knn(points, k) if exact else _approximate_knn(points, k, seed)


def knn_edges(neighbors: np.ndarray) -> np.ndarray:
    """Return the kNN graph's undirected edges: unique ``(min(i, j), max(i, j))`` pairs.

    Returns
    -------
    numpy.ndarray
        ``(n_edges, 2)`` int64, sorted by ``i`` then ``j``.
    """
    n, k = neighbors.shape
    i = np.repeat(np.arange(n, dtype=np.int64), k)
    j = neighbors.ravel().astype(np.int64)
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    keys = np.unique(lo * n + hi)
    return np.stack([keys // n, keys % n], axis=1)
