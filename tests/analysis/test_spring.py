from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from bioblocks.analysis import ExpressionStore, SpringParams, postprocess_layout, run_spring
from bioblocks.analysis._colors import gene_color_stats
from bioblocks.errors import AnalysisInputError

SUBPLOT_FILES = {
    "coordinates.txt", "edges.csv", "graph_data.json", "categorical_coloring_data.json",
    "color_data_gene_sets.csv", "color_stats.json", "pca.csv", "genes.txt", "cell_filter.npy",
    "cell_filter.txt", "louvain_clusters.npy", "intermediates.npz", "run_info.json",
    "mutability.txt",
}  # fmt: skip
MAIN_FILES = {
    "counts_norm.npz", "genes.txt", "total_counts.txt", "counts_norm_sparse_genes.hdf5",
    "counts_norm_sparse_cells.hdf5", "expression.json", "expression_data.npy",
    "expression_indices.npy", "expression_indptr.npy",
}  # fmt: skip
FAST = SpringParams(n_neighbors=4, n_force_iter=30, n_prin_comps=10)


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory, make_counts):
    rng = np.random.default_rng(0)
    counts, genes = make_counts()
    dense = counts.toarray()
    dense[7] = 0.0  # an empty cell: filtered out
    meta = pd.DataFrame(
        {"library": rng.choice(["L1", "L2"], size=dense.shape[0]), "qc": rng.random(dense.shape[0]),
         "barcode": [f"cell-{i}" for i in range(dense.shape[0])]}
    )  # fmt: skip
    out = tmp_path_factory.mktemp("spring")
    progress: list[tuple[float, str]] = []
    result = run_spring(
        sp.csr_matrix(dense), genes, out_dir=out, dataset_name="My data", params=FAST,
        cell_metadata=meta, progress=lambda f, m: progress.append((f, m)),
    )  # fmt: skip
    return result, out, sp.csr_matrix(dense), genes, meta, progress


def test_files_exist(small_run) -> None:
    result, out, *_ = small_run
    assert MAIN_FILES <= {p.name for p in out.iterdir()}
    assert {p.name for p in (out / "My data").iterdir()} == SUBPLOT_FILES


def test_files_parse_back_to_the_result(small_run) -> None:
    result, out, counts, genes, meta, _ = small_run
    sub = out / "My data"
    n = 179
    np.testing.assert_array_equal(result.cell_filter, np.delete(np.arange(180), 7))
    coords = np.loadtxt(sub / "coordinates.txt", delimiter=",")
    np.testing.assert_array_equal(coords[:, 0], np.arange(n))
    np.testing.assert_allclose(coords[:, 1:], result.coordinates, atol=5e-6)
    edges = np.loadtxt(sub / "edges.csv", delimiter=";", dtype=int)
    np.testing.assert_array_equal(edges, result.edges)
    assert np.all(edges[:, 0] < edges[:, 1])
    graph = json.loads((sub / "graph_data.json").read_text())
    assert len(graph["nodes"]) == n and len(graph["links"]) == len(edges)
    np.testing.assert_allclose(np.loadtxt(sub / "pca.csv", delimiter=","), result.epca, atol=5e-4)
    np.testing.assert_array_equal(np.load(sub / "cell_filter.npy"), result.cell_filter)
    np.testing.assert_array_equal(
        np.loadtxt(sub / "cell_filter.txt", dtype=int), result.cell_filter
    )
    np.testing.assert_array_equal(
        np.load(sub / "louvain_clusters.npy"), result.clusters["Louvain cluster"]
    )
    with np.load(sub / "intermediates.npz") as z:
        np.testing.assert_array_equal(z["Epca"], result.epca)
        np.testing.assert_array_equal(z["gene_filter"], result.gene_filter)
        np.testing.assert_array_equal(z["total_counts"], result.total_counts)
    assert (sub / "genes.txt").read_text().splitlines() == genes
    assert (out / "genes.txt").read_text().splitlines() == genes

    categorical = json.loads((sub / "categorical_coloring_data.json").read_text())
    assert set(categorical) == {"Default", "Leiden cluster", "Louvain cluster", "library"}
    assert categorical["library"]["label_list"] == meta["library"].iloc[result.cell_filter].tolist()
    for track in categorical.values():
        assert len(track["label_list"]) == n
        assert set(track["label_list"]) <= set(track["label_colors"])

    lines = (sub / "color_data_gene_sets.csv").read_text().split("\n")
    names = [line.split(",", 1)[0] for line in lines]
    assert names == ["Mito. frac.", "Total Counts", "Uniform", "qc"]
    total = np.array(lines[1].split(",")[1:], dtype=float)
    np.testing.assert_allclose(
        total, np.asarray(counts.sum(axis=1)).ravel()[result.cell_filter], atol=5e-4
    )

    stats = json.loads((sub / "color_stats.json").read_text())
    assert set(stats) == set(genes) | set(names)
    norm = sp.load_npz(out / "counts_norm.npz")
    expected = gene_color_stats(norm.tocsr()[result.cell_filter].tocsc())
    assert [stats[g] for g in genes] == expected.tolist()

    info = json.loads((sub / "run_info.json").read_text())
    assert info["Nodes"] == n and info["Filtered_Genes"] == len(result.gene_filter)
    assert info["Num_Neighbors"] == 4 and info["Num_PCs"] == 10 and info["Num_Force_Iter"] == 30
    assert info["Seed"] == 0 and info["Parameters"] == FAST.to_dict()
    # one label per cell: kept as metadata, no colour track, and recorded
    assert info["Columns_Without_Track"] == {"barcode": n}
    assert list(info) == sorted(info)


def test_main_matrix_and_expression_store(small_run) -> None:
    result, out, counts, genes, *_ = small_run
    norm = sp.load_npz(out / "counts_norm.npz")
    assert norm.format == "csc" and norm.shape == counts.shape
    totals = np.asarray(counts.sum(axis=1)).ravel()
    target = totals[result.cell_filter].mean()
    np.testing.assert_allclose(np.asarray(norm.sum(axis=1)).ravel()[result.cell_filter], target)
    assert norm[7].nnz == 0
    np.testing.assert_allclose(np.loadtxt(out / "total_counts.txt"), totals)
    store = ExpressionStore.open(out)
    np.testing.assert_allclose(store.values("G12"), norm[:, 12].toarray().ravel(), rtol=1e-6)


def test_progress_is_reported_stage_by_stage(small_run) -> None:
    result, *_, progress = small_run
    fractions = [f for f, _ in progress]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert {"pca", "knn", "layout", "clusters", "color_stats", "write"} <= set(result.timings)


def test_same_seed_same_coordinates(tmp_path: Path, make_counts) -> None:
    counts, genes = make_counts(n_per_cluster=30)
    a = run_spring(counts, genes, out_dir=tmp_path / "a", dataset_name="d", params=FAST)
    b = run_spring(counts, genes, out_dir=tmp_path / "b", dataset_name="d", params=FAST)
    np.testing.assert_array_equal(a.coordinates, b.coordinates)
    assert (tmp_path / "a/d/coordinates.txt").read_bytes() == (
        tmp_path / "b/d/coordinates.txt"
    ).read_bytes()
    c = run_spring(counts, genes, out_dir=tmp_path / "c", dataset_name="d",
                   params=SpringParams(**{**FAST.to_dict(), "seed": 1}))  # fmt: skip
    assert not np.array_equal(a.coordinates, c.coordinates)


def test_subsample(tmp_path: Path, make_counts) -> None:
    counts, genes = make_counts(n_per_cluster=30)
    params = SpringParams.from_dict({**FAST.to_dict(), "subsample": "50", "seed": "3"})
    result = run_spring(counts, genes, out_dir=tmp_path, dataset_name="d - 50", params=params)
    assert result.cell_filter.size == 50 and np.all(np.diff(result.cell_filter) > 0)
    assert sp.load_npz(tmp_path / "counts_norm.npz").shape == counts.shape


def test_postprocess_layout() -> None:
    raw = np.array([[0.0, 10.0], [50.0, -10.0]])
    np.testing.assert_allclose(postprocess_layout(raw), [[745.0, 252.0], [755.0, 248.0]])


@pytest.mark.parametrize(
    ("counts", "genes", "params", "field", "match"),
    [
        (sp.csr_matrix(np.ones((1, 5))), list("abcde"), FAST, "n_neighbors", "1 cell"),
        (sp.csr_matrix((10, 5)), list("abcde"), FAST, "cell_min_counts", "no cell"),
        (sp.csr_matrix(np.ones((10, 5))), list("abcde"), FAST, "gene_var_pctl", "no gene"),
        (sp.csr_matrix(np.ones((10, 2))), ["a", "a"], FAST, "gene_names", "more than once"),
        (sp.csr_matrix(np.ones((10, 2))), ["a", "b/c"], FAST, "gene_names", "rename"),
        (sp.csr_matrix(np.ones((10, 2))), ["a"], FAST, "gene_names", "2 columns"),
    ],
)
def test_bad_input_fails_before_writing(tmp_path, counts, genes, params, field, match) -> None:
    out = tmp_path / "out"
    with pytest.raises(AnalysisInputError, match=match) as info:
        run_spring(counts, genes, out_dir=out, dataset_name="d", params=params)
    assert info.value.field == field
    assert not out.exists()


def test_bad_dataset_name(tmp_path: Path, make_counts) -> None:
    counts, genes = make_counts(n_per_cluster=10)
    for name in ("", "..", "a/b", " x"):
        with pytest.raises(AnalysisInputError) as info:
            run_spring(counts, genes, out_dir=tmp_path / "o", dataset_name=name, params=FAST)
        assert info.value.field == "dataset_name"


def test_params_defaults_round_trip_and_validation() -> None:
    p = SpringParams()
    assert (p.cell_min_counts, p.gene_min_cells, p.gene_min_counts, p.gene_var_pctl) == (
        0,
        3,
        3,
        85,
    )
    assert (p.n_neighbors, p.n_prin_comps, p.n_force_iter, p.seed) == (5, 30, 500, 0)
    assert p.sparse_threshold == 100_000 and p.min_corr == 0.2 and p.subsample is None
    q = SpringParams(cell_cycle_genes=["Mki67", "Top2a"], subsample=1000)
    assert SpringParams.from_dict(json.loads(json.dumps(q.to_dict()))) == q
    assert SpringParams.from_dict({"cell_cycle_genes": "Mki67, Top2a", "subsample": "1000"}) == q
    for bad, field in (
        ({"gene_var_pctl": 101}, "gene_var_pctl"),
        ({"n_neighbors": 0}, "n_neighbors"),
        ({"n_neighbors": 2.5}, "n_neighbors"),
        ({"n_force_iter": True}, "n_force_iter"),
        ({"min_corr": "high"}, "min_corr"),
        ({"seed": -1}, "seed"),
        ({"subsample": 0}, "subsample"),
        ({"bogus": 1}, "bogus"),
    ):
        with pytest.raises(AnalysisInputError) as info:
            SpringParams.from_dict(bad)
        assert info.value.field == field


G2M = ("Ube2c", "Hmgb2", "Hmgn2", "Tuba1b", "Mki67", "Ccnb1", "Tubb", "Top2a", "Tubb4b")
def test_hpc_published_spring_plot(hpc_spring) -> None:
    result, folder = hpc_spring.result, hpc_spring.folder
    assert result.cell_filter.size == 4_790
    assert result.gene_filter.size == 1_298
    assert result.epca.shape == (4_790, 30) and result.coordinates.shape == (4_790, 2)
    np.testing.assert_allclose(
        result.coordinates.min(axis=0) + result.coordinates.max(axis=0), [1500, 500]
    )
    info = json.loads((folder / "HPC/run_info.json").read_text())
    assert (info["Nodes"], info["Filtered_Genes"]) == (4_790, 1_298)
    categorical = json.loads((folder / "HPC/categorical_coloring_data.json").read_text())
    assert set(categorical["library"]["label_colors"]) == {"P9A", "P11A", "P11B", "P12A"}


def test_hpc_cell_cycle_exclusion(hpc) -> None:
    from bioblocks.analysis import filter_genes, normalize_total, remove_correlated_genes

    norm, _ = normalize_total(hpc.counts)
    selected = filter_genes(norm, min_vscore_pctl=85, min_counts=3, min_cells=3)
    assert selected.size == 1_298
    kept, dropped = remove_correlated_genes(norm, hpc.genes, selected, G2M, min_corr=0.2)
    assert kept.size == 1_271 and dropped.size == 27


def _knn_preservation(space: np.ndarray, layout: np.ndarray, k: int = 15) -> float:
    """Mean over cells of the fraction of the k nearest neighbours in ``space`` (self
    excluded) that are among the k nearest in ``layout``; scikit-learn's exact search,
    independent of the pipeline's kNN code."""
    from sklearn.neighbors import NearestNeighbors

    def neighbours(points: np.ndarray) -> np.ndarray:
        return NearestNeighbors(n_neighbors=k + 1).fit(points).kneighbors(points)[1][:, 1:]

    a, b = neighbours(space), neighbours(layout)
    return float(np.mean([len(set(x) & set(y)) / k for x, y in zip(a, b, strict=True)]))


def test_hpc_layout_preserves_pc_neighbourhoods_as_the_published_plot(
    hpc, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # Issue 13 item 14: the published SPRING layout of these cells keeps 0.108 of each
    # cell's 15 nearest neighbours in the 30-PC space. Published parameters (k = 4, 200
    # iterations, the G2M exclusion, fa2's settings); seed 0 through the whole pipeline,
    # seeds 1-3 by re-running the layout on its graph (below 100,000 cells the PCA and
    # kNN graph are exact and do not depend on the seed). Measured: 0.1143, 0.1155, 0.1105,
    # 0.1151 (mean 0.1139); the random start keeps 0.003.
    from bioblocks.analysis.layout import forceatlas2

    params = SpringParams(gene_min_counts=3, gene_min_cells=3, gene_var_pctl=85,
                          n_prin_comps=30, n_neighbors=4, n_force_iter=200,
                          cell_cycle_genes=G2M)  # fmt: skip
    result = run_spring(hpc.counts, hpc.genes, out_dir=tmp_path_factory.mktemp("hpc-g2m"),
                        dataset_name="HPC", params=params)  # fmt: skip
    assert result.epca.shape == (4_790, 30) and result.gene_filter.size == 1_271
    scores = [_knn_preservation(result.epca, result.coordinates)]
    for seed in (1, 2, 3):
        raw = forceatlas2(result.edges, 4_790, n_iter=200, seed=seed, scaling_ratio=1.0,
                          gravity=0.05, barnes_hut_theta=2.0, edge_weight_influence=1.0,
                          jitter_tolerance=1.0)  # fmt: skip
        scores.append(_knn_preservation(result.epca, raw))
    assert min(scores) >= 0.108, scores
    assert np.mean(scores) >= 0.108, scores
    start = forceatlas2(result.edges, 4_790, n_iter=0, seed=0)
    assert _knn_preservation(result.epca, start) < 0.02  # the measure is not trivially met


def test_cancel_stops_the_background_writer(tmp_path: Path, make_counts) -> None:
    import threading

    from bioblocks.errors import Cancelled

    counts, genes = make_counts(n_per_cluster=30)

    def progress(fraction: float, message: str) -> None:
        if message.startswith("ForceAtlas2"):
            raise Cancelled("stop")

    with pytest.raises(Cancelled):
        run_spring(counts, genes, out_dir=tmp_path / "o", dataset_name="d", params=FAST,
                   progress=progress)  # fmt: skip
    assert not any(t.name.startswith("spring-writer") for t in threading.enumerate())
    assert not (tmp_path / "o" / "d").exists()


def test_cell_cycle_and_excluded_genes_are_removed_and_recorded(
    tmp_path: Path, make_counts
) -> None:
    counts, genes = make_counts(n_per_cluster=30)
    base = run_spring(counts, genes, out_dir=tmp_path / "a", dataset_name="d", params=FAST)
    signature = tuple(genes[i] for i in range(10, 16))  # markers of the first cluster
    other = int(next(i for i in base.gene_filter if i >= 70))  # a marker of the third
    params = SpringParams(
        **{**FAST.to_dict(), "cell_cycle_genes": signature, "exclude_genes": [genes[other]]}
    )
    result = run_spring(counts, genes, out_dir=tmp_path / "b", dataset_name="d", params=params)
    assert set(result.gene_filter) | set(result.excluded_genes) == set(base.gene_filter)
    assert set(range(10, 40)) & set(base.gene_filter) <= set(result.excluded_genes)
    assert other in result.excluded_genes
    info = json.loads((tmp_path / "b/d/run_info.json").read_text())
    assert info["Excluded_Genes"] == [genes[i] for i in result.excluded_genes]
    assert info["Filtered_Genes"] == result.gene_filter.size


def test_compact_path_consumes_the_matrix_and_agrees_with_float64(tmp_path: Path, make_counts):
    """From sparse_threshold rows on, values are float32 and normalised in place: the input
    matrix is taken over (left empty) and the analysis selects the same genes and cells."""
    counts, genes = make_counts(n_per_cluster=40)
    params = SpringParams(**{**FAST.to_dict(), "sparse_threshold": 50})
    wide = run_spring(counts.copy(), genes, out_dir=tmp_path / "a", dataset_name="d",
                      params=SpringParams(**{**params.to_dict(), "sparse_threshold": 10**6}))
    taken = sp.csr_matrix(counts, dtype=np.float32)
    compact = run_spring(taken, genes, out_dir=tmp_path / "b", dataset_name="d", params=params,
                         consume_counts=True)  # fmt: skip
    assert taken.shape == (0, counts.shape[1]) and taken.nnz == 0
    np.testing.assert_array_equal(compact.cell_filter, wide.cell_filter)
    np.testing.assert_array_equal(compact.gene_filter, wide.gene_filter)
    norm32 = sp.load_npz(tmp_path / "b" / "counts_norm.npz")
    norm64 = sp.load_npz(tmp_path / "a" / "counts_norm.npz")
    assert norm32.dtype == np.float32 and norm64.dtype == np.float64
    np.testing.assert_allclose(norm32.toarray(), norm64.toarray(), rtol=1e-6)
    stats32 = json.loads((tmp_path / "b/d/color_stats.json").read_text())
    stats64 = json.loads((tmp_path / "a/d/color_stats.json").read_text())
    assert stats32.keys() == stats64.keys()
    for name in stats64:
        np.testing.assert_allclose(stats32[name], stats64[name], rtol=1e-5, atol=1e-9)


def test_without_consume_the_input_is_untouched(tmp_path: Path, make_counts):
    counts, genes = make_counts(n_per_cluster=30)
    matrix = sp.csr_matrix(counts, dtype=np.float32)
    before = matrix.copy()
    params = SpringParams(**{**FAST.to_dict(), "sparse_threshold": 50})
    run_spring(matrix, genes, out_dir=tmp_path, dataset_name="d", params=params)
    assert (matrix != before).nnz == 0 and matrix.dtype == np.float32
