"""k-nearest-neighbour graph in PCA space (spec §5)."""

from __future__ import annotations

import logging

import numba
import numpy as np

from bioblocks.errors import AnalysisInputError

log = logging.getLogger(__name__)

#: Distance entries per block of the exact search (bounds its memory to ~160 MB).
_BLOCK_ENTRIES = 20_000_000


@numba.njit(parallel=True, cache=True)
def _smallest_k(
    dots: np.ndarray, sq: np.ndarray, k: int, offset: int, out: np.ndarray, values: np.ndarray
) -> None:  # pragma: no cover - numba
    """Per row ``r`` of ``dots`` (query · point products), the ``k`` columns ``c`` of smallest
    ``-2 * dots[r, c] + sq[c]`` in ascending order (ties: the lower column first), skipping
    column ``r + offset`` (the point itself); their values go to ``values``."""
    n_rows, n_cols = dots.shape
    for r in numba.prange(n_rows):
        best = np.full(k, np.inf)
        idx = np.full(k, -1, dtype=np.int64)
        row = dots[r]
        me = r + offset
        for c in range(n_cols):
            v = -2.0 * row[c] + sq[c]
            if v < best[k - 1] and c != me:
                p = k - 1
                while p > 0 and best[p - 1] > v:  # strict: an equal value stays in front
                    best[p] = best[p - 1]
                    idx[p] = idx[p - 1]
                    p -= 1
                best[p] = v
                idx[p] = c
        out[r] = idx
        values[r] = best


def exact_knn(points: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact Euclidean kNN by blocked BLAS products, excluding each point itself.

    Returns
    -------
    (indices, distances)
        ``(n, k)`` int64 neighbour indices, nearest first (ties: lower index first), and
        their float64 Euclidean distances.
    """
    n = points.shape[0]
    x = np.ascontiguousarray(points, dtype=np.float64)
    sq = np.einsum("ij,ij->i", x, x)
    out = np.empty((n, k), dtype=np.int64)
    values = np.empty((n, k))
    block = max(1, min(4096, _BLOCK_ENTRIES // n))
    for start in range(0, n, block):
        stop = min(start + block, n)
        # |a - b|^2 without the query's own |a|^2, constant along the row: same ranking
        _smallest_k(x[start:stop] @ x.T, sq, k, start, out[start:stop], values[start:stop])
    values += sq[:, None]
    return out, np.sqrt(np.clip(values, 0, None))


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
    return exact_knn(points, k)[0] if exact else _approximate_knn(points, k, seed)


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
