"""ForceAtlas2: faithfulness to fa2, known behaviour on tiny graphs, Barnes-Hut vs exact."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.spatial import procrustes
from scipy.spatial.distance import cdist
from scipy.stats import spearmanr
from sklearn.neighbors import NearestNeighbors

from bioblocks.analysis import _fa2_kernels as kernels
from bioblocks.analysis.layout import MAX_EXACT_NODES, forceatlas2
from bioblocks.errors import AnalysisInputError, Cancelled
from tests.analysis._fa2_reference import reference_forceatlas2


def knn_edges(points: np.ndarray, k: int) -> np.ndarray:
    """Directed kNN edges (i, neighbour) of ``points``, self excluded."""
    _, idx = NearestNeighbors(n_neighbors=k + 1).fit(points).kneighbors(points)
    return np.column_stack([np.repeat(np.arange(len(points)), k), idx[:, 1:].ravel()])


def neighbour_preservation(a: np.ndarray, b: np.ndarray, k: int = 10) -> float:
    """Mean fraction of each point's k nearest neighbours in ``a`` kept in ``b``."""
    ia = NearestNeighbors(n_neighbors=k + 1).fit(a).kneighbors(a)[1][:, 1:]
    ib = NearestNeighbors(n_neighbors=k + 1).fit(b).kneighbors(b)[1][:, 1:]
    return float(np.mean([len(set(x) & set(y)) / k for x, y in zip(ia, ib, strict=True)]))


@pytest.fixture(scope="module")
def clusters() -> tuple[np.ndarray, np.ndarray]:
    """500 points in five separated Gaussian clusters (10-D) and their 5-NN graph."""
    rng = np.random.default_rng(0)
    points = np.concatenate([rng.normal(4 * c, 1, size=(100, 10)) for c in range(5)])
    return points, knn_edges(points, 5)


def test_exact_repulsion_reproduces_fa2_step_for_step() -> None:
    # A ring with random chords; fa2's loop transcribed literally in _fa2_reference.
    rng = np.random.default_rng(3)
    n = 40
    edges = [(i, (i + 1) % n) for i in range(n)] + [tuple(e) for e in rng.integers(0, n, (30, 2))]
    start = np.random.default_rng(7).random((n, 2))  # forceatlas2's start for seed 7
    expected = reference_forceatlas2(start, edges, n_iter=50, barnes_hut=False)
    got = forceatlas2(np.array(edges), n, n_iter=50, seed=7, barnes_hut_theta=0)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)


def test_barnes_hut_layout_close_to_fa2_barnes_hut() -> None:
    # Same start, same forces and speed control; only the tree's split differs
    # (bounding-box centre vs centre of mass), so the layouts agree closely but
    # not exactly. Measured: Procrustes disparity 0.02, 5-NN preservation 0.87;
    # two seeds of the same layout give disparity ~0.4.
    rng = np.random.default_rng(1)
    points = np.concatenate([rng.normal(4 * c, 1, size=(20, 5)) for c in range(3)])
    edges = knn_edges(points, 4)
    start = np.random.default_rng(5).random((60, 2))
    expected = reference_forceatlas2(start, [tuple(e) for e in edges.tolist()], n_iter=200)
    got = forceatlas2(edges, 60, n_iter=200, seed=5)
    assert procrustes(expected, got)[2] < 0.1
    assert neighbour_preservation(expected, got, k=5) > 0.7


def test_barnes_hut_kernel_with_tiny_theta_is_twice_the_exact_repulsion() -> None:
    # With theta -> 0 every region is opened down to single nodes, and fa2's
    # leaf rule repels each pair from both sides: exactly twice the exact force.
    rng = np.random.default_rng(2)
    n = 300
    x, y = rng.random(n), rng.random(n)
    mass = rng.integers(1, 6, n).astype(float)
    ex, ey = np.zeros(n), np.zeros(n)
    kernels.exact_repulsion(x, y, mass, 1.0, ex, ey)
    perm = np.arange(n)
    rec, meta = np.empty((4 * n, 4)), np.empty((4 * n, 2), dtype=np.int64)
    n_regions = kernels.build_quadtree(
        x, y, mass, perm, np.empty((6, n)), np.empty((2, n), dtype=np.int64), rec, meta,
        np.empty((n, 3), dtype=np.int64), 0,
    )
    assert sorted(perm.tolist()) == list(range(n))
    assert n_regions <= 2 * n - 1
    fx, fy = np.zeros(n), np.zeros(n)
    buf = np.empty((kernels.N_CHUNKS, n, 2))
    kernels.barnes_hut_repulsion(perm, n_regions, rec, meta, 1e-9, 1.0, fx, fy, buf)
    np.testing.assert_allclose(fx, 2 * ex, rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(fy, 2 * ey, rtol=1e-9, atol=1e-6)
    # Root region: total mass and centre of mass of all nodes.
    assert rec[0, 3] == pytest.approx(mass.sum())
    assert rec[0, 0] == pytest.approx(np.sum(x * mass) / mass.sum())


def _quadtree(x: np.ndarray, y: np.ndarray, mass: np.ndarray, defer_at: int):  # noqa: ANN202
    n = x.shape[0]
    perm = np.arange(n)
    rec, meta = np.zeros((4 * n, 4)), np.zeros((4 * n, 2), dtype=np.int64)
    count = kernels.build_quadtree(
        x, y, mass, perm, np.empty((6, n)), np.empty((2, n), dtype=np.int64), rec, meta,
        np.empty((n, 3), dtype=np.int64), defer_at,
    )
    return count, perm, rec[:count], meta[:count]


@pytest.mark.parametrize("defer_at", [2, 37, 1000])
def test_parallel_quadtree_build_equals_the_one_thread_build(defer_at: int) -> None:
    # Clusters, far outliers and coincident nodes: the parallel build (top first, the
    # subtrees of at most defer_at nodes on the threads) must give the same arrays.
    rng = np.random.default_rng(4)
    n = 20_000
    x = np.concatenate([rng.normal(0, 1, n - 600), rng.normal(50, 0.01, 500), np.full(100, 3.0)])
    y = np.concatenate([rng.normal(0, 2, n - 600), rng.normal(-9, 0.01, 500), np.full(100, 3.0)])
    x[:5] *= 1e4
    mass = rng.integers(1, 9, n).astype(float)
    count, perm, rec, meta = _quadtree(x, y, mass, 0)
    got = _quadtree(x, y, mass, defer_at)
    assert got[0] == count
    np.testing.assert_array_equal(got[1], perm)
    np.testing.assert_array_equal(got[2], rec)
    np.testing.assert_array_equal(got[3], meta)
    # skips: every subtree ends where the next one starts; leaves hold every node once
    assert meta[0, 0] == count
    leaves = meta[:, 1] >= 0
    assert np.array_equal(np.sort(perm[meta[leaves, 1]]), np.arange(n))
    assert np.all(meta[leaves, 0] == np.flatnonzero(leaves) + 1)


def test_attraction_by_node_equals_attraction_by_edge() -> None:
    rng = np.random.default_rng(6)
    n = 2_000
    x, y = rng.normal(size=n), rng.normal(size=n)
    mass = rng.integers(1, 9, n).astype(float)
    pairs = np.unique(np.sort(rng.integers(0, n, (8_000, 2)), axis=1), axis=0)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    src, dst = pairs[:, 0], pairs[:, 1]
    weight = rng.random(src.size)
    ex, ey = np.zeros(n), np.zeros(n)
    kernels.gravity_and_attraction(x, y, mass, 0.05, src, dst, weight, ex, ey)
    both = sp.csr_matrix(
        (np.concatenate([weight, weight]), (np.concatenate([src, dst]), np.concatenate([dst, src]))),
        shape=(n, n),
    )
    fx, fy = np.zeros(n), np.zeros(n)
    kernels.gravity_and_attraction_by_node(
        x, y, mass, 0.05, both.indptr.astype(np.int64), both.indices.astype(np.int64), both.data,
        fx, fy,
    )
    np.testing.assert_allclose(fx, ex, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fy, ey, rtol=1e-12, atol=1e-12)


def test_large_layouts_use_the_parallel_kernels_and_are_reproducible(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The parallel paths (quadtree build in subtrees, attraction by node) from
    # PARALLEL_MIN_NODES nodes, lowered here: same seed, same layout; a sane layout.
    from bioblocks.analysis import layout

    monkeypatch.setattr(layout, "PARALLEL_MIN_NODES", 100)
    rng = np.random.default_rng(1)
    points = np.concatenate([rng.normal(6 * c, 1, size=(300, 5)) for c in range(3)])
    edges = knn_edges(points, 5)
    a = forceatlas2(edges, 900, n_iter=150, seed=2)
    b = forceatlas2(edges, 900, n_iter=150, seed=2)
    np.testing.assert_array_equal(a, b)
    assert neighbour_preservation(points, a) > 0.25


def test_barnes_hut_and_exact_layouts_are_equally_good(
    clusters: tuple[np.ndarray, np.ndarray],
) -> None:
    # Quality measured as the fraction of each point's 10 nearest neighbours in
    # the data kept in the layout. Measured on these data: Barnes-Hut 0.333,
    # exact 0.332, a random layout 0.02. Allow 0.05 between the two.
    points, edges = clusters
    bh = forceatlas2(edges, 500, n_iter=300, seed=0)
    exact = forceatlas2(edges, 500, n_iter=300, seed=0, barnes_hut_theta=0)
    q_bh = neighbour_preservation(points, bh)
    q_exact = neighbour_preservation(points, exact)
    assert q_bh > 0.25 and q_exact > 0.25
    assert abs(q_bh - q_exact) < 0.05


def test_connected_nodes_are_closer_than_unconnected(
    clusters: tuple[np.ndarray, np.ndarray],
) -> None:
    _, edges = clusters
    pos = forceatlas2(edges, 500, n_iter=200, seed=1)
    d = cdist(pos, pos)
    connected = np.zeros((500, 500), dtype=bool)
    connected[edges[:, 0], edges[:, 1]] = connected[edges[:, 1], edges[:, 0]] = True
    off_diagonal = ~np.eye(500, dtype=bool)
    assert d[connected].mean() * 5 < d[~connected & off_diagonal].mean()


def test_two_disconnected_cliques_separate() -> None:
    clique = [(i, j) for i in range(10) for j in range(i + 1, 10)]
    edges = np.array(clique + [(i + 10, j + 10) for i, j in clique])
    pos = forceatlas2(edges, 20, n_iter=300, seed=0)
    d = cdist(pos, pos)
    within = max(d[:10, :10].max(), d[10:, 10:].max())
    between = d[:10, 10:].min()
    assert between > 3 * within  # measured: 146 vs 18


def test_path_graph_stays_ordered() -> None:
    n = 30
    pos = forceatlas2(np.array([(i, i + 1) for i in range(n - 1)]), n, n_iter=500, seed=0)
    hops = np.abs(np.subtract.outer(np.arange(n), np.arange(n)))
    upper = np.triu_indices(n, 1)
    rho = spearmanr(hops[upper], cdist(pos, pos)[upper]).statistic
    assert rho > 0.9  # measured 0.955
    steps = np.linalg.norm(np.diff(pos, axis=0), axis=1)
    assert steps.max() < 0.5 * np.linalg.norm(pos[0] - pos[-1])


def test_same_seed_same_positions_other_seed_differs(
    clusters: tuple[np.ndarray, np.ndarray],
) -> None:
    _, edges = clusters
    a = forceatlas2(edges, 500, n_iter=50, seed=4)
    b = forceatlas2(edges, 500, n_iter=50, seed=4)
    c = forceatlas2(edges, 500, n_iter=50, seed=5)
    assert a.shape == (500, 2) and a.dtype == np.float64
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_duplicate_reversed_and_self_edges_are_ignored() -> None:
    edges = np.array([(0, 1), (1, 2), (2, 3), (3, 0)])
    messy = np.array([(0, 1), (1, 0), (1, 2), (2, 3), (3, 0), (2, 2), (0, 1)])
    np.testing.assert_array_equal(
        forceatlas2(edges, 5, n_iter=40, seed=2), forceatlas2(messy, 5, n_iter=40, seed=2)
    )


def test_zero_iterations_return_the_seeded_random_start() -> None:
    pos = forceatlas2(np.array([(0, 1)]), 3, n_iter=0, seed=9)
    np.testing.assert_array_equal(pos, np.random.default_rng(9).random((3, 2)))


def test_single_node_goes_to_the_origin() -> None:
    np.testing.assert_array_equal(
        forceatlas2(np.empty((0, 2), dtype=int), 1, n_iter=10), [[0.0, 0.0]]
    )


def test_progress_is_reported_and_cancellation_stops() -> None:
    seen: list[float] = []
    forceatlas2(np.array([(0, 1), (1, 2)]), 3, n_iter=100, progress=lambda f, m: seen.append(f))
    assert seen[0] == 0.0 and seen[-1] == 1.0
    assert 10 <= len(seen) <= 60 and seen == sorted(seen)

    def cancel(fraction: float, message: str) -> None:
        if fraction > 0.2:
            raise Cancelled("stop")

    with pytest.raises(Cancelled):
        forceatlas2(np.array([(0, 1), (1, 2)]), 3, n_iter=100, progress=cancel)


@pytest.mark.parametrize(
    ("edges", "n_nodes", "options", "field"),
    [
        (np.array([(0, 5)]), 5, {}, "edges"),
        (np.array([(-1, 2)]), 5, {}, "edges"),
        (np.array([0, 1, 2]), 5, {}, "edges"),
        (np.array([(0.5, 1.0)]), 5, {}, "edges"),
        (np.array([(0, 1)]), 0, {}, "n_nodes"),
        (np.array([(0, 1)]), -3, {}, "n_nodes"),
        (np.array([(0, 1)]), 2, {"n_iter": -1}, "n_iter"),
        (np.array([(0, 1)]), 2, {"scaling_ratio": 0.0}, "scaling_ratio"),
        (np.array([(0, 1)]), 2, {"gravity": -1.0}, "gravity"),
        (np.array([(0, 1)]), 2, {"barnes_hut_theta": float("nan")}, "barnes_hut_theta"),
        (np.array([(0, 1)]), 2, {"jitter_tolerance": 0.0}, "jitter_tolerance"),
        (np.array([(0, 1)]), 2, {"weights": np.array([1.0, 2.0])}, "weights"),
        (np.array([(0, 1)]), 2, {"weights": np.array([-1.0])}, "weights"),
        (np.array([(0, 1)]), MAX_EXACT_NODES + 1, {"barnes_hut_theta": 0.0}, "barnes_hut_theta"),
    ],
)
def test_bad_input_names_the_field(
    edges: np.ndarray, n_nodes: int, options: dict, field: str
) -> None:
    with pytest.raises(AnalysisInputError) as info:
        forceatlas2(edges, n_nodes, **{"n_iter": 5, **options})
    assert info.value.field == field


def test_edge_weights_pull_harder() -> None:
    # A triangle where one edge weighs 10: its two nodes end up closest.
    edges = np.array([(0, 1), (1, 2), (0, 2)])
    pos = forceatlas2(edges, 3, n_iter=200, weights=np.array([10.0, 1.0, 1.0]))
    d = cdist(pos, pos)
    assert d[0, 1] < d[1, 2] and d[0, 1] < d[0, 2]
    flat = forceatlas2(
        edges, 3, n_iter=200, weights=np.array([10.0, 1.0, 1.0]), edge_weight_influence=0.0
    )
    np.testing.assert_array_equal(flat, forceatlas2(edges, 3, n_iter=200))
