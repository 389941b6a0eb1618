"""Community detection on the kNN graph (spec §7): Leiden and Louvain labels."""

from __future__ import annotations

import random

import igraph
import leidenalg
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


def leiden_clusters(
    edges: np.ndarray, n_nodes: int, *, resolution: float = 1.0, seed: int = 0
) -> np.ndarray:
    """Leiden communities (modularity, leidenalg) of an undirected graph.

    Parameters
    ----------
    edges
        ``(n_edges, 2)`` node pairs.
    n_nodes
        Number of nodes (isolated nodes get their own community).
    resolution
        Resolution parameter of the RB-configuration (modularity) quality function.
    seed
        Random seed of leidenalg.

    Returns
    -------
    numpy.ndarray
        int64 label per node, 0 for the largest community.
    """
    graph = _graph(edges, n_nodes)
    partition = leidenalg.find_partition(
        graph,
        leidenalg.RBConfigurationVertexPartition,
        resolution_parameter=resolution,
        n_iterations=2,
        seed=seed,
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
    igraph.set_random_number_generator(random.Random(seed))
    try:
        membership = graph.community_multilevel().membership
    finally:
        igraph.set_random_number_generator(random)
    return _relabel_by_size(np.asarray(membership))
