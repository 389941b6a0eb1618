"""ForceAtlas2 force-directed layout of a graph, as SPRING draws its kNN graph.

:func:`forceatlas2` reproduces the ``fa2`` package (``ForceAtlas2`` with
``outboundAttractionDistribution=False, linLogMode=False, adjustSizes=False,
strongGravityMode=False, barnesHutOptimize=True``), the implementation SPRING
uses, after Jacomy et al. (2014), *ForceAtlas2, a continuous graph layout
algorithm*, PLoS ONE 9(6): e98679:

* node mass ``deg + 1``; repulsion ``scaling_ratio * (deg_a + 1)(deg_b + 1) / d``;
* linear attraction ``w^edge_weight_influence * d`` along every edge;
* gravity ``(deg + 1) * gravity`` towards the origin;
* adaptive global speed from swinging and effective traction, limited by the
  jitter tolerance, and a per-node speed damped by the node's own swinging;
* Barnes-Hut repulsion with ``barnes_hut_theta`` and ``fa2``'s opening test
  (O(n log n) per iteration, compiled with numba, parallel over nodes); the
  tree splits regions at the centre of their bounding box rather than at the
  centre of mass, which keeps the cost O(n log n) on clustered layouts (see
  :mod:`bioblocks.analysis._fa2_kernels`).

One behaviour of ``fa2`` (and Gephi) is kept on purpose: when the Barnes-Hut
traversal reaches a single node, the pair repels both ways, so close pairs are
counted from both sides; the exact path (``barnes_hut_theta=0``) counts every
pair once, as ``fa2`` does without Barnes-Hut, and reproduces ``fa2``
step for step (tests compare it with a transcription of ``fa2``).
"""

from __future__ import annotations

import logging
import time

import numba
import numpy as np
import scipy.sparse as sp

from bioblocks.analysis import _fa2_kernels as kernels
from bioblocks.errors import AnalysisInputError
from bioblocks.progress import Progress, null_progress

__all__ = ["forceatlas2"]

log = logging.getLogger(__name__)

#: From this many nodes the repulsion, the quadtree build and the attraction run on
#: every numba thread (the attraction summed node by node). Below, one
#: thread: an iteration takes a few milliseconds, and on a busy machine the
#: threads' synchronisation costs more than it saves (measured on 2 shared
#: cores: 4,790 nodes 5 ms per iteration on one thread, 25 ms on two).
PARALLEL_MIN_NODES = 50_000

#: Largest graph the exact O(n^2) repulsion (``barnes_hut_theta=0``) accepts.
MAX_EXACT_NODES = 50_000


def _check_edges(
    edges: np.ndarray, n_nodes: int, weights: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(src, dst, weight)`` of the distinct undirected edges, self-loops dropped."""
    arr = np.asarray(edges)
    if arr.size == 0:
        arr = arr.reshape(0, 2)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise AnalysisInputError(
            f"must be an array of shape (n_edges, 2) of node indices, got shape {arr.shape}",
            field="edges",
        )
    if arr.shape[0] and not np.issubdtype(arr.dtype, np.integer):
        if not np.issubdtype(arr.dtype, np.floating) or not np.all(np.isfinite(arr)) or np.any(
            arr != np.round(arr)
        ):
            raise AnalysisInputError(
                f"node indices must be integers, got dtype {arr.dtype}", field="edges"
            )
    arr = arr.astype(np.int64, copy=False)
    if arr.shape[0] and (arr.min() < 0 or arr.max() >= n_nodes):
        bad = int(arr.min()) if arr.min() < 0 else int(arr.max())
        raise AnalysisInputError(
            f"node index {bad} is outside 0..{n_nodes - 1} (n_nodes={n_nodes})", field="edges"
        )
    w = None
    if weights is not None:
        w = np.asarray(weights, dtype=np.float64).reshape(-1)
        if w.shape[0] != arr.shape[0]:
            raise AnalysisInputError(
                f"has {w.shape[0]} values for {arr.shape[0]} edges; give one weight per edge",
                field="weights",
            )
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise AnalysisInputError("must be finite and non-negative", field="weights")
    lo = np.minimum(arr[:, 0], arr[:, 1])
    hi = np.maximum(arr[:, 0], arr[:, 1])
    keep = lo != hi
    key = lo[keep] * np.int64(n_nodes) + hi[keep]
    key, first = np.unique(key, return_index=True)
    src = key // n_nodes
    dst = key % n_nodes
    weight = np.ones(key.shape[0]) if w is None else w[keep][first]
    return src, dst, weight


def forceatlas2(
    edges: np.ndarray,
    n_nodes: int,
    *,
    n_iter: int = 500,
    seed: int = 0,
    scaling_ratio: float = 1.0,
    gravity: float = 0.05,
    barnes_hut_theta: float = 2.0,
    edge_weight_influence: float = 1.0,
    jitter_tolerance: float = 1.0,
    weights: np.ndarray | None = None,
    progress: Progress = null_progress,
) -> np.ndarray:
    """Lay out an undirected graph with ForceAtlas2 from a seeded random start.

    Parameters
    ----------
    edges
        ``(n_edges, 2)`` integer node indices; direction, duplicates and
        self-loops are ignored (a self-loop exerts no force).
    n_nodes
        Number of nodes (isolated nodes are allowed; they feel repulsion and
        gravity only).
    n_iter
        Iterations (SPRING's ``n_force_iter``); 0 returns the random start.
    seed
        Seed of the uniform ``[0, 1)^2`` random start.
    scaling_ratio, gravity, barnes_hut_theta, edge_weight_influence, jitter_tolerance
        ForceAtlas2 settings (defaults are SPRING's). ``barnes_hut_theta=0``
        uses the exact O(n^2) repulsion (at most 50,000 nodes).
    weights
        Optional non-negative edge weights (default 1 for every edge); for a
        duplicated pair the first weight is used.
    progress
        Called with ``(fraction, message)`` every ``n_iter // 50`` iterations and
        at least once a second; may raise
        :class:`~bioblocks.errors.Cancelled`.

    Returns
    -------
    numpy.ndarray
        ``(n_nodes, 2)`` float64 raw positions (before SPRING's post-processing).

    Raises
    ------
    AnalysisInputError
        For a bad graph or setting; ``field`` names it.
    """
    if isinstance(n_nodes, bool) or not isinstance(n_nodes, int | np.integer) or n_nodes < 1:
        raise AnalysisInputError(
            f"must be a positive number of nodes, got {n_nodes!r}", field="n_nodes"
        )
    n_nodes = int(n_nodes)
    if isinstance(n_iter, bool) or not isinstance(n_iter, int | np.integer) or n_iter < 0:
        raise AnalysisInputError(f"must be an integer >= 0, got {n_iter!r}", field="n_iter")
    for name, value, lowest, inclusive in (
        ("scaling_ratio", scaling_ratio, 0.0, False),
        ("gravity", gravity, 0.0, True),
        ("barnes_hut_theta", barnes_hut_theta, 0.0, True),
        ("jitter_tolerance", jitter_tolerance, 0.0, False),
    ):
        ok = np.isfinite(value) and (value >= lowest if inclusive else value > lowest)
        if not ok:
            sign = ">=" if inclusive else ">"
            raise AnalysisInputError(f"must be a number {sign} {lowest}, got {value!r}", field=name)
    if not np.isfinite(edge_weight_influence):
        raise AnalysisInputError(
            f"must be a finite number, got {edge_weight_influence!r}",
            field="edge_weight_influence",
        )
    if barnes_hut_theta == 0 and n_nodes > MAX_EXACT_NODES:
        raise AnalysisInputError(
            f"the exact repulsion (0) is O(n^2) and limited to {MAX_EXACT_NODES:,} nodes; "
            f"use Barnes-Hut (e.g. 2.0) for {n_nodes:,} nodes",
            field="barnes_hut_theta",
        )
    src, dst, weight = _check_edges(edges, n_nodes, weights)
    if edge_weight_influence == 0:
        weight = np.ones_like(weight)
    elif edge_weight_influence != 1:
        weight = weight**edge_weight_influence

    rng = np.random.default_rng(seed)
    start = rng.random((n_nodes, 2))
    x = np.ascontiguousarray(start[:, 0])
    y = np.ascontiguousarray(start[:, 1])
    if n_nodes == 1 or n_iter == 0:
        # A lone node feels only gravity; fa2 moves it straight towards the origin.
        if n_nodes == 1 and n_iter > 0:
            x[:] = 0.0
            y[:] = 0.0
        progress(1.0, "ForceAtlas2 done")
        return np.column_stack([x, y])

    degree = np.bincount(src, minlength=n_nodes) + np.bincount(dst, minlength=n_nodes)
    mass = degree.astype(np.float64) + 1.0
    fx = np.zeros(n_nodes)
    fy = np.zeros(n_nodes)
    old_fx = np.zeros(n_nodes)
    old_fy = np.zeros(n_nodes)
    barnes_hut = barnes_hut_theta > 0
    if barnes_hut:
        perm = np.arange(n_nodes, dtype=np.int64)
        work = np.empty((6, n_nodes))
        iscratch = np.empty((2, n_nodes), dtype=np.int64)
        rec = np.empty((4 * n_nodes, 4))
        meta = np.empty((4 * n_nodes, 2), dtype=np.int64)
        stack = np.empty((n_nodes, 3), dtype=np.int64)
        defer_at = n_nodes // kernels.SUBTREES if n_nodes >= PARALLEL_MIN_NODES else 0
        buf = np.empty((kernels.N_CHUNKS, n_nodes, 2))

    # From PARALLEL_MIN_NODES nodes the attraction is summed node by node on every thread.
    adjacency = None
    if n_nodes >= PARALLEL_MIN_NODES:
        both = sp.csr_matrix(
            (np.concatenate([weight, weight]), (np.concatenate([src, dst]),
                                                np.concatenate([dst, src]))),
            shape=(n_nodes, n_nodes),
        )
        adjacency = (both.indptr.astype(np.int64), both.indices.astype(np.int64), both.data)
    speed = 1.0
    speed_efficiency = 1.0
    every = max(1, n_iter // 50)
    theta = float(barnes_hut_theta)
    t0 = last_report = time.perf_counter()
    progress(0.0, f"ForceAtlas2: {n_nodes:,} nodes, {src.shape[0]:,} edges")
    threads = numba.get_num_threads()
    if n_nodes < PARALLEL_MIN_NODES:
        numba.set_num_threads(1)  # affects this thread's numba calls only
    try:
        for it in range(n_iter):
            fx, old_fx = old_fx, fx
            fy, old_fy = old_fy, fy
            fx[:] = 0.0
            fy[:] = 0.0
            if barnes_hut:
                n_regions = kernels.build_quadtree(
                    x, y, mass, perm, work, iscratch, rec, meta, stack, defer_at
                )
                kernels.barnes_hut_repulsion(
                    perm, n_regions, rec, meta, theta, float(scaling_ratio), fx, fy, buf
                )
            else:
                kernels.exact_repulsion(x, y, mass, float(scaling_ratio), fx, fy)
            if adjacency is None:
                kernels.gravity_and_attraction(
                    x, y, mass, float(gravity), src, dst, weight, fx, fy
                )
            else:
                kernels.gravity_and_attraction_by_node(
                    x, y, mass, float(gravity), *adjacency, fx, fy
                )
            speed, speed_efficiency = kernels.adjust_speed_and_move(
                x, y, mass, fx, fy, old_fx, old_fy, speed, speed_efficiency,
                float(jitter_tolerance),
            )
            now = time.perf_counter()
            if (it + 1) % every == 0 or it + 1 == n_iter or now - last_report > 1.0:
                progress((it + 1) / n_iter, f"ForceAtlas2: iteration {it + 1}/{n_iter}")
                last_report = now
    finally:
        numba.set_num_threads(threads)
    log.info(
        "ForceAtlas2: %d nodes, %d edges, %d iterations in %.2f s",
        n_nodes, src.shape[0], n_iter, time.perf_counter() - t0,
    )
    return np.column_stack([x, y])
